//! OCI documents from a registry or an archive: index and manifest (both media type
//! families), image config, platform strings and digests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lk_oci::{
    Document, ImageConfig, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST, Platform,
};

fuzz_target!(|data: &[u8]| {
    for media in [
        MEDIA_OCI_INDEX,
        MEDIA_OCI_MANIFEST,
        MEDIA_DOCKER_LIST,
        MEDIA_DOCKER_MANIFEST,
    ] {
        if let Ok(Document::Index(i)) = Document::parse(media, data) {
            for m in &i.manifests {
                let _ = m.is_attestation();
                let _ = m.digest.hex();
            }
        }
    }
    let _ = serde_json::from_slice::<ImageConfig>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Platform::parse(text);
        let _ = text.parse::<lk_oci::Digest>();
    }
});
