//! `linuxkit build`.

use lk_ops::Env;
use lk_ops::build::{BuildError, BuildSettings, FormatError, build, dry_run};
use lk_ops::validate::{Input, ValidateError};

use crate::Exit;
use crate::cli::{BuildArgs, Global};
use crate::output::{self, Lines};
use crate::progress::PullProgress;

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

pub fn run(global: &Global, env: &Env, args: &BuildArgs) -> anyhow::Result<Exit> {
    let settings = BuildSettings {
        images: super::image_settings(global, env, args.cache.as_ref()),
        arch: args.arch,
        inputs: args.files.iter().map(|f| Input::from_arg(f)).collect(),
        name: args.name.clone(),
        dir: args.dir.clone(),
        output: args.output.clone(),
        formats: args.format.clone(),
        pull: args.pull,
        docker: args.docker,
        decompress_kernel: args.decompress_kernel,
        no_sbom: args.no_sbom,
        sbom_output: args.sbom_output.clone(),
        input_tar: args.input_tar.clone(),
        initrd_compression: match args.initrd_compression.as_str() {
            "auto" => None,
            c => Some(c.parse()?),
        },
        size: args.size.parse().map_err(|e: String| anyhow::anyhow!(e))?,
        bootloaders: args.bootloaders.clone(),
    };
    let quiet = global.quiet || args.output.as_deref() == Some("-");
    let reporter = Lines { quiet };
    if args.dry_run {
        return match dry_run(&settings, &reporter) {
            Ok(yaml) => {
                output::data(&yaml);
                Ok(Exit::Success)
            }
            Err(e) => failed(e),
        };
    }
    let mut stdout = std::io::stdout().lock();
    match build(
        &settings,
        env,
        &mut stdout,
        &PullProgress::new(quiet),
        &reporter,
    ) {
        Ok(artifacts) => {
            if !quiet {
                let total: u64 = artifacts.files.iter().map(|a| a.size).sum();
                for a in &artifacts.files {
                    output::info(
                        false,
                        &format!("{:>10}  {}", human(a.size), a.path.display()),
                    );
                }
                output::info(false, &format!("{:>10}  total", human(total)));
            }
            Ok(Exit::Success)
        }
        Err(e) => failed(e),
    }
}

fn failed(e: BuildError) -> anyhow::Result<Exit> {
    match e {
        BuildError::Config(ValidateError::Invalid(diags)) => {
            for d in &diags.0 {
                output::error(&anyhow::anyhow!("{d}"));
            }
            Ok(Exit::Failure)
        }
        BuildError::Format(FormatError::NotImplemented(f)) => {
            let e = FormatError::NotImplemented(f);
            output::error(&anyhow::anyhow!(
                "`linuxkit build --format {f}` is not implemented yet"
            ));
            if let Some(h) = e.hint() {
                output::hint(h);
            }
            Ok(Exit::NotImplemented)
        }
        e => Ok(output::failure(e.hint(), e.into())),
    }
}
