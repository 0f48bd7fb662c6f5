//! `linuxkit metadata create` and the `run --data` ISO: one file, `config`, on an ISO 9660
//! volume labelled `CIDATA`, which the in-VM metadata tool reads from `/dev/sr*`.

use std::io::{self, Write};
use std::path::Path;

use lk_formats::staged::Staged;

/// Writes the metadata ISO at `path` (atomically), dated `mtime` (the binary passes
/// `SOURCE_DATE_EPOCH` when set, so the same data gives the same bytes, else now).
pub fn write_iso(path: &Path, data: &[u8], mtime: u64) -> io::Result<u64> {
    let mut st = Staged::create(path)?;
    lk_formats::config_iso::write_config_iso(&mut st, data, mtime)?;
    st.flush()?;
    st.commit()
}
