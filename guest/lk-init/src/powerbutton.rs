//! The ACPI power button (QEMU's `system_powerdown`, a hypervisor's "shut down"): the kernel's
//! `button` driver (coldplugged) reports it as an input device named "Power Button"; the init
//! reads its events and shuts down cleanly on a press, as `poweroff` would. (LinuxKit needs an
//! `acpid` service for this.)

use std::io::Read;
use std::path::{Path, PathBuf};

/// `EV_KEY` and `KEY_POWER` from linux/input-event-codes.h.
const EV_KEY: u16 = 1;
const KEY_POWER: u16 = 116;
/// `struct input_event` on 64-bit Linux: a 16-byte timeval, type, code, value.
pub const EVENT_SIZE: usize = 24;

/// Whether one `struct input_event` is a power-key press.
pub fn is_power_press(ev: &[u8]) -> bool {
    if ev.len() < EVENT_SIZE {
        return false;
    }
    let kind = u16::from_ne_bytes([ev[16], ev[17]]);
    let code = u16::from_ne_bytes([ev[18], ev[19]]);
    let value = i32::from_ne_bytes([ev[20], ev[21], ev[22], ev[23]]);
    kind == EV_KEY && code == KEY_POWER && value == 1
}

/// The `/dev/input/eventN` devices whose name (in `class_dir`, normally
/// `/sys/class/input`) is "Power Button".
pub fn devices(class_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(class_dir) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("event") {
            continue;
        }
        let label = std::fs::read_to_string(e.path().join("device/name")).unwrap_or_default();
        if label.trim() == "Power Button" {
            out.push(Path::new("/dev/input").join(name));
        }
    }
    out.sort();
    out
}

/// Blocks reading `dev` until the power key is pressed.
pub fn wait_for_press(dev: &Path) -> std::io::Result<()> {
    let mut f = std::fs::File::open(dev)?;
    let mut ev = [0u8; EVENT_SIZE];
    loop {
        f.read_exact(&mut ev)?;
        if is_power_press(&ev) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: u16, code: u16, value: i32) -> [u8; EVENT_SIZE] {
        let mut ev = [0u8; EVENT_SIZE];
        ev[16..18].copy_from_slice(&kind.to_ne_bytes());
        ev[18..20].copy_from_slice(&code.to_ne_bytes());
        ev[20..24].copy_from_slice(&value.to_ne_bytes());
        ev
    }

    #[test]
    fn only_a_power_key_press_counts() {
        assert!(is_power_press(&event(1, 116, 1)));
        assert!(!is_power_press(&event(1, 116, 0))); // release
        assert!(!is_power_press(&event(0, 0, 0))); // EV_SYN
        assert!(!is_power_press(&event(1, 30, 1))); // another key
        assert!(!is_power_press(&[0u8; 8]));
    }

    #[test]
    fn finds_the_power_button_by_name() {
        let dir = std::env::temp_dir().join(format!("lk-init-input-{}", std::process::id()));
        for (ev, name) in [
            ("event0", "Power Button"),
            ("event1", "AT Keyboard"),
            ("mouse0", "Power Button"),
        ] {
            std::fs::create_dir_all(dir.join(ev).join("device")).unwrap();
            std::fs::write(dir.join(ev).join("device/name"), format!("{name}\n")).unwrap();
        }
        assert_eq!(devices(&dir), [PathBuf::from("/dev/input/event0")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
