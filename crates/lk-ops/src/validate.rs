//! `linuxkit validate`: parse, merge and check configuration files without the network.

use std::io::Read;
use std::path::PathBuf;

use lk_spec::{Config, Diagnostics, Source};

use crate::Reporter;

/// Where a configuration is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A local file.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
}

impl Input {
    /// `-` is stdin; anything else is a path.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::File(PathBuf::from(arg))
        }
    }
}

/// Why validation failed.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    ReadInput {
        /// The path as given.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A URL was given; validate never touches the network.
    #[error("{url}: validate does not fetch URLs")]
    RemoteInput {
        /// The URL.
        url: String,
    },
    /// The configuration is invalid.
    #[error("invalid configuration ({} problem{})", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Invalid(#[source] Diagnostics),
}

/// Resolves `@pkg:<dir>` to the package's `org/image:tag` (its git tree hash).
pub use lk_pkg::PkgResolver as PackageResolver;

/// Reads, parses, merges and checks `inputs` in order; warnings go to `reporter`.
pub fn validate(
    inputs: &[Input],
    resolver: &dyn lk_spec::PackageResolver,
    reporter: &dyn Reporter,
) -> Result<Config, ValidateError> {
    let mut texts = Vec::with_capacity(inputs.len());
    for input in inputs {
        texts.push(read_input(input)?);
    }
    let config =
        lk_spec::parse_and_merge(texts.iter().map(|(s, t)| (s, t.as_str())), Some(resolver))
            .map_err(ValidateError::Invalid)?;
    for w in &config.warnings {
        reporter.warning(w);
    }
    Ok(config)
}

/// Reads one input as text, naming it in errors.
pub fn read_input(input: &Input) -> Result<(Source, String), ValidateError> {
    match input {
        Input::Stdin => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| ValidateError::ReadInput {
                    path: "<stdin>".to_owned(),
                    source,
                })?;
            Ok((Source::named("<stdin>"), text))
        }
        Input::File(path) => {
            let shown = path.display().to_string();
            if shown.starts_with("http://") || shown.starts_with("https://") {
                return Err(ValidateError::RemoteInput { url: shown });
            }
            let text =
                std::fs::read_to_string(path).map_err(|source| ValidateError::ReadInput {
                    path: shown,
                    source,
                })?;
            Ok((Source::file(path), text))
        }
    }
}
