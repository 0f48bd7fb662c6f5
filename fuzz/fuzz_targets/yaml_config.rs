//! The YAML front end: any text, split into two files at the first NUL, parsed, merged and
//! checked (an accepted one is also printed back as YAML); also the `org.mobyproject.config`
//! label and a package's build.yml. Errors are fine; a panic, a hang or unbounded memory is
//! a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lk_spec::Source;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\0').unwrap_or((&text, ""));
    let (sa, sb) = (Source::named("a.yml"), Source::named("b.yml"));
    if let Ok(config) = lk_spec::parse_and_merge([(&sa, a), (&sb, b)], None) {
        let _ = config.images();
        let _ = lk_spec::normalize::to_yaml(&config);
    }
    let _ = lk_spec::oci::parse_label("docker.io/library/x:1", a);
    let _ = lk_spec::pkg::parse_build_yml(&sa, a);
});
