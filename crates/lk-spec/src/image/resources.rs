//! Decoding `resources` (cgroup limits) and `runtime` (mkdir, interfaces, bindNS).

use crate::decode::{Ctx, Dropped, Fields, join};
use crate::yaml::Node;

use super::fields::{CAMEL_DROP, mounts};
use super::*;

fn opt_int(
    ctx: &mut Ctx<'_>,
    f: &Fields<'_>,
    path: &str,
    key: &str,
    min: i128,
    max: i128,
) -> Option<i128> {
    f.get(key)
        .and_then(|n| ctx.int(n, &join(path, key), min, max))
}

pub(super) fn resources(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Resources> {
    const I64: (i128, i128) = (i64::MIN as i128, i64::MAX as i128);
    const U64: (i128, i128) = (0, u64::MAX as i128);
    let before = ctx.diags.len();
    let f = ctx.fields(
        node,
        path,
        &["devices", "memory", "cpu", "pids", "blockio", "network"],
        &[Dropped {
            key: "hugepageLimits",
            why: CAMEL_DROP,
        }],
    )?;
    let mut r = Resources::default();
    if let Some(n) = f.get("devices") {
        let dp = join(path, "devices");
        if let Some(items) = ctx.list(n, &dp, "a list of device rules") {
            let mut rules = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let ip = format!("{dp}[{i}]");
                let Some(df) = ctx.fields(
                    item,
                    &ip,
                    &["allow", "type", "major", "minor", "access"],
                    &[],
                ) else {
                    continue;
                };
                let mut rule = DeviceCgroup::default();
                if let Some(n) = df.get("allow") {
                    rule.allow = ctx.boolean(n, &join(&ip, "allow")).unwrap_or_default();
                }
                for (key, slot) in [("type", &mut rule.kind), ("access", &mut rule.access)] {
                    if let Some(n) = df.get(key) {
                        *slot = ctx.string(n, &join(&ip, key)).unwrap_or_default();
                    }
                }
                rule.major = opt_int(ctx, &df, &ip, "major", I64.0, I64.1).map(|v| v as i64);
                rule.minor = opt_int(ctx, &df, &ip, "minor", I64.0, I64.1).map(|v| v as i64);
                rules.push(rule);
            }
            r.devices = Some(rules);
        }
    }
    if let Some(n) = f.get("memory") {
        let mp = join(path, "memory");
        let dropped = [
            Dropped {
                key: "kernelTCP",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "disableOOMKiller",
                why: CAMEL_DROP,
            },
        ];
        if let Some(mf) = ctx.fields(
            n,
            &mp,
            &["limit", "reservation", "swap", "kernel", "swappiness"],
            &dropped,
        ) {
            r.memory = Some(Memory {
                limit: opt_int(ctx, &mf, &mp, "limit", I64.0, I64.1).map(|v| v as i64),
                reservation: opt_int(ctx, &mf, &mp, "reservation", I64.0, I64.1).map(|v| v as i64),
                swap: opt_int(ctx, &mf, &mp, "swap", I64.0, I64.1).map(|v| v as i64),
                kernel: opt_int(ctx, &mf, &mp, "kernel", I64.0, I64.1).map(|v| v as i64),
                swappiness: opt_int(ctx, &mf, &mp, "swappiness", U64.0, U64.1).map(|v| v as u64),
            });
        }
    }
    if let Some(n) = f.get("cpu") {
        let cp = join(path, "cpu");
        let dropped = [
            Dropped {
                key: "realtimeRuntime",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "realtimePeriod",
                why: CAMEL_DROP,
            },
        ];
        if let Some(cf) = ctx.fields(
            n,
            &cp,
            &["shares", "quota", "period", "cpus", "mems"],
            &dropped,
        ) {
            let mut cpu = Cpu {
                shares: opt_int(ctx, &cf, &cp, "shares", U64.0, U64.1).map(|v| v as u64),
                quota: opt_int(ctx, &cf, &cp, "quota", I64.0, I64.1).map(|v| v as i64),
                period: opt_int(ctx, &cf, &cp, "period", U64.0, U64.1).map(|v| v as u64),
                ..Cpu::default()
            };
            for (key, slot) in [("cpus", &mut cpu.cpus), ("mems", &mut cpu.mems)] {
                if let Some(n) = cf.get(key) {
                    *slot = ctx.string(n, &join(&cp, key)).unwrap_or_default();
                }
            }
            r.cpu = Some(cpu);
        }
    }
    if let Some(n) = f.get("pids") {
        let pp = join(path, "pids");
        if let Some(pf) = ctx.fields(n, &pp, &["limit"], &[]) {
            r.pids = Some(Pids {
                limit: opt_int(ctx, &pf, &pp, "limit", I64.0, I64.1).unwrap_or(0) as i64,
            });
        }
    }
    if let Some(n) = f.get("blockio") {
        let bp = join(path, "blockio");
        let dropped = [
            Dropped {
                key: "leafWeight",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "weightDevice",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "throttleReadBpsDevice",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "throttleWriteBpsDevice",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "throttleReadIOPSDevice",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "throttleWriteIOPSDevice",
                why: CAMEL_DROP,
            },
        ];
        if let Some(bf) = ctx.fields(n, &bp, &["weight"], &dropped) {
            r.blockio = Some(BlockIo {
                weight: opt_int(ctx, &bf, &bp, "weight", 0, i128::from(u16::MAX)).map(|v| v as u16),
            });
        }
    }
    if let Some(n) = f.get("network") {
        let np = join(path, "network");
        let dropped = [Dropped {
            key: "classID",
            why: CAMEL_DROP,
        }];
        if let Some(nf) = ctx.fields(n, &np, &["priorities"], &dropped) {
            let mut net = Network::default();
            if let Some(pn) = nf.get("priorities") {
                let pp = join(&np, "priorities");
                if let Some(items) = ctx.list(pn, &pp, "a list of interface priorities") {
                    let mut v = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let ip = format!("{pp}[{i}]");
                        if let Some(pf) = ctx.fields(item, &ip, &["name", "priority"], &[]) {
                            let name = pf
                                .get("name")
                                .and_then(|n| ctx.string(n, &join(&ip, "name")))
                                .unwrap_or_default();
                            let priority =
                                opt_int(ctx, &pf, &ip, "priority", 0, i128::from(u32::MAX))
                                    .unwrap_or(0) as u32;
                            v.push(InterfacePriority { name, priority });
                        }
                    }
                    net.priorities = Some(v);
                }
            }
            r.network = Some(net);
        }
    }
    (ctx.diags.len() == before).then_some(r)
}

pub(super) fn runtime(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Runtime> {
    let before = ctx.diags.len();
    let f = ctx.fields(
        node,
        path,
        &[
            "cgroups",
            "mounts",
            "mkdir",
            "interfaces",
            "bindNS",
            "namespace",
        ],
        &[],
    )?;
    let mut r = Runtime::default();
    if let Some(n) = f.get("cgroups") {
        r.cgroups = ctx.strings(n, &join(path, "cgroups"));
    }
    if let Some(n) = f.get("mounts") {
        r.mounts = mounts(ctx, n, &join(path, "mounts"), false);
    }
    if let Some(n) = f.get("mkdir") {
        r.mkdir = ctx.strings(n, &join(path, "mkdir"));
    }
    if let Some(n) = f.get("interfaces") {
        let ip = join(path, "interfaces");
        if let Some(items) = ctx.list(n, &ip, "a list of interfaces") {
            let mut v = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let ep = format!("{ip}[{i}]");
                let Some(inf) =
                    ctx.fields(item, &ep, &["name", "add", "peer", "createInRoot"], &[])
                else {
                    continue;
                };
                let mut iface = Interface::default();
                for (key, slot) in [
                    ("name", &mut iface.name),
                    ("add", &mut iface.add),
                    ("peer", &mut iface.peer),
                ] {
                    if let Some(n) = inf.get(key) {
                        *slot = ctx.string(n, &join(&ep, key)).unwrap_or_default();
                    }
                }
                if let Some(n) = inf.get("createInRoot") {
                    iface.create_in_root = ctx
                        .boolean(n, &join(&ep, "createInRoot"))
                        .unwrap_or_default();
                }
                if iface.name.is_empty() {
                    ctx.error_hint(
                        &item.pos,
                        format!("`{ep}` has no `name`"),
                        "name the interface to move or create",
                    );
                }
                v.push(iface);
            }
            r.interfaces = Some(v);
        }
    }
    if let Some(n) = f.get("bindNS") {
        let bp = join(path, "bindNS");
        if let Some(bf) = ctx.fields(
            n,
            &bp,
            &["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"],
            &[],
        ) {
            let b = &mut r.bind_ns;
            for (key, slot) in [
                ("cgroup", &mut b.cgroup),
                ("ipc", &mut b.ipc),
                ("mnt", &mut b.mnt),
                ("net", &mut b.net),
                ("pid", &mut b.pid),
                ("user", &mut b.user),
                ("uts", &mut b.uts),
            ] {
                if let Some(n) = bf.get(key) {
                    *slot = ctx.string(n, &join(&bp, key));
                }
            }
        }
    }
    if let Some(n) = f.get("namespace") {
        r.namespace = ctx.string(n, &join(path, "namespace"));
    }
    (ctx.diags.len() == before).then_some(r)
}
