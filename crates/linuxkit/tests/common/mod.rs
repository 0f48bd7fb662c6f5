//! The fixture of the build tests: a loopback registry with a kernel, an init, a service
//! and a tool image, and the configuration that uses them.
#![allow(dead_code)] // each test binary uses part of it

use std::path::Path;
use std::process::{Command, Output};

use lk_registry::{Client, ClientOptions, Repository};
use lk_testutil::TempDir;
use lk_testutil::image::{TestImage, layer};
use lk_testutil::registry::Registry;

pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, d) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, p, *d).unwrap();
    }
    b.into_inner().unwrap()
}

pub struct Fixture {
    pub reg: Registry,
    pub work: TempDir,
}

pub fn fixture() -> Fixture {
    let reg = Registry::start();
    let c = Client::new(ClientOptions::default());
    let push = |path: &str, img: TestImage| {
        let repo = Repository {
            registry: reg.host.clone(),
            path: path.into(),
        };
        img.push(&c, &repo, Some("v1"));
    };
    let modules = tar_of(&[
        ("lib/modules/6.1.0/modules.dep", b"dep\n"),
        ("lib/modules/6.1.0/kernel/virtio.ko", b"ko"),
    ]);
    push(
        "t/kernel",
        TestImage::new(
            "amd64",
            vec![layer(&[
                ("kernel", b"KERNEL-IMAGE"),
                ("kernel.tar", &modules),
                ("System.map", b"map"),
            ])],
            &[],
            &[],
        ),
    );
    push(
        "t/init",
        TestImage::new(
            "amd64",
            vec![layer(&[
                ("init", b"#!/bin/sh\n"),
                ("bin/busybox", b"bb"),
                ("etc/resolv.conf", b"nameserver 1.1.1.1\n"),
            ])],
            &[],
            &[],
        ),
    );
    let label = r#"{"capabilities":["CAP_NET_ADMIN"],"binds":["/run:/run"]}"#;
    push(
        "t/svc",
        TestImage::new(
            "amd64",
            vec![
                layer(&[("bin/svc", b"svc"), ("etc/hosts", b"10.0.0.1 x\n")]),
                layer(&[(".wh.bin", b"" as &[u8]), ("usr/bin/svc", b"svc2")]),
            ],
            &[("org.mobyproject.config", label)],
            &["/usr/bin/svc"],
        ),
    );
    push(
        "t/tool",
        TestImage::new(
            "amd64",
            vec![layer(&[("bin/tool", b"tool")])],
            &[],
            &["/bin/tool"],
        ),
    );
    Fixture {
        reg,
        work: TempDir::new("build"),
    }
}

pub fn yaml(f: &Fixture) -> String {
    let h = &f.reg.host;
    format!(
        "kernel:\n  image: {h}/t/kernel:v1\n  cmdline: console=ttyS0\ninit:\n  - {h}/t/init:v1\nonboot:\n  - name: first\n    image: {h}/t/tool:v1\n  - name: second\n    image: {h}/t/tool:v1\n    readonly: true\nservices:\n  - name: svc\n    image: {h}/t/svc:v1\n    binds.add: [\"data:/data\"]\n  - name: other\n    image: {h}/t/tool:v1\n    command: [/bin/tool, --serve]\nvolumes:\n  - name: data\nfiles:\n  - path: etc/motd\n    contents: hello\n    mode: \"0644\"\n  - path: etc/linuxkit.yml\n    metadata: yaml\n"
    )
}

pub fn linuxkit(dir: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(dir)
        .arg("build")
        .arg("--cache")
        .arg(cache)
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run linuxkit")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn tar_listing(path: &Path) -> Vec<(String, Option<(String, String)>)> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut src = None;
        if let Some(exts) = e.pax_extensions().unwrap() {
            let mut s = String::new();
            let mut l = String::new();
            for x in exts {
                let x = x.unwrap();
                match x.key().unwrap() {
                    "LINUXKIT.source" => s = x.value().unwrap().to_owned(),
                    "LINUXKIT.location" => l = x.value().unwrap().to_owned(),
                    _ => {}
                }
            }
            if !s.is_empty() {
                src = Some((s, l));
            }
        }
        out.push((name, src));
    }
    out
}
