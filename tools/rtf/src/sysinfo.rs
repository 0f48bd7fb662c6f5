//! Facts about the host: system labels and the `system` block of SUMMARY.json.

use serde::Serialize;

/// What rtf records about the machine.
#[derive(Clone, Debug, Serialize)]
pub struct SystemInfo {
    /// `linux`, `osx`, `win`.
    pub os: String,
    /// Distribution name (`Debian`).
    pub name: String,
    /// Distribution version (`12`).
    pub version: String,
    /// Go-style architecture (`amd64`).
    pub arch: String,
    /// Hardware model (`UNKNOWN` on Linux).
    pub model: String,
    /// CPU model name.
    pub cpu: String,
    /// Memory in bytes (-1 if unknown).
    pub memory: i64,
}

impl SystemInfo {
    /// Reads /etc/os-release, /proc/cpuinfo and /proc/meminfo.
    pub fn collect() -> SystemInfo {
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |key: &str| {
            os_release
                .lines()
                .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                .map(|v| v.trim_matches('"').to_owned())
        };
        let name = field("ID").map_or_else(|| "UNKNOWN".to_owned(), |id| capitalize(&id));
        let version = field("VERSION_ID").unwrap_or_else(|| "UNKNOWN".to_owned());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "UNKNOWN".to_owned());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<i64>().ok())
            })
            .map_or(-1, |kb| kb * 1024);
        SystemInfo {
            os: os_label().to_owned(),
            name,
            version,
            arch: go_arch().to_owned(),
            model: "UNKNOWN".to_owned(),
            cpu,
            memory,
        }
    }

    /// The labels every run gets: OS, distribution name and version, architecture.
    pub fn labels(&self) -> Vec<String> {
        let mut l = vec![
            self.os.clone(),
            self.name.clone(),
            self.version.clone(),
            self.arch.clone(),
        ];
        if self.os == "osx" {
            l.push("darwin".to_owned());
        }
        if self.os == "win" {
            l.push("windows".to_owned());
        }
        l.sort();
        l.dedup();
        l
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// rtf's OS label.
pub fn os_label() -> &'static str {
    match std::env::consts::OS {
        "macos" => "osx",
        "windows" => "win",
        other => other,
    }
}

/// Go's name for this architecture.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
