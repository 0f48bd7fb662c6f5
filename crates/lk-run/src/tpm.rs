//! A software TPM 2.0 for the guest (`run qemu --tpm`): `swtpm` in socket mode, its state in
//! `<state>/tpm`, its control socket `<state>/swtpm.sock`, which QEMU's `tpm-tis` device uses.
//! swtpm is started with `--terminate`, so it ends when QEMU closes the socket; a run that
//! never connects has it stopped by pid.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::RunError;

/// The control socket in the state directory.
pub fn socket(state: &Path) -> PathBuf {
    state.join("swtpm.sock")
}

/// QEMU's arguments for the TPM (`tpm-tis` on the PC's ISA bus; arm64's virt takes the
/// same TIS interface as a system-bus device, `tpm-tis-device`).
pub fn args(state: &Path, machine: crate::qemu::Machine) -> Vec<String> {
    let device = if machine == crate::qemu::Machine::Virt {
        "tpm-tis-device"
    } else {
        "tpm-tis"
    };
    vec![
        "-chardev".to_owned(),
        format!("socket,id=chrtpm,path={}", socket(state).display()),
        "-tpmdev".to_owned(),
        "emulator,id=tpm0,chardev=chrtpm".to_owned(),
        "-device".to_owned(),
        format!("{device},tpmdev=tpm0"),
    ]
}

/// A started swtpm; [`Swtpm::stop`] ends it if QEMU never connected.
#[derive(Debug)]
pub struct Swtpm {
    pidfile: PathBuf,
}

/// Starts swtpm (daemonized) and waits for its socket.
pub fn start(state: &Path) -> Result<Swtpm, RunError> {
    let dir = state.join("tpm");
    std::fs::create_dir_all(&dir).map_err(|source| RunError::State {
        path: dir.display().to_string(),
        source,
    })?;
    let sock = socket(state);
    let _ = std::fs::remove_file(&sock);
    let pidfile = state.join("swtpm.pid");
    let mut cmd = Command::new("swtpm");
    cmd.args(["socket", "--tpm2", "--terminate", "--daemon"])
        .arg("--tpmstate")
        .arg(format!("dir={}", dir.display()))
        .arg("--ctrl")
        .arg(format!("type=unixio,path={}", sock.display()))
        .arg("--pid")
        .arg(format!("file={}", pidfile.display()))
        .arg("--log")
        .arg(format!("file={}", state.join("swtpm.log").display()));
    lk_util::tool::output(&mut cmd).map_err(|e| RunError::Program {
        argv: vec!["swtpm".into()],
        reason: format!("{e} (install swtpm: scripts/setup.sh does)"),
    })?;
    let start = Instant::now();
    while !sock.exists() {
        if start.elapsed() > Duration::from_secs(5) {
            return Err(RunError::Program {
                argv: vec!["swtpm".into()],
                reason: format!("no socket {} after 5 s", sock.display()),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Swtpm { pidfile })
}

impl Swtpm {
    /// Stops swtpm if it still runs (QEMU never connected, or failed to start).
    pub fn stop(&self) {
        if let Some(pid) = std::fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_gets_a_tis_device_on_the_state_dir_socket() {
        let a = args(Path::new("/s"), crate::qemu::Machine::Q35).join(" ");
        assert_eq!(
            a,
            "-chardev socket,id=chrtpm,path=/s/swtpm.sock -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0"
        );
    }
}
