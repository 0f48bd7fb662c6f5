//! The host build's golden `config.json` / `runtime.json` files (crates/lk-spec), the
//! contract this crate reads.

use std::path::Path;

/// `(path, text)` of every golden file whose name ends with `suffix`.
pub fn golden(suffix: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/lk-spec/tests/golden/oci");
    let mut out = Vec::new();
    for case in std::fs::read_dir(&root).expect("golden oci directory") {
        let dir = case.expect("entry").path().join("expected");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for f in rd.flatten() {
            let p = f.path();
            if p.to_string_lossy().ends_with(suffix) {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).expect("readable"),
                ));
            }
        }
    }
    out.sort();
    out
}
