//! Parsing plus validation of a 200-line configuration (target: under 5 ms).

use criterion::{Criterion, criterion_group, criterion_main};
use lk_spec::{Source, parse_and_merge};

fn config_200_lines() -> String {
    let mut s = String::from(
        "kernel:\n  image: linuxkit/kernel:6.6.13\n  cmdline: \"console=tty0 console=ttyS0\"\ninit:\n  - linuxkit/init:8f1e9a\n  - linuxkit/runc:2b6d8e\n  - linuxkit/containerd:0a1b2c\nonboot:\n",
    );
    for i in 0..10 {
        s.push_str(&format!(
            "  - name: onboot{i}\n    image: linuxkit/sysctl:{i}abc\n    capabilities:\n      - CAP_SYS_ADMIN\n      - CAP_NET_ADMIN\n    binds:\n      - /etc:/etc\n    net: host\n    command: [\"/bin/sh\", \"-c\", \"echo {i}\"]\n"
        ));
    }
    s.push_str("services:\n");
    for i in 0..8 {
        s.push_str(&format!(
            "  - name: svc{i}\n    image: linuxkit/svc:{i}def\n    capabilities: [all]\n    binds.add: [\"/var/lib:/var/lib\"]\n    env:\n      - A=1\n      - B=2\n    rlimits: [\"nofile,1024,4096\"]\n    runtime:\n      mkdir: [/var/lib/svc{i}]\n"
        ));
    }
    s.push_str("files:\n");
    for i in 0..8 {
        s.push_str(&format!(
            "  - path: etc/file{i}\n    contents: \"hello {i}\"\n    mode: \"0644\"\n"
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = config_200_lines();
    assert!(
        text.lines().count() >= 200,
        "{} lines",
        text.lines().count()
    );
    let source = Source::named("bench.yml");
    c.bench_function("parse+validate 200-line yaml", |b| {
        b.iter(|| parse_and_merge([(&source, text.as_str())], None).expect("valid"));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
