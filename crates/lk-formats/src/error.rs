//! Why an output could not be planned or written; every variant names the format and, for
//! I/O, the file. Hints are data ([`FormatError::hint`]); the CLI prints them.

use std::io;
use std::path::PathBuf;

use crate::format::Format;

fn names(formats: &[Format]) -> String {
    formats
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why formats cannot be built for an architecture.
fn arch_reason(formats: &[Format]) -> &'static str {
    if formats == [Format::Rpi3] {
        "a Raspberry Pi is arm64"
    } else {
        "they boot with a PC BIOS"
    }
}

fn streamable() -> String {
    names(
        &Format::ALL
            .into_iter()
            .filter(|f| f.streamable())
            .collect::<Vec<_>>(),
    )
}

/// An output plan or write failed.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Not a LinuxKit format name.
    #[error("unknown output format `{name}`; formats: {}", names(&Format::ALL))]
    Unknown {
        /// As given.
        name: String,
    },
    /// A LinuxKit format this build cannot write yet.
    #[error("output format {0} is not implemented yet")]
    NotImplemented(Format),
    /// Two formats would write the same file.
    #[error("{0} and {1} both write <name>{suffix}; build them with different --name values", suffix = .0.files()[0])]
    SameFile(Format, Format),
    /// `--o` with several formats or a format that is not a stream.
    #[error("--o needs exactly one streamable format ({}); got {}", streamable(), names(.0))]
    NotOneStream(Vec<Format>),
    /// A streamable format among others.
    #[error("a streamable format ({}) must be the only format", streamable())]
    StreamNotAlone(Vec<Format>),
    /// Formats that cannot be built for the build's architecture (`--arch`).
    #[error(
        "{} cannot be built for {arch} ({}); formats for {arch}: {}",
        names(formats),
        arch_reason(formats),
        names(&Format::ALL.into_iter().filter(|f| f.builds_for(*arch)).collect::<Vec<_>>())
    )]
    Arch {
        /// The formats.
        formats: Vec<Format>,
        /// The architecture.
        arch: lk_util::Arch,
    },
    /// The formats need a kernel and the configuration has none.
    #[error("{} needs a `kernel` section with an image", names(.0))]
    NeedsKernel(Vec<Format>),
    /// Writing a file of a format failed.
    #[error("{format}: writing {}", path.display())]
    Write {
        /// The format.
        format: Format,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl FormatError {
    /// What the user can do about it, if we know.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            FormatError::NeedsKernel(_) => {
                Some("add `kernel: image: ...` to the configuration, or build `--format tar`")
            }
            FormatError::NotOneStream(_) => Some("write other formats with --dir and --name"),
            FormatError::NotImplemented(Format::Rpi3) => Some(
                "rpi3 needs an arm64 kernel, u-boot and the Raspberry Pi firmware, which this build does not have; use raw-efi on arm64 hardware with UEFI",
            ),
            _ => None,
        }
    }
}
