//! Snapshot tests: every file under tests/invalid is rejected with exactly the messages in
//! the `.out` file beside it. `UPDATE_SNAPSHOTS=1 cargo test` rewrites the `.out` files.

use std::path::Path;

use lk_spec::{Source, parse_and_merge};

#[test]
fn invalid_inputs_are_rejected_with_exact_messages() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 30, "only {} invalid inputs", inputs.len());
    let mut failures = Vec::new();
    for input in &inputs {
        let name = input
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(input).expect("read");
        // A local file, so `@` templates are processed as for `linuxkit build file.yml`.
        let source = Source {
            name: name.as_str().into(),
            dir: Some(dir.clone()),
        };
        let actual = match parse_and_merge([(&source, text.as_str())], None) {
            Ok(_) => "ACCEPTED\n".to_owned(),
            Err(d) => format!("{d}\n"),
        };
        let out = input.with_extension("out");
        if update {
            std::fs::write(&out, &actual).expect("write snapshot");
            continue;
        }
        let expected = std::fs::read_to_string(&out)
            .unwrap_or_else(|_| format!("<missing {}>", out.display()));
        if actual.contains("ACCEPTED") || actual != expected {
            failures.push(format!(
                "{name}:\n--- expected\n{expected}--- actual\n{actual}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} snapshots differ:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
}
