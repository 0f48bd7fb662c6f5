//! `linuxkit run qemu`: find what to boot from a path or prefix, pick the accelerator by
//! really probing KVM, and run QEMU with the console attached.

use std::path::{Path, PathBuf};

pub use lk_run::{
    Accel, Boot, Disk, Firmware, Machine, Networking, QemuConfig, RunError, RunOutcome,
    UnknownAccel, UnknownMachine,
};
pub use lk_util::Arch;

/// Settings from the command line.
#[derive(Clone, Debug, Default)]
pub struct RunSettings {
    /// Image path or prefix.
    pub path: String,
    /// `--accel` (else probed).
    pub accel: Option<Accel>,
    /// Where the probe's result is remembered for this host boot and QEMU binary
    /// (`~/.linuxkit/accel`); None probes every time.
    pub accel_record: Option<PathBuf>,
    /// `--mem` MiB.
    pub mem_mb: u32,
    /// `--cpus`.
    pub cpus: u32,
    /// `--disk` specs.
    pub disks: Vec<String>,
    /// `--iso`.
    pub iso: bool,
    /// `--uefi`.
    pub uefi: bool,
    /// `--squashfs` / `--erofs`: boot `<prefix>-kernel` with `<prefix>-squashfs.img` (or
    /// `-erofs.img`) as the root disk.
    pub root_image: Option<RootImage>,
    /// `--fw`.
    pub fw: Option<PathBuf>,
    /// `--state`.
    pub state: Option<PathBuf>,
    /// `--networking`.
    pub networking: Option<String>,
    /// `--publish`.
    pub publish: Vec<String>,
    /// `--qemu`.
    pub qemu: Option<PathBuf>,
    /// `--device`.
    pub devices: Vec<String>,
    /// `--gui`.
    pub gui: bool,
    /// `--qemu-ga`.
    pub guest_agent: bool,
    /// `--tpm`.
    pub tpm: bool,
    /// `--machine`: `q35` (default) or `microvm`.
    pub machine: lk_run::Machine,
    /// `--arch`: the guest's architecture (default: this host's, the only one booted yet).
    pub arch: Option<lk_util::Arch>,
    /// `--vsock`: a vsock device (implied by `vsock_ports`).
    pub vsock: bool,
    /// `--vsock-ports`: guest ports offered as `<state>/guest.<port hex>`.
    pub vsock_ports: Vec<u32>,
    /// `--detached`.
    pub detached: bool,
    /// `--data` / `--data-file` contents: written to `<state>/data.iso` and attached.
    pub data: Option<Vec<u8>>,
    /// The date of that ISO (`SOURCE_DATE_EPOCH`, else now).
    pub data_mtime: u64,
}

/// The root file system image formats `run` boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootImage {
    /// `kernel+squashfs`.
    Squashfs,
    /// `kernel+erofs`.
    Erofs,
}

/// Why `run` could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunSetupError {
    /// Nothing bootable at the path.
    #[error(
        "nothing to boot at {0}: expected <prefix>-kernel + <prefix>-initrd.img, an .iso, or a disk image"
    )]
    NotFound(String),
    /// A `--disk` value is malformed.
    #[error("--disk {spec}: {problem}")]
    Disk {
        /// The value.
        spec: String,
        /// What is wrong.
        problem: String,
    },
    /// `--machine` is not one of the guest's arch.
    #[error(
        "--machine {machine} does not run {guest} guests: amd64 boots on q35 or microvm, arm64 on virt"
    )]
    MachineArch {
        /// The guest's architecture.
        guest: lk_util::Arch,
        /// The machine asked for.
        machine: lk_run::Machine,
    },
    /// A `--networking` value is not one we know.
    #[error("--networking {0}: use user[,key=value...], none, tap,<if> or bridge,<br>")]
    Networking(String),
    /// `--arch` names an architecture run does not boot on this host.
    #[error(
        "--arch {guest}: run boots amd64 and arm64 guests (qemu-system-{}, not driven yet); this host is {host}",
        guest.kernel_name()
    )]
    Arch {
        /// The guest's architecture.
        guest: lk_util::Arch,
        /// This host's.
        host: lk_util::Arch,
    },
    /// `--publish` without user networking.
    #[error("--publish needs user networking")]
    PublishNeedsUser,
    /// The UEFI firmware file is missing.
    #[error("UEFI firmware {} not found", .0.display())]
    NoFirmware(PathBuf),
    /// The metadata ISO of `--data` could not be written.
    #[error("writing {}", path.display())]
    Data {
        /// The ISO.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Running failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// The options of `--networking user,OPT,...`: QEMU `-netdev user` settings such as
/// `net=169.254.0.0/16` or `guestfwd=tcp:169.254.169.254:80-tcp:127.0.0.1:8080` (how the
/// metadata tests serve a cloud's metadata address from the host). `id` is ours.
fn user_options(opts: &str) -> Result<Vec<String>, String> {
    opts.split(',')
        .map(|o| match o.split_once('=') {
            Some((k, v))
                if !k.is_empty()
                    && k != "id"
                    && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !v.is_empty() =>
            {
                Ok(o.to_owned())
            }
            _ => Err(format!("user,{opts} (option {o:?}: expected key=value)")),
        })
        .collect()
}

/// Parses `--disk [file=]path[,size=N[M|G]][,format=fmt]`.
pub fn parse_disk(spec: &str, state: &Path, n: usize) -> Result<Disk, RunSetupError> {
    let mut path = None;
    let mut size = None;
    let mut format = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("file", v)) => path = Some(PathBuf::from(v)),
            Some(("size", v)) => {
                let (num, mult) = match v.as_bytes().last() {
                    Some(b'G' | b'g') => (&v[..v.len() - 1], 1024),
                    Some(b'M' | b'm') => (&v[..v.len() - 1], 1),
                    _ => (v, 1),
                };
                size = Some(
                    num.parse::<u64>().map_err(|_| RunSetupError::Disk {
                        spec: spec.to_owned(),
                        problem: format!("bad size {v}"),
                    })? * mult,
                );
            }
            Some(("format", v)) => format = Some(v.to_owned()),
            Some((k, _)) => {
                return Err(RunSetupError::Disk {
                    spec: spec.to_owned(),
                    problem: format!("unknown key {k}"),
                });
            }
            None if path.is_none() && !part.is_empty() => path = Some(PathBuf::from(part)),
            None => {}
        }
    }
    let format = format.unwrap_or_else(|| "qcow2".into());
    let path = path.unwrap_or_else(|| state.join(format!("disk{n}.img")));
    Ok(Disk {
        path,
        size_mb: size,
        format,
    })
}

fn boot_target(s: &RunSettings) -> Result<Boot, RunSetupError> {
    let p = &s.path;
    if let Some(kind) = s.root_image {
        let suffix = match kind {
            RootImage::Squashfs => "-squashfs.img",
            RootImage::Erofs => "-erofs.img",
        };
        let kernel = PathBuf::from(format!("{p}-kernel"));
        let image = PathBuf::from(format!("{p}{suffix}"));
        if !kernel.exists() || !image.exists() {
            return Err(RunSetupError::NotFound(format!(
                "{p} (expected {} and {})",
                kernel.display(),
                image.display()
            )));
        }
        let initrd = PathBuf::from(format!("{p}-boot-initrd.img"));
        let cmdline = std::fs::read_to_string(format!("{p}-cmdline")).unwrap_or_default();
        // LinuxKit's rule: the image is the first disk, `root=/dev/sda` appended.
        let cmdline = format!("{} root=/dev/sda", cmdline.trim())
            .trim()
            .to_owned();
        return Ok(Boot::RootImage {
            kernel,
            initrd: initrd.exists().then_some(initrd),
            cmdline,
            image,
        });
    }
    let kernel = PathBuf::from(format!("{p}-kernel"));
    if !s.iso && kernel.exists() {
        let cmdline = std::fs::read_to_string(format!("{p}-cmdline")).unwrap_or_default();
        return Ok(Boot::Kernel {
            kernel,
            initrd: PathBuf::from(format!("{p}-initrd.img")),
            cmdline: cmdline.trim().to_owned(),
        });
    }
    let path = PathBuf::from(p);
    if s.iso || p.ends_with(".iso") {
        let iso = if path.exists() {
            path
        } else {
            PathBuf::from(format!("{p}.iso"))
        };
        return if iso.exists() {
            Ok(Boot::Iso(iso))
        } else {
            Err(RunSetupError::NotFound(p.clone()))
        };
    }
    if path.is_file() {
        return Ok(Boot::Disk(path));
    }
    Err(RunSetupError::NotFound(p.clone()))
}

/// Debian's split OVMF (code and a variable store template), then its combined image.
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const OVMF_COMBINED: &str = "/usr/share/ovmf/OVMF.fd";
/// Debian's EDK2 for arm64's virt machine (qemu-efi-aarch64), split the same way.
const AAVMF_CODE: &str = "/usr/share/AAVMF/AAVMF_CODE.fd";
const AAVMF_VARS: &str = "/usr/share/AAVMF/AAVMF_VARS.fd";

/// The QEMU program and machine for a `guest` on `host`: amd64 guests on q35 or microvm
/// with qemu-system-x86_64, arm64 guests on virt with qemu-system-aarch64 (`--machine`
/// left at its default means virt there).
fn guest_machine(
    guest: lk_util::Arch,
    host: lk_util::Arch,
    machine: lk_run::Machine,
) -> Result<(&'static str, lk_run::Machine), RunSetupError> {
    use lk_run::Machine;
    match (guest, machine) {
        (lk_util::Arch::Amd64, Machine::Q35 | Machine::Microvm) => {
            Ok(("qemu-system-x86_64", machine))
        }
        (lk_util::Arch::Arm64, Machine::Q35 | Machine::Virt) => {
            Ok(("qemu-system-aarch64", Machine::Virt))
        }
        (lk_util::Arch::Amd64 | lk_util::Arch::Arm64, _) => {
            Err(RunSetupError::MachineArch { guest, machine })
        }
        _ => Err(RunSetupError::Arch { guest, host }),
    }
}

/// The architecture of the kernel `boot` starts, when the file says: an arm64 `Image`
/// (`ARM\x64` at byte 56) or an x86 bzImage (`HdrS` at byte 0x202). Disk images and ISOs
/// say nothing here: `--arch` names theirs.
fn kernel_arch(boot: &Boot) -> Option<lk_util::Arch> {
    let kernel = match boot {
        Boot::Kernel { kernel, .. } | Boot::RootImage { kernel, .. } => kernel,
        Boot::Iso(_) | Boot::Disk(_) => return None,
    };
    let mut head = [0u8; 0x206];
    let mut f = std::fs::File::open(kernel).ok()?;
    std::io::Read::read_exact(&mut f, &mut head).ok()?;
    if &head[56..60] == b"ARM\x64" {
        Some(lk_util::Arch::Arm64)
    } else if &head[0x202..0x206] == b"HdrS" {
        Some(lk_util::Arch::Amd64)
    } else {
        None
    }
}

/// `--uefi`: `--fw` as given, else Debian's OVMF (amd64) or AAVMF (arm64) with the VM's own
/// copy of the variable store in its state directory (kept between runs, as a real
/// machine's NVRAM is).
fn firmware(
    fw: Option<&Path>,
    state: &Path,
    guest: lk_util::Arch,
) -> Result<Firmware, RunSetupError> {
    if let Some(fw) = fw {
        if !fw.exists() {
            return Err(RunSetupError::NoFirmware(fw.to_path_buf()));
        }
        return Ok(Firmware {
            code: fw.to_path_buf(),
            vars: None,
        });
    }
    let (code, template) = if guest == lk_util::Arch::Arm64 {
        (AAVMF_CODE, AAVMF_VARS)
    } else {
        (OVMF_CODE, OVMF_VARS)
    };
    if Path::new(code).exists() && Path::new(template).exists() {
        let vars = state.join("efivars.fd");
        if !vars.exists() {
            std::fs::create_dir_all(state)
                .and_then(|()| std::fs::copy(template, &vars).map(|_| ()))
                .map_err(|source| RunSetupError::Data {
                    path: vars.clone(),
                    source,
                })?;
        }
        return Ok(Firmware {
            code: code.into(),
            vars: Some(vars),
        });
    }
    if guest == lk_util::Arch::Amd64 && Path::new(OVMF_COMBINED).exists() {
        return Ok(Firmware {
            code: OVMF_COMBINED.into(),
            vars: None,
        });
    }
    Err(RunSetupError::NoFirmware(code.into()))
}

impl RunSetupError {
    /// What the user can do about it, if we know.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            RunSetupError::NoFirmware(_) => Some(
                "apt-get install ovmf (amd64 guests) or qemu-efi-aarch64 (arm64 guests), or give --fw",
            ),
            RunSetupError::PublishNeedsUser => Some("drop --networking or use --networking user"),
            _ => None,
        }
    }
}

/// Resolves the settings into a QEMU configuration (probing the accelerator if needed).
pub fn configure(s: &RunSettings) -> Result<QemuConfig, RunSetupError> {
    let host = lk_util::Arch::host().unwrap_or(lk_util::Arch::Amd64);
    let state = s
        .state
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}-state", s.path.trim_end_matches(".iso"))));
    let boot = boot_target(s)?;
    let guest = s.arch.or_else(|| kernel_arch(&boot)).unwrap_or(host);
    let (program, machine) = guest_machine(guest, host, s.machine)?;
    let qemu = s.qemu.clone().unwrap_or_else(|| PathBuf::from(program));
    let disks = s
        .disks
        .iter()
        .enumerate()
        .map(|(i, d)| parse_disk(d, &state, i))
        .collect::<Result<Vec<_>, _>>()?;
    let networking = match s.networking.as_deref().unwrap_or("user") {
        "user" | "default" => Networking::User {
            forwards: s.publish.clone(),
            options: Vec::new(),
        },
        "none" => Networking::None,
        n => match n.split_once(',') {
            Some(("user", opts)) => Networking::User {
                forwards: s.publish.clone(),
                options: user_options(opts).map_err(RunSetupError::Networking)?,
            },
            Some(("tap", i)) => Networking::Tap(i.to_owned()),
            Some(("bridge", b)) => Networking::Bridge(b.to_owned()),
            _ => {
                return Err(RunSetupError::Networking(n.to_owned()));
            }
        },
    };
    if !s.publish.is_empty() && !matches!(networking, Networking::User { .. }) {
        return Err(RunSetupError::PublishNeedsUser);
    }
    let uefi = if s.uefi {
        Some(firmware(s.fw.as_deref(), &state, guest)?)
    } else {
        None
    };
    let accel = match (&s.accel, &s.accel_record) {
        (Some(a), _) => *a,
        // No hardware acceleration runs another arch's code.
        (None, _) if guest != host => Accel::Tcg,
        (None, Some(record)) => lk_run::accel::detect_remembered(&qemu, record).0,
        (None, None) => lk_run::accel::detect(&qemu),
    };
    let mut cdroms = Vec::new();
    if let Some(data) = &s.data {
        let iso = state.join("data.iso");
        std::fs::create_dir_all(&state)
            .and_then(|()| crate::metadata::write_iso(&iso, data, s.data_mtime))
            .map_err(|source| RunSetupError::Data {
                path: iso.clone(),
                source,
            })?;
        cdroms.push(iso);
    }
    let mut boot = boot;
    if machine == lk_run::Machine::Microvm && accel == Accel::Tcg {
        let khz = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| lk_run::tsc::host_khz(&c));
        if let (Some(khz), Boot::Kernel { cmdline, .. } | Boot::RootImage { cmdline, .. }) =
            (khz, &mut boot)
        {
            *cmdline = lk_run::tsc::with_early_khz(cmdline, khz);
        }
    }
    Ok(QemuConfig {
        qemu,
        machine,
        cdroms,
        detached: s.detached,
        accel,
        mem_mb: s.mem_mb,
        cpus: s.cpus,
        boot,
        disks,
        uefi,
        networking,
        state,
        devices: s.devices.clone(),
        gui: s.gui,
        guest_agent: s.guest_agent,
        tpm: s.tpm,
        vsock: (s.vsock || !s.vsock_ports.is_empty()).then(|| lk_run::vsock::Vsock {
            ports: s.vsock_ports.clone(),
        }),
    })
}

/// Runs the configured VM with the console on `console`.
pub fn run(
    cfg: &QemuConfig,
    console: &mut dyn std::io::Write,
) -> Result<RunOutcome, RunSetupError> {
    Ok(lk_run::run(cfg, console)?)
}

#[cfg(test)]
mod tests {
    use super::user_options;

    #[test]
    fn user_network_options_pass_through_and_bad_ones_are_named() {
        assert_eq!(
            user_options("net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-tcp:127.0.0.1:9")
                .unwrap(),
            [
                "net=169.254.0.0/16",
                "guestfwd=tcp:169.254.169.254:80-tcp:127.0.0.1:9"
            ]
        );
        for bad in ["id=x", "net", "=1", "net=", "a b=1"] {
            let e = user_options(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
