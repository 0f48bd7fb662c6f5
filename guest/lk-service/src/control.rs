//! The control protocol between the `service` CLI and the supervisor daemon: one JSON
//! request line on `/run/lk-service/control.sock`, one JSON response line. The socket is
//! under `/run`, which the getty and sshd containers bind, so the CLI works there too.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The socket.
pub const SOCKET: &str = "/run/lk-service/control.sock";

/// What the CLI asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Every service.
    List,
    /// Start a stopped service.
    Start {
        /// Service name.
        name: String,
    },
    /// Stop a service (SIGTERM, then SIGKILL after the grace period); it stays stopped.
    Stop {
        /// Service name.
        name: String,
    },
    /// Stop then start.
    Restart {
        /// Service name.
        name: String,
    },
    /// Stop every service and exit the supervisor (shutdown).
    Shutdown,
    /// Run a command in a running service with the stdin, stdout and stderr that come with
    /// the request (`SCM_RIGHTS`); answered when it exits.
    Exec {
        /// Service name.
        name: String,
        /// Command and arguments.
        args: Vec<String>,
    },
}

/// One service as `service list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Name (= container id).
    pub name: String,
    /// `running`, `restarting`, `exited`, `stopped` or `failed`.
    pub state: String,
    /// Pid of its init process while running.
    pub pid: Option<i32>,
    /// How often the supervisor restarted it.
    pub restarts: u32,
    /// Seconds since it started (running) or the last exit code / error.
    pub detail: String,
}

/// The daemon's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Success.
    pub ok: bool,
    /// The error when not ok.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// The services (list) or the one acted on.
    #[serde(default)]
    pub services: Vec<Status>,
    /// The runtime the daemon uses (`libcontainer` or `runc`).
    #[serde(default)]
    pub runtime: String,
    /// Exit code of an exec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

impl Response {
    /// A failure.
    pub fn error(e: impl std::fmt::Display) -> Response {
        Response {
            ok: false,
            error: e.to_string(),
            services: Vec::new(),
            runtime: String::new(),
            exit_code: None,
        }
    }
}

/// Sends one request and reads the answer.
pub fn call(socket: &str, req: &Request) -> Result<Response, Error> {
    call_with_fds(socket, req, &[])
}

/// Sends one request carrying descriptors and reads the answer.
pub fn call_with_fds(
    socket: &str,
    req: &Request,
    fds: &[BorrowedFd<'_>],
) -> Result<Response, Error> {
    let conn = UnixStream::connect(socket).map_err(|e| {
        Error::Control(format!(
            "{socket}: {e} (is the supervisor running? /etc/init.d starts it with `service system-init`)"
        ))
    })?;
    let line = serde_json::to_string(req).map_err(|e| Error::Control(e.to_string()))?;
    lk_guest_sys::fdpass::send_fds(&conn, format!("{line}\n").as_bytes(), fds)
        .map_err(|e| Error::Control(format!("{socket}: {e}")))?;
    let mut answer = String::new();
    BufReader::new(conn)
        .read_line(&mut answer)
        .map_err(|e| Error::Control(format!("{socket}: {e}")))?;
    serde_json::from_str(&answer)
        .map_err(|e| Error::Control(format!("{socket}: bad answer {answer:?}: {e}")))
}

/// Reads one request, and the descriptors sent with it, from a connection (the daemon side).
pub fn read_request(conn: &UnixStream) -> Result<(Request, Vec<OwnedFd>), String> {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let (bytes, fds) = lk_guest_sys::fdpass::recv_fds(conn).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&bytes);
    let req =
        serde_json::from_str(line.trim_end()).map_err(|e| format!("bad request {line:?}: {e}"))?;
    Ok((req, fds))
}

/// Writes the answer (the daemon side).
pub fn write_response(mut conn: &UnixStream, r: &Response) {
    if let Ok(text) = serde_json::to_string(r) {
        let _ = conn.write_all(format!("{text}\n").as_bytes());
    }
}

/// `service list` as a table.
pub fn table(services: &[Status]) -> String {
    let mut out = format!(
        "{:<24} {:<11} {:>7} {:>8}  {}\n",
        "NAME", "STATE", "PID", "RESTARTS", "INFO"
    );
    for s in services {
        let pid = s.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
        out.push_str(&format!(
            "{:<24} {:<11} {:>7} {:>8}  {}\n",
            s.name, s.state, pid, s.restarts, s.detail
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let r = Request::Restart {
            name: "getty".into(),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"op":"restart","name":"getty"}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"list"}"#).unwrap(),
            Request::List
        );
    }

    #[test]
    fn the_table_lists_each_service() {
        let t = table(&[Status {
            name: "getty".into(),
            state: "running".into(),
            pid: Some(42),
            restarts: 1,
            detail: "up 3s".into(),
        }]);
        assert!(t.lines().nth(1).unwrap().starts_with("getty"), "{t}");
        assert!(t.contains(" 42 "), "{t}");
    }
}
