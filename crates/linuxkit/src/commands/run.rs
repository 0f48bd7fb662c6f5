//! `linuxkit run [qemu]`.

use lk_ops::run::{RunOutcome, RunSettings, configure, run};

use crate::Exit;
use crate::cli::{Global, QemuArgs};
use crate::output;

pub fn qemu(global: &Global, a: &QemuArgs) -> anyhow::Result<Exit> {
    if a.data.is_some() || a.data_file.is_some() {
        return crate::not_implemented(
            "run qemu --data/--data-file",
            "the metadata ISO writer (later in the VM-system issue)",
        );
    }
    if a.detached {
        return crate::not_implemented("run qemu --detached", "later in the VM-system issue");
    }
    if a.squashfs {
        return crate::not_implemented("run qemu --squashfs", "later in the VM-system issue");
    }
    let s = RunSettings {
        path: a.path.clone(),
        accel: a.accel.clone(),
        mem_mb: a.mem,
        cpus: a.cpus,
        disks: a.disk.clone(),
        iso: a.iso,
        uefi: a.uefi,
        fw: a.fw.clone(),
        state: a.state.clone(),
        networking: a.networking.clone(),
        publish: a.publish.clone(),
        qemu: a.qemu.clone(),
        devices: a.device.clone(),
        gui: a.gui,
    };
    let cfg = configure(&s)?;
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
    }
}
