//! Where a container's stdout and stderr go. With memlogd running (its log socket exists)
//! each stream is a pipe whose read end is handed to memlogd, named `<name>.out` (stdout) and
//! `<name>` (stderr), as LinuxKit names them. Without it, files: `<dir>/<name>.out.log` and
//! `<dir>/<name>.log`.

use std::fs::{File, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use crate::Error;

/// The two streams of one container.
#[derive(Debug)]
pub struct Streams {
    /// stdout.
    pub out: OwnedFd,
    /// stderr.
    pub err: OwnedFd,
}

/// The log backend for this boot.
#[derive(Debug)]
pub enum Backend {
    /// memlogd's log socket.
    Memlogd(UnixDatagram),
    /// Plain files in this directory.
    Files(PathBuf),
}

impl Backend {
    /// memlogd if it is running, else files in `dir`.
    pub fn detect(dir: &Path) -> Backend {
        match lk_memlogd::client::connect(None) {
            Some(s) => Backend::Memlogd(s),
            None => Backend::Files(dir.to_owned()),
        }
    }

    /// A short description for the console.
    pub fn describe(&self) -> String {
        match self {
            Backend::Memlogd(_) => "memlogd (logread)".to_owned(),
            Backend::Files(d) => format!("files in {}", d.display()),
        }
    }

    /// Opens the streams for the log `name`.
    pub fn open(&self, name: &str) -> Result<Streams, Error> {
        match self {
            Backend::Memlogd(sock) => {
                let pipe = |n: &str| {
                    lk_memlogd::client::pipe_to(Some(sock), n)
                        .map(OwnedFd::from)
                        .ok_or_else(|| Error::Io {
                            path: lk_memlogd::LOG_SOCKET.into(),
                            source: std::io::Error::other(format!("handing {n} to memlogd")),
                        })
                };
                Ok(Streams {
                    out: pipe(&format!("{name}.out"))?,
                    err: pipe(name)?,
                })
            }
            Backend::Files(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                    path: dir.clone(),
                    source: e,
                })?;
                let open = |p: PathBuf| -> Result<OwnedFd, Error> {
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&p)
                        .map(OwnedFd::from)
                        .map_err(|e| Error::Io { path: p, source: e })
                };
                Ok(Streams {
                    out: open(dir.join(format!("{name}.out.log")))?,
                    err: open(dir.join(format!("{name}.log")))?,
                })
            }
        }
    }
}

/// `/dev/null` for stdin.
pub fn null() -> Result<OwnedFd, Error> {
    File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| Error::Io {
            path: "/dev/null".into(),
            source: e,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn file_backend_names_streams_like_linuxkit() {
        let dir = std::env::temp_dir().join(format!("lk-service-logs-{}", std::process::id()));
        let b = Backend::Files(dir.clone());
        let s = b.open("onboot.000-hello").unwrap();
        File::from(s.out).write_all(b"out\n").unwrap();
        File::from(s.err).write_all(b"err\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("onboot.000-hello.out.log")).unwrap(),
            "out\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("onboot.000-hello.log")).unwrap(),
            "err\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
