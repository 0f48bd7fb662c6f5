//! Linux capability names as LinuxKit knows them.

/// Every capability LinuxKit accepts, in the order `all` expands to
/// (`CAP_` + upper-cased moby/sys/capability v0.4.0 `ListKnown()`).
pub const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Whether `name` is a known capability (exact, upper-case, with `CAP_`).
pub fn is_known(name: &str) -> bool {
    ALL_CAPABILITIES.contains(&name)
}

/// A hint for a misspelt capability (`sys_admin` -> `CAP_SYS_ADMIN`).
pub fn suggest(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let with_prefix = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if is_known(&with_prefix) {
        return Some(format!(
            "did you mean `{with_prefix}`? capability names are upper-case and start with CAP_"
        ));
    }
    crate::diag::did_you_mean(&with_prefix, ALL_CAPABILITIES)
        .map(|c| format!("did you mean `{c}`?"))
}

/// `[all]` / `[none]` (any case) expand to every capability / none, as in LinuxKit.
pub fn expand(list: &[String]) -> Vec<String> {
    if let [one] = list {
        match one.to_ascii_lowercase().as_str() {
            "all" => return ALL_CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
            "none" => return Vec::new(),
            _ => {}
        }
    }
    list.to_vec()
}
