//! `linuxkit validate`.

use lk_ops::validate::{Input, PackageResolver, ValidateError, validate};

use crate::Exit;
use crate::cli::{ConfigFormat, Global, ValidateArgs};
use crate::output::{self, Lines};

pub fn run(global: &Global, args: &ValidateArgs) -> anyhow::Result<Exit> {
    let inputs: Vec<Input> = args.files.iter().map(|f| Input::from_arg(f)).collect();
    match validate(
        &inputs,
        &PackageResolver::default(),
        &Lines {
            quiet: global.quiet,
        },
    ) {
        Ok(config) => {
            match args.format {
                Some(ConfigFormat::Json) => output::data(&lk_spec::normalize::to_json(&config)),
                Some(ConfigFormat::Yaml) => output::data(&lk_spec::normalize::to_yaml(&config)),
                None => output::info(global.quiet, &format!("{}: valid", args.files.join(", "))),
            }
            Ok(Exit::Success)
        }
        Err(ValidateError::Invalid(diags)) => {
            for d in &diags.0 {
                output::error(&anyhow::anyhow!("{d}"));
            }
            let n = diags.len();
            output::info(
                false,
                &format!("{n} problem{} found", if n == 1 { "" } else { "s" }),
            );
            Ok(Exit::Failure)
        }
        Err(e) => Err(e.into()),
    }
}
