//! The architectures an image is built for, as one type from the command line down
//! (`build --arch`, `run --arch`, the platform of every image, the formats that can boot).

use std::fmt;
use std::str::FromStr;

/// A CPU architecture LinuxKit builds for (default: amd64, LinuxKit's first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// x86-64 (`amd64`, `x86_64`).
    #[default]
    Amd64,
    /// 64-bit ARM (`arm64`, `aarch64`).
    Arm64,
    /// 64-bit RISC-V (`riscv64`).
    Riscv64,
}

/// A name that is not an architecture we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown architecture {0:?}: use amd64 (x86_64), arm64 (aarch64) or riscv64")]
pub struct UnknownArch(pub String);

impl Arch {
    /// Every architecture.
    pub const ALL: [Arch; 3] = [Arch::Amd64, Arch::Arm64, Arch::Riscv64];

    /// The Go/OCI name (`amd64`, `arm64`, `riscv64`): image platforms, `--arch` values.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The kernel's name (`uname -m`, QEMU's `qemu-system-<name>`): `x86_64`, `aarch64`,
    /// `riscv64`.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The architecture this program was built for (so runs on), when it is one of ours.
    pub fn host() -> Option<Arch> {
        std::env::consts::ARCH.parse().ok()
    }
}

impl FromStr for Arch {
    type Err = UnknownArch;

    /// Go names and kernel names, as LinuxKit accepts both (`arm64` and `aarch64`).
    fn from_str(s: &str) -> Result<Arch, UnknownArch> {
        match s {
            "amd64" | "x86_64" => Ok(Arch::Amd64),
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            "riscv64" => Ok(Arch::Riscv64),
            other => Err(UnknownArch(other.to_owned())),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_and_kernel_names_parse_to_one_arch() {
        for a in Arch::ALL {
            assert_eq!(a.name().parse::<Arch>(), Ok(a));
            assert_eq!(a.kernel_name().parse::<Arch>(), Ok(a));
            assert_eq!(a.to_string(), a.name());
        }
        assert_eq!("aarch64".parse::<Arch>(), Ok(Arch::Arm64));
        let e = "s390x".parse::<Arch>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown architecture \"s390x\": use amd64 (x86_64), arm64 (aarch64) or riscv64"
        );
        assert!(
            Arch::host().is_some(),
            "this project builds on amd64 and arm64"
        );
    }
}
