//! The QEMU command line and the run: console on our stdio (tee'd to the state directory),
//! guest poweroff -> success, guest kernel panic -> failure, Ctrl-C stops QEMU.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What to boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boot {
    /// `-kernel -initrd -append`.
    Kernel {
        /// Kernel image.
        kernel: PathBuf,
        /// Initrd.
        initrd: PathBuf,
        /// Command line.
        cmdline: String,
    },
    /// An ISO on the CD-ROM drive.
    Iso(PathBuf),
    /// A disk image as the first disk.
    Disk(PathBuf),
    /// A root file system image (`kernel+squashfs`, `kernel+erofs`) as the first disk, booted
    /// by `-kernel` with `root=/dev/sda` and, when present, the image's boot initrd.
    RootImage {
        /// Kernel image.
        kernel: PathBuf,
        /// `<prefix>-boot-initrd.img` (for a modular kernel).
        initrd: Option<PathBuf>,
        /// Command line (`root=` included).
        cmdline: String,
        /// The squashfs or EROFS image.
        image: PathBuf,
    },
}

/// UEFI firmware: the code (read-only) and, for split images, a writable copy of the
/// variable store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firmware {
    /// `OVMF_CODE*.fd`, or a combined `OVMF.fd`.
    pub code: PathBuf,
    /// The VM's own `OVMF_VARS*.fd` copy (in its state directory).
    pub vars: Option<PathBuf>,
}

/// The QEMU block driver of a disk image, from its extension (raw unless known).
pub fn disk_format(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("qcow2") => "qcow2",
        Some("vhd") => "vpc",
        Some("vmdk") => "vmdk",
        _ => "raw",
    }
}

/// An extra disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// Image file (created with `size` if missing).
    pub path: PathBuf,
    /// Size in MiB for a new image.
    pub size_mb: Option<u64>,
    /// `qcow2`, `raw`, ...
    pub format: String,
}

/// Guest networking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Networking {
    /// QEMU user networking with `host:guest[/proto]` forwards and extra `-netdev user`
    /// options (`net=169.254.0.0/16`, `guestfwd=tcp:ADDR:PORT-tcp:HOST:PORT`, ...).
    User {
        /// `--publish` values.
        forwards: Vec<String>,
        /// `key=value` options appended to `-netdev user`.
        options: Vec<String>,
    },
    /// A tap interface.
    Tap(String),
    /// A bridge.
    Bridge(String),
    /// No network.
    None,
}

/// The machine type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Machine {
    /// PC with PCI, ACPI and firmware (`q35`): every boot kind.
    #[default]
    Q35,
    /// QEMU's `microvm`: virtio-mmio devices, no PCI and no firmware to run; kernel boots
    /// only, disks and CD-ROMs on virtio-scsi (still `/dev/sdX`).
    Microvm,
    /// ARM's `virt` (`qemu-system-aarch64 -M virt`, the arm64 guests' machine): PCIe with
    /// virtio-pci devices, EDK2 for the EFI formats, the PL011 console (`ttyAMA0`), disks
    /// on virtio-blk (`/dev/vdX`).
    Virt,
}

impl Machine {
    /// A virtio device's name on this machine (`virtio-net` -> `virtio-net-pci` or
    /// `virtio-net-device`).
    pub fn virtio(self, base: &str) -> String {
        match self {
            Machine::Q35 | Machine::Virt => format!("{base}-pci"),
            Machine::Microvm => format!("{base}-device"),
        }
    }

    /// Whether its devices sit on PCI (q35 and virt; not microvm).
    pub fn has_pci(self) -> bool {
        self != Machine::Microvm
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Machine::Q35 => "q35",
            Machine::Microvm => "microvm",
            Machine::Virt => "virt",
        })
    }
}

/// `--machine` was not q35, microvm or virt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown machine {0:?}: use q35 or microvm (amd64), virt (arm64)")]
pub struct UnknownMachine(pub String);

impl std::str::FromStr for Machine {
    type Err = UnknownMachine;

    /// `q35` (also `pc`) or `microvm`.
    fn from_str(s: &str) -> Result<Machine, UnknownMachine> {
        match s {
            "q35" | "pc" => Ok(Machine::Q35),
            "microvm" => Ok(Machine::Microvm),
            "virt" => Ok(Machine::Virt),
            other => Err(UnknownMachine(other.to_owned())),
        }
    }
}

/// Everything about one QEMU run.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// The QEMU binary.
    pub qemu: PathBuf,
    /// The machine type.
    pub machine: Machine,
    /// The accelerator.
    pub accel: crate::accel::Accel,
    /// Memory in MiB.
    pub mem_mb: u32,
    /// vCPUs.
    pub cpus: u32,
    /// What to boot.
    pub boot: Boot,
    /// Extra disks.
    pub disks: Vec<Disk>,
    /// UEFI firmware (pflash).
    pub uefi: Option<Firmware>,
    /// Networking.
    pub networking: Networking,
    /// State directory (pid file, console log, MAC address).
    pub state: PathBuf,
    /// Extra `-device` values.
    pub devices: Vec<String>,
    /// Read-only CD-ROM images (the metadata ISO), on a virtio-scsi controller so a guest
    /// kernel with only virtio drivers sees them as `/dev/sr*`.
    pub cdroms: Vec<PathBuf>,
    /// Show a window instead of the serial console.
    pub gui: bool,
    /// A virtio-serial port `org.qemu.guest_agent.0` for QEMU's guest agent, its host side
    /// the socket `<state>/qga.sock`.
    pub guest_agent: bool,
    /// A TPM 2.0 (swtpm, state in `<state>/tpm`).
    pub tpm: bool,
    /// A vsock device (vhost-device-vsock), its host side in the state directory.
    pub vsock: Option<crate::vsock::Vsock>,
    /// Run in the background (`-daemonize`), the console going to `<state>/console.log`.
    pub detached: bool,
}

/// How the guest ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Powered off (QEMU exited 0).
    Poweroff,
    /// The guest kernel panicked.
    Panic,
    /// QEMU exited with this status.
    Failed(i32),
    /// Stopped by a signal (Ctrl-C).
    Interrupted,
    /// Started in the background with this process id.
    Detached(u32),
}

/// Running QEMU failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file is missing.
    #[error("{what} {path} does not exist")]
    Missing {
        /// What it is.
        what: &'static str,
        /// Where.
        path: String,
    },
    /// An external program (qemu-img, QEMU daemonizing) failed.
    #[error(transparent)]
    Tool(#[from] lk_util::ToolError),
    /// A program could not be run.
    #[error("`{}` failed: {reason}", argv.join(" "))]
    Program {
        /// The command.
        argv: Vec<String>,
        /// Why.
        reason: String,
    },
    /// The state directory or console log could not be written.
    #[error("state directory {path}")]
    State {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `--publish` value is malformed.
    #[error("--publish {0}: expected host:guest[/tcp|udp]")]
    Publish(String),
    /// What was asked for does not exist on the machine type.
    #[error("--machine microvm: {0}")]
    Microvm(&'static str),
}

fn publish(p: &str) -> Result<String, RunError> {
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let (host, guest) = ports
        .split_once(':')
        .ok_or_else(|| RunError::Publish(p.to_owned()))?;
    if host.parse::<u16>().is_err()
        || guest.parse::<u16>().is_err()
        || !(proto == "tcp" || proto == "udp")
    {
        return Err(RunError::Publish(p.to_owned()));
    }
    Ok(format!("hostfwd={proto}::{host}-:{guest}"))
}

/// A stable locally administered MAC address, kept in the state directory.
fn mac(state: &Path) -> String {
    let file = state.join("mac-addr");
    if let Ok(m) = std::fs::read_to_string(&file)
        && m.trim().len() == 17
    {
        return m.trim().to_owned();
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        ^ u128::from(std::process::id());
    let b = seed.to_le_bytes();
    let m = format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    );
    let _ = std::fs::write(&file, &m);
    m
}

impl QemuConfig {
    /// The QEMU arguments (without the program).
    /// QEMU's QMP socket in the state directory (how a stopped `run` asks the guest to
    /// power down), unless the path is too long for a unix socket.
    pub fn qmp_socket(&self) -> Option<PathBuf> {
        let p = self.state.join("qmp.sock");
        (p.as_os_str().len() < 100).then_some(p)
    }

    /// microvm's disks and CD-ROMs: one virtio-scsi bus, so the guest names them as on q35
    /// (`/dev/sda` for a root image, then the `--disk`s; CD-ROMs `/dev/sr0`).
    fn microvm_disks(&self, a: &mut Vec<String>) {
        let mut drives: Vec<(String, &str, &str)> = Vec::new();
        if let Boot::RootImage { image, .. } = &self.boot {
            drives.push((image.display().to_string(), "raw", "scsi-hd"));
        }
        for d in &self.disks {
            drives.push((d.path.display().to_string(), d.format.as_str(), "scsi-hd"));
        }
        for cd in &self.cdroms {
            drives.push((cd.display().to_string(), "raw", "scsi-cd"));
        }
        if drives.is_empty() {
            return;
        }
        a.extend([
            "-device".to_owned(),
            "virtio-scsi-device,id=lkscsi".to_owned(),
        ]);
        for (i, (file, format, kind)) in drives.into_iter().enumerate() {
            let media = if kind == "scsi-cd" {
                ",media=cdrom,readonly=on"
            } else {
                ""
            };
            a.extend([
                "-drive".to_owned(),
                format!("if=none,id=lkd{i},file={file},format={format}{media}"),
                "-device".to_owned(),
                format!("{kind},bus=lkscsi.0,drive=lkd{i},scsi-id={i},lun=0"),
            ]);
        }
    }

    /// What microvm cannot do.
    fn check_machine(&self) -> Result<(), RunError> {
        if self.machine != Machine::Microvm {
            return Ok(());
        }
        if !matches!(self.boot, Boot::Kernel { .. } | Boot::RootImage { .. }) {
            return Err(RunError::Microvm(
                "boots a kernel only (no firmware for ISOs or disk images); use q35",
            ));
        }
        if self.uefi.is_some() {
            return Err(RunError::Microvm("has no UEFI firmware; use q35"));
        }
        if self.tpm {
            return Err(RunError::Microvm("has no TPM device; use q35"));
        }
        Ok(())
    }

    pub fn args(&self) -> Result<Vec<String>, RunError> {
        self.check_machine()?;
        let m = self.machine;
        let mut a: Vec<String> = Vec::new();
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| (*s).to_owned()));
        match m {
            Machine::Q35 => push(&["-machine", &format!("q35,accel={}", self.accel)]),
            // The serial port and RTC microvm leaves out by default: the console is ttyS0
            // and host-timesync-daemon reads /dev/rtc0.
            Machine::Microvm => push(&[
                "-machine",
                &format!("microvm,accel={},isa-serial=on,rtc=on", self.accel),
            ]),
            Machine::Virt => push(&["-machine", &format!("virt,accel={}", self.accel)]),
        }
        push(&[
            "-smp",
            &self.cpus.to_string(),
            "-m",
            &self.mem_mb.to_string(),
        ]);
        push(&[
            "-pidfile",
            &self.state.join("qemu.pid").display().to_string(),
        ]);
        push(&["-device", &m.virtio("virtio-rng"), "-no-reboot"]);
        if self.accel == crate::accel::Accel::Kvm {
            push(&["-cpu", "host"]);
        } else if m == Machine::Virt {
            // Every current arm64 feature; QEMU's own pointer-authentication algorithm
            // instead of the architected one, which costs much of TCG's speed.
            push(&["-cpu", "max,pauth-impdef=on"]);
        }
        if let Some(fw) = &self.uefi {
            push(&[
                "-drive",
                &format!(
                    "if=pflash,format=raw,unit=0,readonly=on,file={}",
                    fw.code.display()
                ),
            ]);
            if let Some(vars) = &fw.vars {
                push(&[
                    "-drive",
                    &format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
                ]);
            }
        }
        match &self.boot {
            Boot::Kernel {
                kernel,
                initrd,
                cmdline,
            } => {
                push(&[
                    "-kernel",
                    &kernel.display().to_string(),
                    "-initrd",
                    &initrd.display().to_string(),
                    "-append",
                    cmdline,
                ]);
            }
            Boot::RootImage {
                kernel,
                initrd,
                cmdline,
                image,
            } => {
                push(&["-kernel", &kernel.display().to_string()]);
                if let Some(i) = initrd {
                    push(&["-initrd", &i.display().to_string()]);
                }
                push(&["-append", cmdline]);
                if m.has_pci() {
                    push(&[
                        "-drive",
                        &format!("file={},format=raw,index=0,media=disk", image.display()),
                    ]);
                }
            }
            // virt has no IDE: the ISO is a SCSI CD the firmware boots first.
            Boot::Iso(iso) if m == Machine::Virt => push(&[
                "-drive",
                &format!(
                    "file={},if=none,id=bootcd,media=cdrom,readonly=on",
                    iso.display()
                ),
                "-device",
                "virtio-scsi-pci,id=lkbootscsi",
                "-device",
                "scsi-cd,bus=lkbootscsi.0,drive=bootcd,bootindex=0",
            ]),
            Boot::Iso(iso) => push(&["-cdrom", &iso.display().to_string(), "-boot", "d"]),
            Boot::Disk(d) => push(&[
                "-drive",
                &format!(
                    "file={},format={},index=0,media=disk",
                    d.display(),
                    disk_format(d)
                ),
            ]),
        }
        if m == Machine::Microvm {
            self.microvm_disks(&mut a);
        }
        let first_disk = usize::from(matches!(self.boot, Boot::Disk(_) | Boot::RootImage { .. }));
        let q35_disks = if m.has_pci() { &self.disks[..] } else { &[] };
        for (i, d) in q35_disks.iter().enumerate() {
            let mut index = first_disk + i;
            if matches!(self.boot, Boot::Iso(_)) && index >= 2 {
                index += 1; // the CD-ROM is index 2
            }
            a.extend([
                "-drive".to_owned(),
                format!(
                    "file={},format={},index={index},media=disk",
                    d.path.display(),
                    d.format
                ),
            ]);
        }
        match &self.networking {
            Networking::None => a.extend(["-nic".to_owned(), "none".to_owned()]),
            Networking::User { forwards, options } => {
                let mut netdev = "user,id=t0".to_owned();
                for o in options {
                    netdev.push(',');
                    netdev.push_str(o);
                }
                for f in forwards {
                    netdev.push(',');
                    netdev.push_str(&publish(f)?);
                }
                a.extend([
                    "-netdev".to_owned(),
                    netdev,
                    "-device".to_owned(),
                    format!(
                        "{},netdev=t0,mac={}",
                        m.virtio("virtio-net"),
                        mac(&self.state)
                    ),
                ]);
            }
            Networking::Tap(ifname) => a.extend([
                "-netdev".to_owned(),
                format!("tap,id=t0,ifname={ifname},script=no,downscript=no"),
                "-device".to_owned(),
                format!("virtio-net-pci,netdev=t0,mac={}", mac(&self.state)),
            ]),
            Networking::Bridge(br) => a.extend([
                "-netdev".to_owned(),
                format!("bridge,id=t0,br={br}"),
                "-device".to_owned(),
                format!("virtio-net-pci,netdev=t0,mac={}", mac(&self.state)),
            ]),
        }
        if !self.cdroms.is_empty() && m.has_pci() {
            a.extend(["-device".to_owned(), "virtio-scsi-pci,id=lkscsi".to_owned()]);
        }
        let cdroms = if m.has_pci() { &self.cdroms[..] } else { &[] };
        for (i, cd) in cdroms.iter().enumerate() {
            a.extend([
                "-drive".to_owned(),
                format!(
                    "if=none,id=lkcd{i},file={},format=raw,media=cdrom,readonly=on",
                    cd.display()
                ),
                "-device".to_owned(),
                format!("scsi-cd,bus=lkscsi.0,drive=lkcd{i}"),
            ]);
        }
        for d in &self.devices {
            a.extend(["-device".to_owned(), d.clone()]);
        }
        if let Some(qmp) = self.qmp_socket() {
            a.extend([
                "-qmp".to_owned(),
                format!("unix:{},server=on,wait=off", qmp.display()),
            ]);
        }
        if self.tpm {
            a.extend(crate::tpm::args(&self.state, m));
        }
        if self.guest_agent {
            a.extend(crate::qga::args(&self.state, m));
        }
        if self.vsock.is_some() {
            a.extend(crate::vsock::args(&self.state, self.mem_mb, m));
        }
        if self.detached {
            a.extend([
                "-display".to_owned(),
                "none".to_owned(),
                "-serial".to_owned(),
                format!("file:{}", self.state.join("console.log").display()),
                "-daemonize".to_owned(),
            ]);
        } else if self.gui {
            a.extend(["-serial".to_owned(), "stdio".to_owned()]);
        } else {
            // The serial console with QEMU's monitor muxed in (Ctrl-A c), as -nographic gives
            // by default; named explicitly because the QMP socket disables that default.
            a.extend([
                "-serial".to_owned(),
                "mon:stdio".to_owned(),
                "-nographic".to_owned(),
            ]);
        }
        Ok(a)
    }
}

/// Creates missing disk images with `qemu-img`.
fn create_disks(cfg: &QemuConfig) -> Result<(), RunError> {
    for d in &cfg.disks {
        if d.path.exists() {
            continue;
        }
        let Some(size) = d.size_mb else {
            return Err(RunError::Missing {
                what: "disk",
                path: d.path.display().to_string(),
            });
        };
        let mut cmd = Command::new("qemu-img");
        cmd.args(["create", "-q", "-f", &d.format])
            .arg(&d.path)
            .arg(format!("{size}M"));
        lk_util::tool::output(&mut cmd)?;
    }
    Ok(())
}

/// Starts QEMU daemonized; returns once the VM runs, with the pid QEMU wrote.
fn run_detached(
    cfg: &QemuConfig,
    args: &[String],
    argv: Vec<String>,
) -> Result<RunOutcome, RunError> {
    let pidfile = cfg.state.join("qemu.pid");
    let _ = std::fs::remove_file(&pidfile);
    lk_util::tool::output(Command::new(&cfg.qemu).args(args).stdout(Stdio::null()))?;
    let pid = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| RunError::Program {
            argv,
            reason: format!("QEMU started but wrote no pid to {}", pidfile.display()),
        })?;
    Ok(RunOutcome::Detached(pid))
}

/// Runs QEMU with the console on our stdout (and `<state>/console.log`); returns how the
/// guest ended. A kernel panic on the console ends the run with [`RunOutcome::Panic`].
pub fn run(cfg: &QemuConfig, console: &mut dyn Write) -> Result<RunOutcome, RunError> {
    cfg.check_machine()?;
    std::fs::create_dir_all(&cfg.state).map_err(|source| RunError::State {
        path: cfg.state.display().to_string(),
        source,
    })?;
    if let Boot::Kernel { kernel, initrd, .. } = &cfg.boot {
        for (what, p) in [("kernel", kernel), ("initrd", initrd)] {
            if !p.exists() {
                return Err(RunError::Missing {
                    what,
                    path: p.display().to_string(),
                });
            }
        }
    }
    create_disks(cfg)?;
    let args = cfg.args()?;
    let argv: Vec<String> = std::iter::once(cfg.qemu.display().to_string())
        .chain(args.iter().cloned())
        .collect();
    // swtpm ends by itself when QEMU closes its socket; stop() covers a QEMU that never did.
    let swtpm = if cfg.tpm {
        Some(crate::tpm::start(&cfg.state)?)
    } else {
        None
    };
    if cfg.detached && cfg.vsock.is_some() {
        swtpm.iter().for_each(crate::tpm::Swtpm::stop);
        return Err(RunError::Program {
            argv,
            reason:
                "--vsock needs an attached run: the host side of the sockets lives in linuxkit run"
                    .into(),
        });
    }
    let vsock = match &cfg.vsock {
        Some(v) => match crate::vsock::start(&cfg.state, v) {
            Ok(b) => Some(b),
            Err(e) => {
                swtpm.iter().for_each(crate::tpm::Swtpm::stop);
                return Err(e);
            }
        },
        None => None,
    };
    if cfg.detached {
        let r = run_detached(cfg, &args, argv);
        if r.is_err() {
            swtpm.iter().for_each(crate::tpm::Swtpm::stop);
        }
        return r;
    }
    let r = run_attached(cfg, &args, argv, console);
    swtpm.iter().for_each(crate::tpm::Swtpm::stop);
    if let Some(b) = vsock {
        b.stop();
    }
    r
}

fn run_attached(
    cfg: &QemuConfig,
    args: &[String],
    argv: Vec<String>,
    console: &mut dyn Write,
) -> Result<RunOutcome, RunError> {
    let mut log =
        std::fs::File::create(cfg.state.join("console.log")).map_err(|source| RunError::State {
            path: cfg.state.display().to_string(),
            source,
        })?;
    // A supervisor, CI job or timeout that stops us (SIGTERM, SIGHUP, SIGINT) stops QEMU too:
    // it would otherwise be re-parented to PID 1 and keep running with its disks and ports.
    let stop = StopSignals::register().map_err(|source| RunError::State {
        path: cfg.state.display().to_string(),
        source,
    })?;
    let mut child = Command::new(&cfg.qemu)
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| RunError::Program {
            argv: argv.clone(),
            reason: format!(
                "{e} (install {})",
                if cfg.machine == Machine::Virt {
                    "qemu-system-arm"
                } else {
                    "qemu-system-x86"
                }
            ),
        })?;
    let mut out = child.stdout.take().ok_or_else(|| RunError::Program {
        argv: argv.clone(),
        reason: "no stdout".into(),
    })?;
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut tail: Vec<u8> = Vec::new();
    let mut panic_at: Option<Instant> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(chunk) => {
                let _ = console.write_all(&chunk);
                let _ = console.flush();
                let _ = log.write_all(&chunk);
                tail.extend_from_slice(&chunk);
                if tail.len() > 8192 {
                    tail.drain(..tail.len() - 4096);
                }
                const PANIC: &[u8] = b"Kernel panic - not syncing";
                if panic_at.is_none() && tail.windows(PANIC.len()).any(|w| w == PANIC) {
                    panic_at = Some(Instant::now());
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Drain what is left of the console.
            while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
                let _ = console.write_all(&chunk);
                let _ = log.write_all(&chunk);
            }
            let _ = console.flush();
            if panic_at.is_some() {
                return Ok(RunOutcome::Panic);
            }
            return Ok(match status.code() {
                Some(0) => RunOutcome::Poweroff,
                Some(c) => RunOutcome::Failed(c),
                None => RunOutcome::Interrupted,
            });
        }
        if stop.raised() {
            terminate(&mut child, cfg.qmp_socket().as_deref());
            while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
                let _ = console.write_all(&chunk);
                let _ = log.write_all(&chunk);
            }
            let _ = console.flush();
            return Ok(RunOutcome::Interrupted);
        }
        // A panicked kernel may sit there forever (panic=0): stop it.
        if panic_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(RunOutcome::Panic);
        }
    }
}

/// The signals that end a foreground run, caught while QEMU runs (and released after).
struct StopSignals {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl StopSignals {
    fn register() -> std::io::Result<StopSignals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut ids = Vec::new();
        for sig in [SIGTERM, SIGHUP, SIGINT] {
            ids.push(signal_hook::flag::register(
                sig,
                std::sync::Arc::clone(&flag),
            )?);
        }
        Ok(StopSignals { flag, ids })
    }

    fn raised(&self) -> bool {
        self.flag.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Stops QEMU: presses the guest's ACPI power button over QMP and gives it 8 s to power
/// off cleanly (services stopped, disks unmounted), then asks QEMU itself to quit
/// (SIGTERM: it flushes its disks) for 2 s, then kills it.
fn terminate(child: &mut std::process::Child, qmp: Option<&Path>) {
    let exited = |child: &mut std::process::Child, secs: u64| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    };
    if qmp.is_some_and(|q| powerdown(q).is_ok()) && exited(child, 8) {
        return;
    }
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    if exited(child, 2) {
        return;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `system_powerdown` over QEMU's QMP socket.
fn powerdown(qmp: &Path) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader};
    let mut s = std::os::unix::net::UnixStream::connect(qmp)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?; // the greeting
    for cmd in ["qmp_capabilities", "system_powerdown"] {
        s.write_all(format!("{{\"execute\":\"{cmd}\"}}\n").as_bytes())?;
        // Replies come in order; events (POWERDOWN) may come between them.
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("QMP closed the connection"));
            }
            if line.contains("\"return\"") {
                break;
            }
            if line.contains("\"error\"") {
                return Err(std::io::Error::other(format!("QMP {cmd}: {}", line.trim())));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "qemu_tests.rs"]
mod tests;
