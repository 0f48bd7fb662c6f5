//! `linuxkit metadata create` and the `run --data` ISO: one file, `config`, on an ISO 9660
//! volume labelled `CIDATA`, which the in-VM metadata tool reads from `/dev/sr*`.

use std::io::{self, Write};
use std::path::Path;

use lk_formats::initrd::Staged;

/// Writes the metadata ISO at `path` (atomically); dated `SOURCE_DATE_EPOCH` when set, so the
/// same data gives the same bytes, else now.
pub fn write_iso(path: &Path, data: &[u8]) -> io::Result<u64> {
    let mtime = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    let mut st = Staged::create(path)?;
    lk_formats::config_iso::write_config_iso(&mut st, data, mtime)?;
    st.flush()?;
    st.commit()
}
