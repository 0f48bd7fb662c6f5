//! `linuxkit cache`.

use std::path::PathBuf;

use lk_ops::Env;
use lk_ops::Platform;
use lk_ops::cache::{self, ImageSettings};

use crate::Exit;
use crate::cli::{CacheArgs, CacheCommand, Global, ListFormat};
use crate::output;
use crate::progress::PullProgress;

fn settings(
    global: &Global,
    env: &Env,
    dir: Option<&PathBuf>,
    insecure: &[String],
) -> ImageSettings {
    ImageSettings {
        insecure: insecure.to_vec(),
        ..super::image_settings(global, env, dir)
    }
}

pub fn run(global: &Global, env: &Env, args: &CacheArgs) -> anyhow::Result<Exit> {
    let dir = args.cache.as_ref();
    match &args.command {
        CacheCommand::Ls { format } => {
            let images = cache::list(&settings(global, env, dir, &[]))?;
            match format {
                ListFormat::Json => output::data(&serde_json::to_string_pretty(&images)?),
                ListFormat::Table => {
                    let mut text = format!("{:<80} {}\n", "image name", "root manifest hash");
                    for i in &images {
                        text.push_str(&format!("{:<80} {}\n", i.name, i.digest));
                    }
                    output::data(&text);
                }
            }
        }
        CacheCommand::Pull {
            platform,
            insecure_registry,
            docker,
            layer_compression,
            names,
        } => {
            let mut s = settings(global, env, dir, insecure_registry);
            for p in platform {
                s.platforms.push(Platform::parse(p).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--platform {p}: expected os/arch[/variant], such as linux/arm64"
                    )
                })?);
            }
            let pulled = if *docker {
                let arch = s.platforms.first().map_or_else(
                    || lk_ops::host_arch().to_owned(),
                    |p| p.architecture.clone(),
                );
                s.layer_compression = layer_compression.parse()?;
                cache::pull_from_docker(&s, names, &arch)?
                    .into_iter()
                    .map(|p| (p.name, p.digest))
                    .collect()
            } else {
                cache::pull(&s, names, &PullProgress::new(global.quiet))?
            };
            for (name, digest) in pulled {
                output::data(&format!("{name} {digest}"));
            }
        }
        CacheCommand::Rm {
            published_only,
            names,
        } => {
            let r = cache::remove(&settings(global, env, dir, &[]), names, *published_only)?;
            for n in &r.removed {
                output::data(&format!("removed {n}"));
            }
            output::info(
                global.quiet,
                &format!(
                    "{} blob(s) deleted, {} kept because other images use them",
                    r.deleted_blobs, r.kept_shared
                ),
            );
        }
        CacheCommand::Clean { published_only } => {
            let r = cache::clean(&settings(global, env, dir, &[]), *published_only)?;
            output::info(
                global.quiet,
                &format!("removed {} image(s)", r.removed.len()),
            );
        }
        CacheCommand::Push {
            insecure_registry,
            remote_name,
            with_arch_tags,
            override_existing,
            names,
        } => {
            let s = settings(global, env, dir, insecure_registry);
            for p in cache::push(
                &s,
                names,
                remote_name.as_deref(),
                cache::PushFlags {
                    arch_tags: *with_arch_tags,
                    override_existing: *override_existing,
                },
            )? {
                let what = if p.uploaded {
                    "pushed"
                } else {
                    "already in the registry, skipped (use --override)"
                };
                output::data(&format!("{} {} {what}", p.name, p.digest));
            }
        }
        CacheCommand::Export {
            platform,
            outfile,
            format,
            name,
            image,
        } => {
            let format = match format.as_str() {
                "oci" => Some(lk_ops::cache::ExportFormat::Oci),
                "docker" => Some(lk_ops::cache::ExportFormat::Docker),
                "filesystem" => None,
                other => anyhow::bail!("--format {other}: use oci, docker or filesystem"),
            };
            let platform = match platform {
                Some(p) => Platform::parse(p)
                    .ok_or_else(|| anyhow::anyhow!("--platform {p}: expected os/arch[/variant]"))?,
                None => Platform::linux(lk_ops::host_arch()),
            };
            let s = settings(global, env, dir, &[]);
            if outfile == "-" {
                let mut out = std::io::stdout().lock();
                export(&s, image, &platform, format, name.as_deref(), &mut out)?;
            } else {
                let path = PathBuf::from(outfile);
                let temp = path.with_extension("partial");
                let file = std::fs::File::create(&temp)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", temp.display()))?;
                let mut f = std::io::BufWriter::new(file);
                let result = export(&s, image, &platform, format, name.as_deref(), &mut f)
                    .and_then(|()| std::io::Write::flush(&mut f).map_err(Into::into));
                drop(f);
                if let Err(e) = result {
                    let _ = std::fs::remove_file(&temp);
                    return Err(e);
                }
                std::fs::rename(&temp, &path)?;
            }
        }
        CacheCommand::Import { file } => {
            let s = settings(global, env, dir, &[]);
            let report = if file == "-" {
                cache::import(&s, &mut std::io::stdin().lock())?
            } else if std::path::Path::new(file).is_dir() {
                cache::import_dir(&s, std::path::Path::new(file))?
            } else {
                let f = std::fs::File::open(file)
                    .map_err(|e| anyhow::anyhow!("cannot open {file}: {e}"))?;
                cache::import(&s, &mut std::io::BufReader::new(f))?
            };
            for n in &report.names {
                output::data(&format!("imported {n}"));
            }
            output::info(global.quiet, &format!("{} blob(s) stored", report.blobs));
        }
    }
    Ok(Exit::Success)
}

/// One export in the chosen format (`None`: the flattened filesystem).
fn export(
    s: &lk_ops::cache::ImageSettings,
    image: &str,
    platform: &Platform,
    format: Option<lk_ops::cache::ExportFormat>,
    name: Option<&str>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    match format {
        Some(f) => cache::export(s, image, platform, f, name, out)?,
        None => cache::export_filesystem(s, image, platform, out)?,
    }
    Ok(())
}
