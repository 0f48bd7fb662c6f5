//! `linuxkit build`.

use lk_ops::Platform;
use lk_ops::build::{BuildError, BuildSettings, build, dry_run};
use lk_ops::cache::{ImageSettings, default_cache_dir};
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

pub fn run(global: &Global, args: &BuildArgs) -> anyhow::Result<Exit> {
    let mut images = ImageSettings {
        cache_dir: args.cache.clone().unwrap_or_else(default_cache_dir),
        mirrors: global.mirror.clone(),
        ..ImageSettings::default()
    };
    if let Some(a) = &args.arch {
        images.platforms.push(Platform::linux(a));
    }
    let source_date_epoch =
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.is_empty() => Some(v.trim().parse::<u64>().map_err(|_| {
                anyhow::anyhow!("SOURCE_DATE_EPOCH={v} is not a number of seconds")
            })?),
            _ => None,
        };
    let settings = BuildSettings {
        images,
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
        source_date_epoch,
        input_tar: args.input_tar.clone(),
    };
    let quiet = global.quiet || args.output.as_deref() == Some("-");
    let reporter = Lines { quiet };
    let result = if args.dry_run {
        dry_run(&settings, &reporter)
    } else {
        build(&settings, &PullProgress::new(quiet), &reporter)
    };
    match result {
        Ok(report) => {
            if let Some(yaml) = report.dry_run {
                output::data(&yaml);
            } else if !quiet {
                let total: u64 = report.outputs.iter().map(|o| o.size).sum();
                for o in &report.outputs {
                    output::info(false, &format!("{:>10}  {}", human(o.size), o.path));
                }
                output::info(false, &format!("{:>10}  total", human(total)));
            }
            Ok(Exit::Success)
        }
        Err(BuildError::Config(ValidateError::Invalid(diags))) => {
            for d in &diags.0 {
                output::error(&anyhow::anyhow!("{d}"));
            }
            Ok(Exit::Failure)
        }
        Err(BuildError::FormatNotImplemented(f)) => {
            crate::not_implemented(&format!("build --format {f}"), "the bootable-formats wave")
        }
        Err(e) => Err(e.into()),
    }
}
