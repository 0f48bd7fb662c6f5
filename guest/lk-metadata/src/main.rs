//! `metadata [-v] [provider ...]`: see the lk_metadata crate.

use std::path::Path;

use lk_metadata::config::CONFIG_PATH;
use lk_metadata::provider::{DEFAULT, say, set_verbose};

const USAGE: &str = "Usage: metadata [-v] [provider ...]

Finds the cloud or hypervisor this VM runs on, writes its metadata under /run/config
(provider, hostname, ssh/authorized_keys, ...), keeps the userdata in
/run/config/userdata (a JSON object is also expanded into files) and sets the host name.

Providers, tried in the order given (network ones probed at once, the first in order
that answers wins; then vmware and cdrom; then files):
  aws gcp hetzner openstack scaleway vultr digitalocean equinixmetal metaldata
  vmware cdrom file=PATH
Default: aws gcp hetzner openstack scaleway vultr digitalocean equinixmetal metaldata
vmware cdrom.

  -v    verbose: say why each provider was not found";

fn main() {
    let mut names = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "-v" | "--v" => set_verbose(true),
            "-h" | "-help" | "--help" => {
                say(USAGE);
                return;
            }
            _ if a.starts_with('-') => {
                say(&format!("flag provided but not defined: {a}\n{USAGE}"));
                std::process::exit(2);
            }
            _ => names.push(a),
        }
    }
    if names.is_empty() {
        names = DEFAULT.iter().map(|s| (*s).to_owned()).collect();
    }
    let mut sethostname = |h: &str| nix::unistd::sethostname(h).map_err(|e| e.to_string());
    match lk_metadata::run(&names, Path::new(CONFIG_PATH), &mut sethostname) {
        Ok(_) => {}
        Err(e) => {
            say(&e);
            std::process::exit(1);
        }
    }
}
