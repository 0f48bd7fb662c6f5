//! `vsudd`: see lk_tools::vsudd.

use lk_tools::flags::Flags;
use lk_tools::vsudd::{self, PortSpec};

const USAGE: &str = "usage: vsudd [-inport PORT:unix:PATH]... [-outport PORT:unix:PATH]...
             [-syslog PORT:PATH] [-pidfile PATH]

Joins vsock and Unix sockets:
  -inport PORT:unix:PATH   vsock connections to PORT (decimal, 0x hex, or a Hyper-V service
                           GUID) go to the Unix socket PATH (e.g. 2376:unix:/var/run/docker.sock)
  -outport PORT:unix:PATH  connections to the Unix socket PATH go to the host's vsock PORT
  -syslog PORT:PATH        datagrams on the Unix socket PATH go to the host's vsock PORT
                           (RFC 5425 octet counting)
  -pidfile PATH            write the process id there
  -detach                  accepted for LinuxKit compatibility: logs stay on stderr, which
                           the service log keeps";

fn log(m: &str) {
    lk_tools::say("vsudd", m);
}

fn fail(m: &str) -> ! {
    log(m);
    std::process::exit(2);
}

fn main() {
    let f = Flags::parse(
        std::env::args().skip(1),
        &["inport", "outport", "syslog", "pidfile"],
        &["detach", "h", "help"],
    )
    .unwrap_or_else(|e| fail(&format!("{e}\n{USAGE}")));
    if f.on("h") || f.on("help") {
        lk_tools::usage(USAGE);
        return;
    }
    if !f.args.is_empty() {
        fail(&format!("unexpected arguments {:?}\n{USAGE}", f.args));
    }
    let parse = |name| -> Vec<PortSpec> {
        f.all(name)
            .iter()
            .map(|s| PortSpec::parse(s).unwrap_or_else(|e| fail(&format!("-{name}: {e}"))))
            .collect()
    };
    lk_tools::exit_on_term();
    let (ins, outs) = (parse("inport"), parse("outport"));
    let syslog = f.last("syslog").map(|s| {
        let (p, path) = s
            .split_once(':')
            .unwrap_or_else(|| fail(&format!("-syslog {s:?}: want PORT:PATH")));
        (
            vsudd::port(p).unwrap_or_else(|e| fail(&format!("-syslog: {e}"))),
            std::path::PathBuf::from(path),
        )
    });
    if ins.is_empty() && outs.is_empty() && syslog.is_none() {
        fail(&format!("nothing to do\n{USAGE}"));
    }
    if let Some(p) = f.last("pidfile")
        && let Err(e) = std::fs::write(p, format!("{}\n", std::process::id()))
    {
        fail(&format!("-pidfile {p}: {e}"));
    }
    let mut threads = Vec::new();
    for s in ins {
        threads.push(std::thread::spawn(move || vsudd::inport(&s, &log)));
    }
    for s in outs {
        threads.push(std::thread::spawn(move || vsudd::outport(&s, &log)));
    }
    if let Some((port, path)) = syslog {
        threads.push(std::thread::spawn(move || vsudd::syslog(port, &path, &log)));
    }
    // Any listener that fails ends the daemon, so the supervisor restarts it.
    loop {
        if let Some(i) = threads.iter().position(|t| t.is_finished()) {
            let r = threads.swap_remove(i).join();
            match r {
                Ok(Err(e)) => fail(&e),
                _ => fail("a listener ended"),
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
