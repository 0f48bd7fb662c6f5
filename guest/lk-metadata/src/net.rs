//! The providers with a plain HTTP metadata service: AWS (with IMDSv2 tokens), GCP,
//! Hetzner, OpenStack, Vultr, DigitalOcean and metaldata. Each is a table: where the
//! service is, which values become which files, where the SSH keys and userdata are.

use std::sync::OnceLock;

use crate::config::ConfigDir;
use crate::http::{Http, HttpError};
use crate::provider::{Provider, say, write_ssh_keys};

/// The link-local metadata address most clouds use.
pub const LINK_LOCAL: &str = "169.254.169.254";
/// GCP's metadata server name (resolved by DNS or /etc/hosts; 169.254.169.254 if not).
pub const GCP_HOST: &str = "metadata.google.internal";
/// metaldata's server name.
pub const METALDATA_HOST: &str = "metaldata";

/// Largest metadata value read.
pub const VALUE_LIMIT: u64 = 64 << 10;
/// Largest userdata read.
pub const USERDATA_LIMIT: u64 = 16 << 20;

/// How the SSH keys are served.
#[derive(Debug, Clone, Copy)]
enum Keys {
    /// The body is the authorized_keys file (path under the metadata base).
    Raw(&'static str),
    /// A JSON array of keys (Hetzner).
    JsonArray(&'static str),
    /// GCP's project `ssh-keys`: `user:key` lines, written without the user.
    GcpProject,
}

/// Headers a service requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Plain,
    /// AWS: an IMDSv2 session token when the service gives one (IMDSv1 otherwise).
    AwsToken,
    /// GCP: `Metadata-Flavor: Google`.
    Google,
}

/// A table-driven provider.
#[derive(Debug)]
pub struct Meta {
    name: &'static str,
    host: String,
    /// Metadata base path on the host (ends with `/`).
    base: &'static str,
    /// Probed path under the base.
    probe: &'static str,
    files: &'static [(&'static str, &'static str)],
    keys: Keys,
    /// Userdata path on the host.
    userdata: Option<&'static str>,
    flavor: Flavor,
    token: OnceLock<Token>,
}

/// What AWS's token request gave.
#[derive(Debug, Clone)]
enum Token {
    /// IMDSv2: send it with every request.
    Session(String),
    /// The service answered without a token (IMDSv1 only, or not AWS): plain requests.
    None,
    /// Nothing answered: the service is not there.
    Unreachable,
}

const AWS_FILES: &[(&str, &str)] = &[
    ("public-ipv4", "public_ipv4"),
    ("local-ipv4", "local_ipv4"),
    ("placement/availability-zone", "availability_zone"),
    ("instance-type", "instance_type"),
    ("instance-id", "instance_id"),
    ("local-hostname", "local_hostname"),
];

fn meta(name: &'static str, host: &str, base: &'static str) -> Meta {
    Meta {
        name,
        host: host.to_owned(),
        base,
        probe: "hostname",
        files: &[],
        keys: Keys::Raw("public-keys"),
        userdata: None,
        flavor: Flavor::Plain,
        token: OnceLock::new(),
    }
}

/// AWS: `/latest/meta-data/`, IMDSv2 when offered.
pub fn aws(host: &str) -> Meta {
    Meta {
        files: AWS_FILES,
        keys: Keys::Raw("public-keys/0/openssh-key"),
        userdata: Some("/latest/user-data"),
        flavor: Flavor::AwsToken,
        ..meta("AWS", host, "/latest/meta-data/")
    }
}

/// OpenStack: AWS's paths, IMDSv1.
pub fn openstack(host: &str) -> Meta {
    Meta {
        files: AWS_FILES,
        keys: Keys::Raw("public-keys/0/openssh-key"),
        userdata: Some("/latest/user-data"),
        ..meta("openstack", host, "/latest/meta-data/")
    }
}

/// Hetzner: AWS's paths, keys as a JSON array.
pub fn hetzner(host: &str) -> Meta {
    Meta {
        files: &[
            ("public-ipv4", "public_ipv4"),
            ("local-ipv4", "local_ipv4"),
            ("instance-id", "instance_id"),
        ],
        keys: Keys::JsonArray("public-keys"),
        userdata: Some("/latest/user-data"),
        ..meta("Hetzner", host, "/latest/meta-data/")
    }
}

/// GCP: `computeMetadata/v1` with `Metadata-Flavor: Google`.
pub fn gcp(host: &str) -> Meta {
    Meta {
        keys: Keys::GcpProject,
        userdata: Some("/computeMetadata/v1/instance/attributes/user-data"),
        flavor: Flavor::Google,
        ..meta("GCP", host, "/computeMetadata/v1/instance/")
    }
}

/// Vultr: `/v1/` (no userdata, as in LinuxKit).
pub fn vultr(host: &str) -> Meta {
    Meta {
        probe: "",
        files: &[
            ("interfaces/0/ipv4/address", "public_ipv4"),
            ("interfaces/1/ipv4/address", "private_ipv4"),
            ("interfaces/1/ipv4/netmask", "private_netmask"),
            ("region/regioncode", "region_code"),
            ("instanceid", "instance_id"),
        ],
        ..meta("Vultr", host, "/v1/")
    }
}

/// DigitalOcean: `/metadata/v1/`.
pub fn digitalocean(host: &str) -> Meta {
    Meta {
        probe: "",
        files: &[
            ("interfaces/public/0/ipv4/address", "public_ipv4"),
            ("interfaces/private/0/ipv4/address", "private_ipv4"),
            ("region", "region"),
            ("id", "id"),
        ],
        userdata: Some("/metadata/v1/user-data"),
        ..meta("DigitalOcean", host, "/metadata/v1/")
    }
}

/// metaldata: `http://metaldata/get/meta/`.
pub fn metaldata(host: &str) -> Meta {
    Meta {
        files: &[
            ("public-ipv4", "public_ipv4"),
            ("private-ipv4", "private_ipv4"),
            ("failure-domain", "failure_domain"),
            ("machine-id", "machine_id"),
            ("machine-type", "machine_type"),
        ],
        keys: Keys::Raw("authorized-keys"),
        userdata: Some("/get/user"),
        ..meta("metaldata", host, "/get/meta/")
    }
}

impl Meta {
    fn headers(&self, http: &Http) -> Vec<(&'static str, String)> {
        match self.flavor {
            Flavor::Plain => Vec::new(),
            Flavor::Google => vec![("Metadata-Flavor", "Google".to_owned())],
            Flavor::AwsToken => match self.token(http) {
                Token::Session(t) => vec![("X-aws-ec2-metadata-token", t)],
                _ => Vec::new(),
            },
        }
    }

    /// AWS's IMDSv2 session token, asked for once.
    fn token(&self, http: &Http) -> Token {
        self.token
            .get_or_init(|| {
                let url = format!("http://{}/latest/api/token", self.host);
                let ttl = [("X-aws-ec2-metadata-token-ttl-seconds", "21600")];
                match http.put(&url, &ttl, 4096) {
                    Ok(t) => match String::from_utf8(t) {
                        Ok(t) if !t.trim().is_empty() => Token::Session(t.trim().to_owned()),
                        _ => Token::None,
                    },
                    Err(HttpError::Status { .. }) => Token::None,
                    Err(HttpError::Transport { .. }) => Token::Unreachable,
                }
            })
            .clone()
    }

    /// GET `path` on the service. GCP falls back to 169.254.169.254 when its name does
    /// not resolve (LinuxKit needs DNS there).
    fn fetch(&self, http: &Http, path: &str, limit: u64) -> Result<Vec<u8>, HttpError> {
        let headers = self.headers(http);
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = http.get(&format!("http://{}{path}", self.host), &h, limit);
        match r {
            Err(HttpError::Transport { ref cause, .. })
                if self.flavor == Flavor::Google && cause == "host not found" =>
            {
                http.get(&format!("http://{LINK_LOCAL}{path}"), &h, limit)
            }
            r => r,
        }
    }

    fn value(&self, http: &Http, rel: &str) -> Result<Vec<u8>, HttpError> {
        self.fetch(http, &format!("{}{rel}", self.base), VALUE_LIMIT)
    }

    fn keys(&self, http: &Http) -> Result<Vec<u8>, String> {
        match self.keys {
            Keys::Raw(p) => self.value(http, p).map_err(|e| e.to_string()),
            Keys::JsonArray(p) => {
                let body = self.value(http, p).map_err(|e| e.to_string())?;
                let keys: Vec<String> = serde_json::from_slice(&body)
                    .map_err(|e| format!("{p} is not a JSON array of strings: {e}"))?;
                Ok(keys
                    .iter()
                    .map(|k| format!("{k}\n"))
                    .collect::<String>()
                    .into_bytes())
            }
            Keys::GcpProject => {
                let body = self
                    .fetch(
                        http,
                        "/computeMetadata/v1/project/attributes/ssh-keys",
                        VALUE_LIMIT,
                    )
                    .map_err(|e| e.to_string())?;
                Ok(String::from_utf8_lossy(&body)
                    .lines()
                    .filter_map(|l| l.split_once(':').map(|(_, k)| format!("{k}\n")))
                    .collect::<String>()
                    .into_bytes())
            }
        }
    }
}

impl Provider for Meta {
    fn name(&self) -> String {
        self.name.to_owned()
    }

    fn probe(&self, http: &Http) -> bool {
        // The token request already waited out the timeout when nothing is there: no
        // second wait for the plain request.
        if self.flavor == Flavor::AwsToken && matches!(self.token(http), Token::Unreachable) {
            crate::provider::debug(&format!("{}: no answer to the token request", self.name));
            return false;
        }
        match self.value(http, self.probe) {
            Ok(_) => true,
            Err(e) => {
                crate::provider::debug(&format!("{}: {e}", self.name));
                false
            }
        }
    }

    fn extract(&self, http: &Http, cfg: &ConfigDir) -> Result<Option<Vec<u8>>, String> {
        let n = self.name;
        let hostname = self
            .value(http, "hostname")
            .map_err(|e| format!("{n}: hostname: {e}"))?;
        cfg.write("hostname", &hostname, 0o644)
            .map_err(|e| format!("{n}: Failed to write hostname: {e}"))?;
        for (path, file) in self.files {
            match self.value(http, path) {
                Ok(v) => {
                    if let Err(e) = cfg.write(file, &v, 0o644) {
                        say(&format!("{n}: Failed to write {file}: {e}"));
                    }
                }
                Err(e) => say(&format!("{n}: Failed to get {path}: {e}")),
            }
        }
        match self.keys(http).and_then(|k| write_ssh_keys(cfg, &k)) {
            Ok(()) => {}
            Err(e) => say(&format!("{n}: Failed to get ssh data: {e}")),
        }
        let Some(path) = self.userdata else {
            return Ok(None);
        };
        match self.fetch(http, path, USERDATA_LIMIT) {
            Ok(u) => Ok(Some(u)),
            Err(e) => {
                say(&format!("{n}: Failed to get user-data: {e}"));
                Ok(None)
            }
        }
    }
}
