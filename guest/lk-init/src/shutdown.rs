//! The end of the machine: which signal means which action, and which filesystems to
//! unmount before the reboot syscall.

use lk_guest_sys::PowerAction;

/// busybox init's mapping, which `poweroff`, `reboot` and `halt` rely on.
pub fn action_for(signal: i32) -> PowerAction {
    use nix::sys::signal::Signal;
    if signal == Signal::SIGUSR2 as i32 {
        PowerAction::PowerOff
    } else if signal == Signal::SIGUSR1 as i32 {
        PowerAction::Halt
    } else {
        // SIGTERM (reboot) and SIGINT (ctrl-alt-del).
        PowerAction::Restart
    }
}

/// What the console says for an action.
pub fn describe(action: PowerAction) -> &'static str {
    match action {
        PowerAction::PowerOff => "power off",
        PowerAction::Restart => "reboot",
        PowerAction::Halt => "halt",
    }
}

fn unescape(field: &str) -> String {
    // /proc/mounts writes space, tab, newline and backslash as \ooo.
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// From `/proc/mounts`: the disk and overlay filesystems to unmount (innermost first), and
/// network filesystems to detach lazily (`true`). Virtual filesystems are left alone.
pub fn unmounts(proc_mounts: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = proc_mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, target, fstype) = (f.next()?, f.next()?, f.next()?);
            let lazy = match fstype {
                "ext2" | "ext3" | "ext4" | "btrfs" | "xfs" | "vfat" | "msdos" | "overlay" => false,
                "nfs" | "nfs4" | "cifs" => true,
                _ => return None,
            };
            Some((unescape(target), lazy))
        })
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_like_busybox_init() {
        assert_eq!(action_for(12), PowerAction::PowerOff);
        assert_eq!(action_for(10), PowerAction::Halt);
        assert_eq!(action_for(15), PowerAction::Restart);
        assert_eq!(action_for(2), PowerAction::Restart);
    }

    #[test]
    fn unmounts_disks_and_overlays_innermost_first() {
        let m = "proc /proc proc rw 0 0\n\
                 /dev/sda1 /var/lib/my\\040disk ext4 rw 0 0\n\
                 overlay /containers/services/web/rootfs overlay rw 0 0\n\
                 srv:/x /mnt/nfs nfs4 rw 0 0\n\
                 tmpfs /run tmpfs rw 0 0\n";
        assert_eq!(
            unmounts(m),
            [
                ("/mnt/nfs".to_owned(), true),
                ("/containers/services/web/rootfs".to_owned(), false),
                ("/var/lib/my disk".to_owned(), false),
            ]
        );
    }
}
