//! The SPDX 2.3 SBOM written into the image: one package per input image, identified by
//! content (so two builds of the same inputs write the same bytes).

use lk_oci::Digest;
use serde_json::json;

use lk_image::Resolved;

/// RFC 3339 (seconds) of a Unix time.
fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant), valid for the Gregorian calendar.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The SBOM document.
pub fn document(resolved: &Resolved, mtime: u64) -> String {
    let mut images: Vec<(&str, String)> = resolved
        .images()
        .map(|p| {
            (
                p.canonical(),
                p.image.manifest_descriptor.digest.to_string(),
            )
        })
        .collect();
    images.sort();
    let identity: String = images.iter().map(|(n, d)| format!("{n}@{d}\n")).collect();
    let id = Digest::of(identity.as_bytes());
    let packages: Vec<serde_json::Value> = images
        .iter()
        .map(|(name, digest)| {
            json!({
                "name": name,
                "SPDXID": format!("SPDXRef-Package-{}", &Digest::of(format!("{name}@{digest}").as_bytes()).hex()[..16]),
                "versionInfo": digest,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "checksums": [{"algorithm": "SHA256", "checksumValue": digest.trim_start_matches("sha256:")}],
                "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": format!("pkg:oci/{}?digest={digest}", name.rsplit('/').next().unwrap_or(name).split(':').next().unwrap_or(name))}],
            })
        })
        .collect();
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "linuxkit",
        "documentNamespace": format!("https://github.com/linuxkit/linuxkit/sbom-{}", &id.hex()[..32]),
        "creationInfo": {
            "licenseListVersion": "3.20",
            "creators": ["Organization: LinuxKit", "Tool: linuxkit"],
            "created": rfc3339(mtime),
        },
        "packages": packages,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times() {
        assert_eq!(super::rfc3339(1_492_533_000), "2017-04-18T16:30:00Z");
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
