//! Property tests: arbitrary input into the YAML -> Config path never panics, and valid
//! configurations survive a print/parse round trip.

use lk_spec::{Source, normalize, parse_and_merge, parse_label};
use proptest::prelude::*;

fn source() -> Source {
    Source {
        name: "fuzz.yml".into(),
        dir: Some(".".into()),
    }
}

/// YAML-ish fragments that reach deep into the decoder more often than random bytes do.
fn yamlish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "kernel:",
        "init:",
        "onboot:",
        "services:",
        "files:",
        "volumes:",
        "trust:",
        "- ",
        "  ",
        "name: a",
        "image: alpine",
        "capabilities: [all]",
        "binds: [\"v:/x:ro\"]",
        "uid: 1",
        "mode: 0666",
        "mode: \"0644\"",
        "resources:",
        "memory:",
        "limit: 1",
        "runtime:",
        "mkdir: [/x]",
        "path: etc/x",
        "contents: x",
        "readonly: true",
        "&a",
        "*a",
        "<<: *a",
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\n",
        "\t",
        "\"",
        "'",
        "@pkg:x",
        "@x",
        "~",
        "null",
        "!!str",
        "---",
        "#",
        "0x1F",
        "-1",
        "18446744073709551616",
        "é",
        "\u{2028}",
    ]);
    prop::collection::vec(atoms, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_and_merge([(&source(), text.as_ref())], None);
        let _ = parse_label("img", &text);
    }

    #[test]
    fn yamlish_text_never_panics(text in yamlish()) {
        let s = source();
        if let Ok(config) = parse_and_merge([(&s, text.as_str())], None) {
            // Whatever was accepted prints and parses back to the same configuration.
            let printed = normalize::to_yaml(&config);
            let again = parse_and_merge([(&s, printed.as_str())], None);
            prop_assert!(again.is_ok(), "printed config does not parse:\n{printed}\n{:?}", again.err());
            prop_assert_eq!(normalize::to_json(&config), normalize::to_json(&again.unwrap_or_default()));
        }
    }
}
