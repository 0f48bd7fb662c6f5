//! Passing file descriptors over Unix sockets (`SCM_RIGHTS`): how `service` and `logwrite`
//! hand log streams to memlogd (datagrams), and how `service exec` hands its terminal to the
//! supervisor (stream).

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

/// Sends one datagram carrying `payload` and `fds`.
pub fn send_fds(sock: &impl AsRawFd, payload: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let cmsg = [ControlMessage::ScmRights(&raw)];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(payload)],
        &cmsg,
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

/// Receives one datagram: its payload and the descriptors it carried (at most 16).
pub fn recv_fds(sock: &impl AsRawFd) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; 4096];
    let mut space = nix::cmsg_space!([RawFd; 16]);
    let (n, raw) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut raw = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                raw.extend(fds);
            }
        }
        (msg.bytes, raw)
    };
    buf.truncate(n);
    let fds = raw
        .into_iter()
        // SAFETY: the kernel installed each of these descriptors in our table while receiving
        // this message (SCM_RIGHTS); nothing else in the process knows or owns them, so taking
        // ownership here is sound and closes them exactly once.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    Ok((buf, fds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn a_pipe_end_travels_with_its_name() {
        let (a, b) = UnixDatagram::pair().unwrap();
        let (reader, mut writer) = std::io::pipe().unwrap();
        send_fds(&a, b"svc.out", &[reader.as_fd()]).unwrap();
        drop(reader);
        let (name, fds) = recv_fds(&b).unwrap();
        assert_eq!(name, b"svc.out");
        assert_eq!(fds.len(), 1);
        writer.write_all(b"line\n").unwrap();
        drop(writer);
        let mut got = String::new();
        std::fs::File::from(fds.into_iter().next().unwrap())
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got, "line\n");
    }
}
