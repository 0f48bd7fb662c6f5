//! `linuxkit pkg`.

use lk_ops::Env;
use lk_ops::cache::ImageSettings;
use lk_ops::pkg::{PkgBuildSettings, PkgOptions, build, show_tags};

use crate::Exit;
use crate::cli::{Global, PkgArgs, PkgCommand, PkgCommon};
use crate::output::{self, Lines};

/// The `pkg` persistent flags as options.
pub fn options(c: &PkgCommon, env: &Env) -> PkgOptions {
    PkgOptions {
        org: c.org.clone(),
        build_yml: c.build_yml.clone(),
        hash: c.hash.clone(),
        tag: c.tag.clone(),
        hash_commit: c.hash_commit.clone().unwrap_or_else(|| "HEAD".into()),
        hash_path: c.hash_path.clone(),
        force_dirty: c.force_dirty,
        dev: c.dev,
        user: env.user.clone(),
        network: crate::cli::flag_pair(c.network, c.nonetwork),
        disable_cache: crate::cli::flag_pair(c.disable_cache, c.enable_cache),
    }
}

/// The registry settings with the `pkg` flags' `--registry-creds`.
fn pkg_image_settings(
    global: &Global,
    env: &Env,
    c: &PkgCommon,
    cache: Option<&std::path::PathBuf>,
) -> anyhow::Result<ImageSettings> {
    let mut s = super::image_settings(global, env, cache);
    for v in &c.registry_creds {
        let (registry, creds) = lk_ops::cache::Credentials::parse_flag(v)?;
        s.credentials.insert(registry, creds);
    }
    Ok(s)
}

fn build_cmd(global: &Global, env: &Env, args: &PkgArgs, push: bool) -> anyhow::Result<Exit> {
    if let Some((flag, why)) = args.buildkit_only.first_given() {
        output::error(&anyhow::anyhow!("{flag} is not supported: {why}"));
        output::hint(&format!(
            "drop {flag}; docs/compatibility.md lists every pkg build flag"
        ));
        return Ok(Exit::Failure);
    }
    let s = PkgBuildSettings {
        images: lk_ops::cache::ImageSettings {
            layer_compression: args.layer_compression.parse()?,
            ..pkg_image_settings(global, env, &args.common, args.cache.as_ref())?
        },
        options: options(&args.common, env),
        mode: match (args.force, args.nobuild) {
            (true, _) => lk_ops::pkg::BuildMode::Force,
            (false, true) => lk_ops::pkg::BuildMode::Never,
            (false, false) => lk_ops::pkg::BuildMode::Missing,
        },
        dockerfile: args.dockerfile.clone(),
        platforms: lk_ops::pkg::PlatformFlags::parse(&args.platforms, &args.skip_platforms)?,
        build_args: args.build_args.clone(),
        build_arg_files: args.build_arg_files.clone(),
        builder: args.builder,
        builders: lk_ops::pkg::RemoteBuilders::from_flag_or_env(
            args.builders.as_deref(),
            env.builders.as_deref(),
        )?,
        buildah: env.buildah.clone(),
        push,
        release: args.release.clone(),
        pull: args.pull,
        docker_load: args.docker,
        arch_tags: args.manifest,
        ignore_cached: args.ignore_cached,
        ssh: args.ssh.clone(),
        build_on_terminal: args
            .progress
            .on_terminal(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        dry_run: args.dry_run,
    };
    let results = match build(
        &s,
        &args.dirs,
        &Lines {
            quiet: global.quiet,
        },
    ) {
        Ok(r) => r,
        Err(e @ lk_ops::pkg::PkgBuildError::NoBuilder { .. }) => {
            output::error(&anyhow::Error::new(e));
            output::hint(
                "start a Docker engine: `sudo scripts/dockerd.sh` (after `sudo scripts/setup.sh`, which installs docker.io and buildah), or build without one: --builder buildah",
            );
            return Ok(Exit::Failure);
        }
        Err(e) => return Err(e.into()),
    };
    for r in results {
        if args.dry_run {
            for c in &r.commands {
                output::data(c);
            }
            continue;
        }
        let what = match &r.skipped {
            Some(why) => format!("skipped ({why})"),
            None => format!("built for {}", r.built.join(", ")),
        };
        output::data(&format!("{} {what}", r.tag));
        for p in r.pushed {
            output::data(&format!("{} pushed as {p}", r.tag));
        }
    }
    Ok(Exit::Success)
}

pub fn run(global: &Global, env: &Env, cmd: &PkgCommand) -> anyhow::Result<Exit> {
    match cmd {
        PkgCommand::ShowTag {
            common,
            canonical,
            dirs,
        } => {
            for t in show_tags(dirs, &options(common, env), *canonical)? {
                output::data(&t);
            }
            Ok(Exit::Success)
        }
        PkgCommand::Build(args) => build_cmd(global, env, args, args.push),
        PkgCommand::Push(args) => build_cmd(global, env, args, true),
        PkgCommand::Manifest {
            common,
            release,
            dir,
        } => {
            for line in lk_ops::pkg::manifest(
                &pkg_image_settings(global, env, common, None)?,
                dir,
                &options(common, env),
                release.as_deref(),
            )? {
                output::data(&line);
            }
            Ok(Exit::Success)
        }
        PkgCommand::RemoteTag { common, from, to } => {
            output::data(&lk_ops::pkg::remote_tag(
                &pkg_image_settings(global, env, common, None)?,
                from,
                to,
            )?);
            Ok(Exit::Success)
        }
        PkgCommand::Builder { .. } => crate::not_implemented("pkg builder", "the Packages issue"),
    }
}
