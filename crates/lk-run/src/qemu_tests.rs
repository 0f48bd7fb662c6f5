//! Tests of the QEMU command line.

use super::*;

fn cfg() -> QemuConfig {
    QemuConfig {
        qemu: "qemu-system-x86_64".into(),
        machine: Machine::Q35,
        accel: crate::accel::Accel::Tcg,
        mem_mb: 1024,
        cpus: 1,
        boot: Boot::Kernel {
            kernel: "/k".into(),
            initrd: "/i".into(),
            cmdline: "console=ttyS0".into(),
        },
        disks: vec![Disk {
            path: "/d.qcow2".into(),
            size_mb: Some(1024),
            format: "qcow2".into(),
        }],
        uefi: None,
        networking: Networking::User {
            forwards: vec!["8080:80".into(), "5353:53/udp".into()],
            options: vec![],
        },
        state: std::env::temp_dir().join(format!("lk-qemu-test-{}", std::process::id())),
        devices: vec![],
        cdroms: vec![],
        gui: false,
        guest_agent: false,
        tpm: false,
        vsock: None,
        detached: false,
    }
}

#[test]
fn detached_daemonizes_with_the_console_in_the_state_dir() {
    let mut c = cfg();
    c.detached = true;
    std::fs::create_dir_all(&c.state).unwrap();
    let a = c.args().unwrap().join(" ");
    let log = c.state.join("console.log");
    assert!(
        a.ends_with(&format!(
            "-display none -serial file:{} -daemonize",
            log.display()
        )),
        "{a}"
    );
    assert!(!a.contains("-nographic"), "{a}");
    let _ = std::fs::remove_dir_all(&c.state);
}

#[test]
fn cdroms_go_on_virtio_scsi() {
    let mut c = cfg();
    c.cdroms = vec!["/s/data.iso".into()];
    std::fs::create_dir_all(&c.state).unwrap();
    let a = c.args().unwrap().join(" ");
    assert!(
        a.contains("-device virtio-scsi-pci,id=lkscsi -drive if=none,id=lkcd0,file=/s/data.iso,format=raw,media=cdrom,readonly=on -device scsi-cd,bus=lkscsi.0,drive=lkcd0"),
        "{a}"
    );
    let _ = std::fs::remove_dir_all(&c.state);
}

#[test]
fn kernel_boot_argv() {
    let c = cfg();
    std::fs::create_dir_all(&c.state).unwrap();
    let a = c.args().unwrap().join(" ");
    assert!(
        a.starts_with("-machine q35,accel=tcg -smp 1 -m 1024 -pidfile "),
        "{a}"
    );
    assert!(
        a.contains("-kernel /k -initrd /i -append console=ttyS0"),
        "{a}"
    );
    assert!(
        a.contains("-drive file=/d.qcow2,format=qcow2,index=0,media=disk"),
        "{a}"
    );
    assert!(
        a.contains("-netdev user,id=t0,hostfwd=tcp::8080-:80,hostfwd=udp::5353-:53"),
        "{a}"
    );
    assert!(
        a.contains("-device virtio-net-pci,netdev=t0,mac=02:"),
        "{a}"
    );
    assert!(a.ends_with("-nographic"), "{a}");
    let _ = std::fs::remove_dir_all(&c.state);
}

#[test]
fn bad_publish_is_an_error() {
    let mut c = cfg();
    c.networking = Networking::User {
        forwards: vec!["80".into()],
        options: vec![],
    };
    assert!(matches!(c.args(), Err(RunError::Publish(_))));
}

#[test]
fn iso_boot_skips_the_cdrom_index() {
    let mut c = cfg();
    c.boot = Boot::Iso("/x.iso".into());
    c.networking = Networking::None;
    c.disks = (0..3)
        .map(|i| Disk {
            path: format!("/d{i}").into(),
            size_mb: None,
            format: "raw".into(),
        })
        .collect();
    let a = c.args().unwrap().join(" ");
    assert!(
        a.contains("index=0")
            && a.contains("index=1")
            && a.contains("index=3")
            && !a.contains("index=2"),
        "{a}"
    );
}

#[test]
fn the_guest_agent_gets_its_named_port_and_a_socket_in_the_state_dir() {
    let mut c = cfg();
    let a = c.args().unwrap().join(" ");
    assert!(!a.contains("guest_agent"), "{a}");
    c.guest_agent = true;
    let a = c.args().unwrap().join(" ");
    assert!(a.contains("qga.sock,server=on,wait=off"), "{a}");
    assert!(a.contains("name=org.qemu.guest_agent.0"), "{a}");
}

#[test]
fn microvm_puts_every_device_on_virtio_mmio_and_disks_on_scsi() {
    let mut c = cfg();
    c.machine = Machine::Microvm;
    c.cdroms = vec!["/s/data.iso".into()];
    c.guest_agent = true;
    let a = c.args().unwrap().join(" ");
    assert!(
        a.starts_with("-machine microvm,accel=tcg,isa-serial=on,rtc=on "),
        "{a}"
    );
    assert!(!a.contains("-pci"), "no PCI devices on microvm: {a}");
    for want in [
        "-device virtio-rng-device",
        "virtio-net-device,netdev=t0",
        "-device virtio-scsi-device,id=lkscsi",
        "-drive if=none,id=lkd0,file=/d.qcow2,format=qcow2 -device scsi-hd,bus=lkscsi.0,drive=lkd0,scsi-id=0,lun=0",
        "-drive if=none,id=lkd1,file=/s/data.iso,format=raw,media=cdrom,readonly=on -device scsi-cd,bus=lkscsi.0,drive=lkd1,scsi-id=1,lun=0",
        "virtio-serial-device,id=lkserial",
    ] {
        assert!(a.contains(want), "missing {want:?} in {a}");
    }
    assert!(!a.contains("index="), "{a}");
}

#[test]
fn microvm_refuses_what_it_cannot_boot() {
    let mut c = cfg();
    c.machine = Machine::Microvm;
    c.boot = Boot::Iso("/x.iso".into());
    assert!(c.args().unwrap_err().to_string().contains("kernel only"));
    let mut c = cfg();
    c.machine = Machine::Microvm;
    c.tpm = true;
    assert!(c.args().unwrap_err().to_string().contains("TPM"));
}
