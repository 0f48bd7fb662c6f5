//! Waiting for children. The supervisor and the onboot runner are child subreapers, so a
//! container's init process is always ours to wait for, whichever runtime created it.

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// An exit status as a shell would show it: the code, or 128 + the signal.
pub fn code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// Makes this process the reaper of its orphaned descendants.
pub fn become_subreaper() {
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

/// Blocks until `pid` exits; reaps any other child that exits meanwhile. Returns its code
/// (an error when it was not our child, so its status cannot be known).
pub fn wait_for(pid: i32) -> std::io::Result<i32> {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(st) if st.pid() == Some(Pid::from_raw(pid)) => {
                if let Some(c) = code(st) {
                    return Ok(c);
                }
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(Errno::ECHILD) => {
                // Not our child (reaped elsewhere): wait until it is gone, but its status
                // is lost, so say so rather than invent one.
                while nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok() {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                return Err(std::io::Error::other(format!(
                    "pid {pid} was not our child: its exit status is unknown"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Every child that has exited, without blocking: `(pid, code)`.
pub fn exited() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return out,
            Ok(st) => {
                if let (Some(p), Some(c)) = (st.pid(), code(st)) {
                    out.push((p.as_raw(), c));
                }
            }
        }
    }
}
