//! Where a package's platforms come from when they are not built: the cache, a `--pull`
//! from the registry, the registry's word that it has them; and `--docker`'s copy of the
//! result in the local Docker engine.

use lk_oci::Platform;
use lk_pkg::Package;
use lk_pkg::builder::{Engine, ImageBuilder};
use lk_pkg::plan::Sources;

use super::PkgBuildError;
use super::run::{Run, builder_err};
use crate::cache::{self, ImageSettings};

/// The plan's questions, answered for one package (`full`: its canonical tag).
pub(super) struct RunSources<'r, 'a> {
    pub(super) run: &'r Run<'a>,
    pub(super) cache: &'r lk_cache::Cache,
    pub(super) full: &'r str,
}

impl Sources for RunSources<'_, '_> {
    fn cached(&self, platform: &Platform) -> bool {
        self.cache.resolve(self.full, platform).is_ok()
    }

    /// Pulls the platforms one by one; one the registry lacks (or a failed pull, which is
    /// reported) is left to the build.
    fn pull(&mut self, platforms: &[Platform]) -> Vec<Platform> {
        let mut got = Vec::new();
        for pl in platforms {
            let settings = ImageSettings {
                platforms: vec![pl.clone()],
                ..self.run.s.images.clone()
            };
            self.run.reporter.info(&format!(
                "--pull: pulling {} for {}",
                self.full, pl.architecture
            ));
            match cache::pull(&settings, &[self.full.to_owned()], &lk_resolve::Quiet) {
                Ok(_) if self.cached(pl) => got.push(pl.clone()),
                Ok(_) => self.run.reporter.info(&format!(
                    "--pull: {} has no {} image in the registry; building it",
                    self.full, pl.architecture
                )),
                Err(e) => self.run.reporter.info(&format!(
                    "--pull: {} for {} not pulled ({}); building it",
                    self.full,
                    pl.architecture,
                    lk_util::error_chain(&e)
                )),
            }
        }
        got
    }

    fn in_registry(&mut self, platforms: &[Platform]) -> bool {
        let (Ok(r), Ok(client)) = (
            lk_spec::ImageRef::parse(self.full),
            self.run.s.images.client(),
        ) else {
            return false;
        };
        lk_resolve::serves_platforms(&client, &r, platforms)
    }
}

impl Run<'_> {
    /// `--docker`: each wanted platform's image from the cache into the local Docker engine
    /// as `<tag>-<arch>`, and this host's also as `<tag>` (LinuxKit's names).
    pub(super) fn load_into_docker(
        &self,
        p: &Package,
        cache: &lk_cache::Cache,
        wanted: &[Platform],
    ) -> Result<(), PkgBuildError> {
        let engine = Engine::Docker(self.docker.clone());
        let tag = p.tag();
        let err = builder_err(&engine, &tag);
        for pl in wanted {
            if cache.resolve(&p.full_tag(), pl).is_err() {
                continue;
            }
            let arch_tag = format!("{tag}-{}", pl.architecture);
            let mut tar = Vec::new();
            cache::export(
                &self.s.images,
                &tag,
                pl,
                cache::ExportFormat::Docker,
                Some(&arch_tag),
                &mut tar,
            )?;
            engine.load(&mut &tar[..]).map_err(&err)?;
            if pl.architecture == crate::host_arch() {
                engine.tag(&arch_tag, &tag).map_err(&err)?;
            }
            self.reporter.info(&format!(
                "--docker: loaded {arch_tag} into the Docker engine"
            ));
        }
        Ok(())
    }
}
