//! `linuxkit`: parse arguments, call one use case, print the result.

mod cli;
mod commands;
mod exit;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
pub(crate) use crate::exit::{Exit, not_implemented};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.global.quiet && cli.global.verbose.is_some_and(|v| v > 0) {
        output::error(&anyhow::anyhow!("--quiet and --verbose cannot be combined"));
        return Exit::Failure.into();
    }
    // The environment is read here, once, and passed down.
    let env = match lk_ops::Env::from_vars(|k| std::env::var(k).ok()) {
        Ok(env) => env,
        Err(e) => {
            output::error(&e.into());
            return Exit::Failure.into();
        }
    };
    let g = &cli.global;
    let result = match &cli.command {
        Command::Validate(args) => commands::validate::run(g, args),
        Command::Version(args) => commands::version::run(args),
        Command::Build(args) => commands::build::run(g, &env, args),
        Command::Run(run) => match (&run.backend, &run.path) {
            (Some(cli::RunBackend::Qemu(q)), _) => commands::run::qemu(g, &env, q),
            (None, Some(path)) => cli::QemuArgs::defaults(path)
                .map_err(anyhow::Error::from)
                .and_then(|q| commands::run::qemu(g, &env, &q)),
            (None, None) => Err(anyhow::anyhow!(
                "give an image path or prefix, or a backend: linuxkit run qemu PATH"
            )),
            (Some(cli::RunBackend::Other(args)), _) => not_implemented(
                &format!("run {}", args.first().map_or("", String::as_str)),
                "a later wave (other backends)",
            ),
        },
        Command::Pkg(cmd) => commands::pkg::run(g, &env, cmd),
        Command::Cache(args) => commands::cache::run(g, &env, args),
        Command::Push(cli::ProviderCommand::Provider(args)) => not_implemented(
            &format!("push {}", args.first().map_or("", String::as_str)),
            "a later wave (providers)",
        ),
        Command::Serve(args) => commands::serve::run(g, args),
        Command::Metadata(cli::MetadataCommand::Create { file, data }) => {
            lk_ops::metadata::write_iso(file, data.as_bytes(), env.now_or_epoch())
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
