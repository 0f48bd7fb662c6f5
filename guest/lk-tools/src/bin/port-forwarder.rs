//! `port-forwarder`: see lk_tools::forwarder.

use std::net::IpAddr;
use std::path::PathBuf;

use lk_tools::flags::Flags;
use lk_tools::forwarder::{self, Source, State};
use lk_virtsock::forward::Request;

const USAGE: &str = "usage: port-forwarder [-port SPEC]... [-docker-socket PATH | -no-docker]
                      [-host-ip IP] [-control PATH]
       port-forwarder expose [-control PATH] [-host-ip IP] SPEC
       port-forwarder unexpose [-control PATH] [-host-ip IP] HOSTPORT

Opens host ports that lead into the VM, through `linuxkit run qemu --vsock`: the ports of
-port, of `port-forwarder expose`, and those the Docker engine's running containers publish
(`docker run -p 8080:80` gives host port 8080), each kept while wanted.
SPEC: HOSTPORT (to the guest's 127.0.0.1:HOSTPORT) or HOSTPORT:GUESTIP:GUESTPORT.
  -host-ip IP          the host address to listen on (127.0.0.1)
  -docker-socket PATH  the engine to follow (/var/run/docker.sock)
  -no-docker           do not follow Docker
  -control PATH        the socket `expose`/`unexpose` use (/run/port-forwarder.sock)";

fn log(m: &str) {
    lk_tools::say("port-forwarder", m);
}

fn fail(m: &str) -> ! {
    log(m);
    std::process::exit(2);
}

fn main() {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match argv.first().map(String::as_str) {
        Some("expose" | "unexpose") => Some(argv.remove(0)),
        _ => None,
    };
    let f = Flags::parse(
        argv,
        &["port", "docker-socket", "host-ip", "control"],
        &["no-docker", "h", "help"],
    )
    .unwrap_or_else(|e| fail(&format!("{e}\n{USAGE}")));
    if f.on("h") || f.on("help") {
        lk_tools::usage(USAGE);
        return;
    }
    let host_ip: IpAddr = f
        .last("host-ip")
        .unwrap_or("127.0.0.1")
        .parse()
        .unwrap_or_else(|_| fail("-host-ip: not an IP address"));
    let control = PathBuf::from(f.last("control").unwrap_or("/run/port-forwarder.sock"));
    if let Some(cmd) = cmd {
        let [spec] = f.args.as_slice() else {
            fail(USAGE)
        };
        let (host, guest) = forwarder::parse_spec(spec, host_ip).unwrap_or_else(|e| fail(&e));
        let req = if cmd == "expose" {
            Request::Expose { host, guest }
        } else {
            Request::Unexpose { host }
        };
        match forwarder::local_request(&control, &req) {
            Ok(()) => return,
            Err(e) => {
                log(&e);
                std::process::exit(1)
            }
        }
    }
    if !f.args.is_empty() {
        fail(&format!("unexpected arguments {:?}\n{USAGE}", f.args));
    }
    lk_tools::exit_on_term();
    let (state, changed) = State::new(log);
    for spec in f.all("port") {
        let (h, g) = forwarder::parse_spec(spec, host_ip).unwrap_or_else(|e| fail(&e));
        state.expose(h, g, Source::Static);
    }
    std::thread::spawn(|| {
        if let Err(e) = forwarder::data_server(log) {
            fail(&e);
        }
    });
    let st = state.clone();
    std::thread::spawn(move || {
        if let Err(e) = forwarder::local_control(&control, st) {
            fail(&e);
        }
    });
    if !f.on("no-docker") {
        let sock = PathBuf::from(f.last("docker-socket").unwrap_or("/var/run/docker.sock"));
        let st = state.clone();
        std::thread::spawn(move || forwarder::follow_docker(sock, host_ip, st));
    }
    forwarder::control_link(&state, &changed);
}
