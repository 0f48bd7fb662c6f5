//! The metadata program's userdata expansion on arbitrary bytes: nothing may be written
//! outside the configuration directory, no link may be made, and nothing may panic.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lk_metadata::config::ConfigDir;
use lk_metadata::userdata::{Limits, process};

fn base() -> &'static Path {
    static BASE: OnceLock<std::path::PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("lk-fuzz-userdata-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fn check_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        assert!(!t.is_symlink(), "link made: {}", e.path().display());
        if t.is_dir() {
            check_tree(&e.path());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let root = base.join("config");
    let _ = std::fs::remove_dir_all(&root);
    let cfg = ConfigDir::create(&root).unwrap();
    let limits = Limits { depth: 8, entries: 200, bytes: 1 << 20 };
    process(&cfg, data, limits, &mut |_| {});
    // Only the configuration directory in the base, nothing but plain files and
    // directories inside it.
    let names: Vec<_> = std::fs::read_dir(base).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["config"], "written outside /run/config");
    check_tree(&root);
});
