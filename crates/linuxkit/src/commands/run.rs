//! `linuxkit run [qemu]`.

use lk_ops::run::{RunOutcome, RunSettings, configure, run};

use crate::Exit;
use crate::cli::{Global, QemuArgs};
use crate::output;

pub fn qemu(global: &Global, env: &lk_ops::Env, a: &QemuArgs) -> anyhow::Result<Exit> {
    let data = match (&a.data, &a.data_file) {
        (Some(d), _) => Some(d.clone().into_bytes()),
        (None, Some(f)) => Some(
            std::fs::read(f)
                .map_err(|e| anyhow::anyhow!("cannot read --data-file {}: {e}", f.display()))?,
        ),
        (None, None) => None,
    };
    let s = RunSettings {
        path: a.path.clone(),
        accel: a.accel,
        accel_record: env.home.as_ref().map(|h| h.join(".linuxkit/accel")),
        mem_mb: a.mem,
        cpus: a.cpus,
        disks: a.disk.clone(),
        iso: a.iso,
        uefi: a.uefi,
        root_image: if a.squashfs {
            Some(lk_ops::run::RootImage::Squashfs)
        } else if a.erofs {
            Some(lk_ops::run::RootImage::Erofs)
        } else {
            None
        },
        fw: a.fw.clone(),
        state: a.state.clone(),
        networking: a.networking.clone(),
        publish: a.publish.clone(),
        qemu: a.qemu.clone(),
        devices: a.device.clone(),
        gui: a.gui,
        guest_agent: a.qemu_ga,
        tpm: a.tpm,
        machine: a.machine,
        arch: a.arch,
        vsock: a.vsock,
        vsock_ports: a.vsock_ports.clone(),
        data,
        data_mtime: env.now_or_epoch(),
        detached: a.detached,
    };
    let cfg = match configure(&s) {
        Ok(cfg) => cfg,
        Err(e) => return Ok(output::failure(e.hint(), e.into())),
    };
    output::info(
        global.quiet,
        &format!(
            "booting with accel={} (state in {})",
            cfg.accel,
            cfg.state.display()
        ),
    );
    let outcome = run(&cfg, &mut std::io::stdout().lock())?;
    match outcome {
        RunOutcome::Poweroff => Ok(Exit::Success),
        RunOutcome::Panic => {
            output::error(&anyhow::anyhow!(
                "the guest kernel panicked (console log in {})",
                cfg.state.join("console.log").display()
            ));
            Ok(Exit::Failure)
        }
        RunOutcome::Failed(code) => {
            output::error(&anyhow::anyhow!("qemu exited with status {code}"));
            Ok(Exit::Failure)
        }
        RunOutcome::Interrupted => Ok(Exit::Failure),
        RunOutcome::Detached(pid) => {
            output::data(&format!(
                "started in the background: pid {pid}, console in {}",
                cfg.state.join("console.log").display()
            ));
            Ok(Exit::Success)
        }
    }
}
