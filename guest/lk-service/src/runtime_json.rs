//! `runtime.json`: the LinuxKit runtime actions the host writes next to each bundle's
//! `config.json`. The types are the bundle contract shared with the host build
//! (`lk-bundle`); this module reads the file.

use std::path::Path;

pub use lk_bundle::{BindNs, Interface, Mount, RuntimeConfig};

use crate::Error;

/// Parses the text of a `runtime.json`.
pub fn parse(text: &str) -> Result<RuntimeConfig, serde_json::Error> {
    serde_json::from_str(text)
}

/// Reads `<bundle>/runtime.json`; a missing file is the empty configuration.
pub fn load(bundle: &Path) -> Result<RuntimeConfig, Error> {
    let path = bundle.join("runtime.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).map_err(|e| Error::Json {
            path: path.clone(),
            source: e,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RuntimeConfig::default()),
        Err(e) => Err(Error::Io { path, source: e }),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_empty_and_a_bad_one_names_its_path() {
        let dir = std::env::temp_dir().join(format!("lk-service-rj-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load(&dir).unwrap(), RuntimeConfig::default());
        std::fs::write(dir.join("runtime.json"), "{bad").unwrap();
        let e = load(&dir).unwrap_err().to_string();
        assert!(e.contains("runtime.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_every_runtime_json_our_build_writes() {
        // The host side (lk-spec's golden files) and this reader agree on every key.
        let mut n = 0;
        for (path, text) in crate::testdata::golden("runtime.json") {
            let c = parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(c.mounts.iter().all(|m| !m.destination.is_empty()), "{path}");
            n += 1;
        }
        assert!(n > 10, "only {n} golden runtime.json files");
    }
}
