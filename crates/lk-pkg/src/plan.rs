//! A package build as a plan (spec/host.md §5.3-5.4): the platforms to build for, whether
//! the cache or the registry already has them, and the build arguments in LinuxKit's order.
//! Pure: the caller answers "is this platform cached?" and "does the registry serve these?",
//! and builds the `@lkt:pkg:` packages an argument names; executing the plan (a builder
//! back end, the cache) is separate.

use std::path::{Path, PathBuf};

use lk_oci::Platform;

/// The platform flags of `pkg build`, parsed at the edge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlatformFlags {
    /// `--platforms`: exactly these (empty: the default set).
    pub platforms: Vec<Platform>,
    /// `--skip-platforms`: removed from the default set.
    pub skip: Vec<Platform>,
}

/// Why the platforms of a package could not be chosen.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// A flag item that is not `os/arch`.
    #[error("{flag} {value}: expected os/arch, such as linux/arm64")]
    Flag {
        /// `--platforms` or `--skip-platforms`.
        flag: &'static str,
        /// The item as written.
        value: String,
    },
    /// LinuxKit's rule: the two flags exclude each other.
    #[error("--platforms and --skip-platforms exclude each other")]
    Both,
    /// build.yml's `arches` leave out this host's, and no `--platforms` was given.
    #[error(
        "{tag} does not build for this host's architecture ({host}); its arches are {arches}; pass --platforms"
    )]
    NotForHost {
        /// The package tag.
        tag: String,
        /// This host's architecture.
        host: String,
        /// build.yml's `arches`, joined.
        arches: String,
    },
}

impl PlatformFlags {
    /// Parses `--platforms` and `--skip-platforms` values (each item `os/arch[/variant]`,
    /// items comma-separated or repeated).
    pub fn parse(platforms: &[String], skip: &[String]) -> Result<PlatformFlags, PlatformError> {
        let list =
            |flag: &'static str, values: &[String]| -> Result<Vec<Platform>, PlatformError> {
                values
                    .iter()
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| {
                        Platform::parse(v).ok_or_else(|| PlatformError::Flag {
                            flag,
                            value: v.to_owned(),
                        })
                    })
                    .collect()
            };
        let flags = PlatformFlags {
            platforms: list("--platforms", platforms)?,
            skip: list("--skip-platforms", skip)?,
        };
        if !flags.platforms.is_empty() && !flags.skip.is_empty() {
            return Err(PlatformError::Both);
        }
        Ok(flags)
    }
}

/// build.yml's default `arches` when it lists none (LinuxKit's).
pub const DEFAULT_ARCHES: [&str; 3] = ["amd64", "arm64", "riscv64"];

/// build.yml's `arches`, or LinuxKit's default list when it has none.
fn listed_arches(arches: Option<&[String]>) -> Vec<&str> {
    match arches {
        Some(a) => a.iter().map(String::as_str).collect(),
        None => DEFAULT_ARCHES.to_vec(),
    }
}

/// The platforms to build `tag` for: `--platforms` as given; else this host's architecture
/// if build.yml's `arches` list it (LinuxKit builds every listed arch, under emulation for
/// foreign ones; we build natively only), minus `--skip-platforms`. An empty result means
/// "nothing to build" (LinuxKit: `Skipping <tag> with no architectures to build`).
pub fn select_platforms(
    tag: &str,
    arches: Option<&[String]>,
    host: &str,
    flags: &PlatformFlags,
) -> Result<Vec<Platform>, PlatformError> {
    if !flags.platforms.is_empty() {
        return Ok(flags.platforms.clone());
    }
    let listed = listed_arches(arches);
    if !listed.contains(&host) {
        return Err(PlatformError::NotForHost {
            tag: tag.to_owned(),
            host: host.to_owned(),
            arches: listed.join(", "),
        });
    }
    let host = Platform::linux(host);
    let skipped = flags.skip.iter().any(|s| host.satisfies(s));
    Ok(if skipped { Vec::new() } else { vec![host] })
}

/// The platforms of a package built because another's build args name it (`@lkt:pkg:`):
/// those asked for that its `arches` list (a cross build's base image, used by stages on the
/// build host, lists only that host's), else what [`select_platforms`] gives without
/// `--platforms`.
pub fn select_dependency_platforms(
    tag: &str,
    arches: Option<&[String]>,
    host: &str,
    flags: &PlatformFlags,
) -> Result<Vec<Platform>, PlatformError> {
    let listed = listed_arches(arches);
    let asked: Vec<Platform> = flags
        .platforms
        .iter()
        .filter(|p| listed.contains(&p.architecture.as_str()))
        .cloned()
        .collect();
    if !asked.is_empty() {
        return Ok(asked);
    }
    let defaults = PlatformFlags {
        platforms: Vec::new(),
        skip: flags.skip.clone(),
    };
    select_platforms(tag, arches, host, &defaults)
}

/// What to do about a package's platforms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No platforms to build (all skipped).
    NoPlatforms,
    /// Every wanted platform is in the local cache.
    InCache,
    /// `--pull` brought every platform the cache lacked.
    Pulled,
    /// The registry serves every platform the cache lacks ("don't build what Hub has").
    InRegistry,
    /// `--nobuild`: these platforms are missing and are not built.
    NotBuilt(Vec<Platform>),
    /// Build these (the ones the cache lacks, or all with `--force`).
    Build(Vec<Platform>),
}

/// How `pkg build` may build: `--force` (always) or `--nobuild` (never); the CLI keeps
/// them apart, as LinuxKit does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BuildMode {
    /// Build what the cache lacks and the registry does not serve.
    #[default]
    Missing,
    /// `--force`: build every wanted platform.
    Force,
    /// `--nobuild`: build nothing (push what the cache has).
    Never,
}

/// Where a package's platforms may be already: the caller's answers, asked in LinuxKit's
/// order (the cache, then with `--pull` a pull, then the registry).
pub trait Sources {
    /// Whether the local cache has `platform`.
    fn cached(&self, platform: &Platform) -> bool;
    /// `--pull`: pulls `platforms` into the cache; returns the ones that came.
    fn pull(&mut self, platforms: &[Platform]) -> Vec<Platform>;
    /// Whether the registry serves every one of `platforms` (asked once, without pulling).
    fn in_registry(&mut self, platforms: &[Platform]) -> bool;
}

/// Decides from the wanted platforms: `Force` builds them all; otherwise the ones the cache
/// lacks, after `pull` (LinuxKit's `--pull`) brought what the registry has, unless the
/// registry serves all of them; `Never` builds none of them.
pub fn decide(
    wanted: &[Platform],
    mode: BuildMode,
    pull: bool,
    sources: &mut dyn Sources,
) -> Decision {
    if wanted.is_empty() {
        return Decision::NoPlatforms;
    }
    if mode == BuildMode::Force {
        return Decision::Build(wanted.to_vec());
    }
    let mut missing: Vec<Platform> = wanted
        .iter()
        .filter(|p| !sources.cached(p))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Decision::InCache;
    }
    if pull {
        let got = sources.pull(&missing);
        missing.retain(|p| !got.contains(p));
        if missing.is_empty() {
            return Decision::Pulled;
        }
    }
    if mode == BuildMode::Never {
        Decision::NotBuilt(missing)
    } else if sources.in_registry(&missing) {
        Decision::InRegistry
    } else {
        Decision::Build(missing)
    }
}

/// A build argument's value: as written, or the tag of a package to build first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgValue {
    /// A plain value.
    Literal(String),
    /// `@lkt:pkg:<dir>`: the directory, resolved against the file that named it.
    Package(PathBuf),
}

/// One `--build-arg-file`: its path and contents (read by the caller).
#[derive(Clone, Debug)]
pub struct ArgFile {
    /// The file (`@lkt:pkg:` paths in it are relative to its directory).
    pub path: PathBuf,
    /// Its text: `K=V` per line; blank lines and `#` comments skipped.
    pub text: String,
}

/// The build arguments in LinuxKit's order, later winning: build.yml `buildArgs`
/// (`@lkt:pkg:` relative to the package), each `--build-arg-file` (relative to the file),
/// then `--build-arg` (relative to the package).
pub fn build_args(
    package_dir: &Path,
    yml_args: &[String],
    files: &[ArgFile],
    cli_args: &[String],
) -> Vec<(String, ArgValue)> {
    let mut out: Vec<(String, ArgValue)> = Vec::new();
    let mut put = |base: &Path, a: &str| {
        let (k, v) = a.split_once('=').unwrap_or((a, ""));
        let value = match v.strip_prefix("@lkt:pkg:") {
            Some(dep) => ArgValue::Package(base.join(dep)),
            None => ArgValue::Literal(v.to_owned()),
        };
        match out.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = value,
            None => out.push((k.to_owned(), value)),
        }
    };
    for a in yml_args {
        put(package_dir, a);
    }
    for f in files {
        let base = f.path.parent().unwrap_or(Path::new("."));
        for line in f.text.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with('#') {
                put(base, line);
            }
        }
    }
    for a in cli_args {
        put(package_dir, a);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn platforms_default_to_the_host_when_listed() {
        let none = PlatformFlags::default();
        let got = select_platforms("o/p:t", Some(&s(&["amd64", "arm64"])), "amd64", &none);
        assert_eq!(got, Ok(vec![Platform::linux("amd64")]));
        // LinuxKit's default arches when build.yml lists none.
        assert_eq!(
            select_platforms("o/p:t", None, "riscv64", &none),
            Ok(vec![Platform::linux("riscv64")])
        );
        let e = select_platforms("o/p:t", Some(&s(&["arm64"])), "amd64", &none).unwrap_err();
        assert_eq!(
            e.to_string(),
            "o/p:t does not build for this host's architecture (amd64); its arches are arm64; pass --platforms"
        );
    }

    #[test]
    fn platforms_flag_wins_and_skip_removes() {
        let f = PlatformFlags::parse(&s(&["linux/arm64,linux/amd64"]), &[]).unwrap();
        let got = select_platforms("o/p:t", Some(&s(&["amd64"])), "amd64", &f).unwrap();
        assert_eq!(
            got,
            vec![Platform::linux("arm64"), Platform::linux("amd64")]
        );
        let skip = PlatformFlags::parse(&[], &s(&["linux/amd64"])).unwrap();
        assert_eq!(
            select_platforms("o/p:t", None, "amd64", &skip),
            Ok(Vec::new())
        );
        let other = PlatformFlags::parse(&[], &s(&["linux/s390x"])).unwrap();
        assert_eq!(
            select_platforms("o/p:t", None, "amd64", &other),
            Ok(vec![Platform::linux("amd64")])
        );
    }

    #[test]
    fn dependencies_build_the_asked_platforms_they_list() {
        let f = PlatformFlags::parse(&s(&["linux/amd64,linux/arm64"]), &[]).unwrap();
        let only_host = select_dependency_platforms("o/b:t", Some(&s(&["amd64"])), "amd64", &f);
        assert_eq!(only_host, Ok(vec![Platform::linux("amd64")]));
        let both = select_dependency_platforms("o/b:t", None, "amd64", &f).unwrap();
        assert_eq!(both.len(), 2);
        let arm = PlatformFlags::parse(&s(&["linux/arm64"]), &[]).unwrap();
        let fallback = select_dependency_platforms("o/b:t", Some(&s(&["amd64"])), "amd64", &arm);
        assert_eq!(fallback, Ok(vec![Platform::linux("amd64")]));
    }

    #[test]
    fn platform_flags_are_checked() {
        assert_eq!(
            PlatformFlags::parse(&s(&["amd64"]), &[]),
            Err(PlatformError::Flag {
                flag: "--platforms",
                value: "amd64".into()
            })
        );
        assert_eq!(
            PlatformFlags::parse(&s(&["linux/amd64"]), &s(&["linux/arm64"])),
            Err(PlatformError::Both)
        );
        assert_eq!(
            PlatformFlags::parse(&s(&["linux/amd64, ,linux/arm64"]), &[])
                .unwrap()
                .platforms
                .len(),
            2
        );
    }

    /// Answers from fixed sets, recording what was asked.
    #[derive(Default)]
    struct Fake {
        cached: Vec<&'static str>,
        pullable: Vec<&'static str>,
        registry: bool,
        pulled: Vec<Platform>,
        asked: Vec<Platform>,
    }

    impl Sources for Fake {
        fn cached(&self, p: &Platform) -> bool {
            self.cached.contains(&p.architecture.as_str())
        }
        fn pull(&mut self, ps: &[Platform]) -> Vec<Platform> {
            let got: Vec<Platform> = ps
                .iter()
                .filter(|p| self.pullable.contains(&p.architecture.as_str()))
                .cloned()
                .collect();
            self.pulled.extend(got.iter().cloned());
            got
        }
        fn in_registry(&mut self, ps: &[Platform]) -> bool {
            self.asked.extend_from_slice(ps);
            self.registry
        }
    }

    #[test]
    fn decisions() {
        let both = [Platform::linux("amd64"), Platform::linux("arm64")];
        let arm = || vec![Platform::linux("arm64")];
        let amd_cached = || Fake {
            cached: vec!["amd64"],
            ..Fake::default()
        };
        let (missing, force) = (BuildMode::Missing, BuildMode::Force);
        let mut f = amd_cached();
        assert_eq!(decide(&[], missing, false, &mut f), Decision::NoPlatforms);
        assert_eq!(
            decide(&both[..1], missing, false, &mut f),
            Decision::InCache
        );
        assert_eq!(
            decide(&both, force, true, &mut f),
            Decision::Build(both.to_vec())
        );
        // --nobuild: nothing built, the registry not asked.
        assert_eq!(
            decide(&both, BuildMode::Never, false, &mut f),
            Decision::NotBuilt(arm())
        );
        assert!(f.asked.is_empty() && f.pulled.is_empty());
        // Only the missing platform is built, after the registry said no for it alone.
        assert_eq!(
            decide(&both, missing, false, &mut f),
            Decision::Build(arm())
        );
        assert_eq!(f.asked, arm());
        let mut f = Fake {
            registry: true,
            ..amd_cached()
        };
        assert_eq!(decide(&both, missing, false, &mut f), Decision::InRegistry);
        assert!(f.pulled.is_empty(), "without --pull nothing is pulled");
    }

    #[test]
    fn pull_brings_what_it_can_and_the_rest_is_built() {
        let both = [Platform::linux("amd64"), Platform::linux("arm64")];
        let mut f = Fake {
            pullable: vec!["amd64", "arm64"],
            ..Fake::default()
        };
        assert_eq!(
            decide(&both, BuildMode::Missing, true, &mut f),
            Decision::Pulled
        );
        assert!(f.asked.is_empty(), "the registry is not asked again");
        let mut f = Fake {
            pullable: vec!["arm64"],
            ..Fake::default()
        };
        assert_eq!(
            decide(&both, BuildMode::Missing, true, &mut f),
            Decision::Build(vec![Platform::linux("amd64")])
        );
        assert_eq!(f.pulled, vec![Platform::linux("arm64")]);
        // --nobuild with --pull: pulls, builds nothing.
        let mut f = Fake {
            pullable: vec!["arm64"],
            ..Fake::default()
        };
        assert_eq!(
            decide(&both, BuildMode::Never, true, &mut f),
            Decision::NotBuilt(vec![Platform::linux("amd64")])
        );
    }

    #[test]
    fn build_args_in_linuxkit_order() {
        let files = [ArgFile {
            path: "/args/more.args".into(),
            text: "# comment\n\n B=file \nDEP=@lkt:pkg:../base\n".into(),
        }];
        let got = build_args(
            Path::new("/pkg/x"),
            &s(&["A=yml", "B=yml", "BASE=@lkt:pkg:../debian-base"]),
            &files,
            &s(&["A=cli", "FLAG"]),
        );
        let lit = |v: &str| ArgValue::Literal(v.into());
        assert_eq!(
            got,
            vec![
                ("A".into(), lit("cli")),
                ("B".into(), lit("file")),
                (
                    "BASE".into(),
                    ArgValue::Package("/pkg/x/../debian-base".into())
                ),
                ("DEP".into(), ArgValue::Package("/args/../base".into())),
                ("FLAG".into(), lit("")),
            ]
        );
    }
}
