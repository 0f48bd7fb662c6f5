//! `linuxkit`: parse arguments, call one use case, print the result.

mod cli;
mod commands;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0
    Success,
    /// 1: the command failed (bad input, failed build, ...).
    Failure,
    /// 2: the command exists but is not implemented yet.
    NotImplemented,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        match e {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Failure => ExitCode::from(1),
            Exit::NotImplemented => ExitCode::from(2),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.global.quiet && cli.global.verbose.is_some_and(|v| v > 0) {
        output::error(&anyhow::anyhow!("--quiet and --verbose cannot be combined"));
        return Exit::Failure.into();
    }
    let result = match &cli.command {
        Command::Validate(args) => commands::validate::run(&cli.global, args),
        Command::Version(args) => commands::version::run(args),
        Command::Build(args) => commands::build::run(&cli.global, args),
        Command::Run(run) => match (&run.backend, &run.path) {
            (Some(cli::RunBackend::Qemu(q)), _) => commands::run::qemu(&cli.global, q),
            (None, Some(path)) => {
                let q = cli::QemuArgs::defaults(path);
                commands::run::qemu(&cli.global, &q)
            }
            (None, None) => Err(anyhow::anyhow!(
                "give an image path or prefix, or a backend: linuxkit run qemu PATH"
            )),
            (Some(cli::RunBackend::Other(args)), _) => not_implemented(
                &format!("run {}", args.first().map_or("", String::as_str)),
                "a later wave (other backends)",
            ),
        },
        Command::Pkg(cmd) => commands::pkg::run(&cli.global, cmd),
        Command::Cache(args) => commands::cache::run(&cli.global, args),
        Command::Push(cli::ProviderCommand::Provider(args)) => not_implemented(
            &format!("push {}", args.first().map_or("", String::as_str)),
            "a later wave (providers)",
        ),
        Command::Serve(args) => commands::serve::run(&cli.global, args),
        Command::Metadata(cli::MetadataCommand::Create { file, data }) => {
            lk_ops::metadata::write_iso(file, data.as_bytes())
                .map(|_| Exit::Success)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", file.display()))
        }
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) => {
            output::error(&err);
            Exit::Failure.into()
        }
    }
}

pub(crate) fn not_implemented(command: &str, when: &str) -> anyhow::Result<Exit> {
    output::error(&anyhow::anyhow!(
        "`linuxkit {command}` is not implemented yet"
    ));
    output::hint(&format!(
        "it arrives with {when}; `linuxkit validate` checks configuration files today"
    ));
    Ok(Exit::NotImplemented)
}
