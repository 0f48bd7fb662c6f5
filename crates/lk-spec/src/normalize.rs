//! The merged configuration printed back as JSON (LinuxKit's `metadata: json` layout) or YAML.

use serde_json::Value;

use crate::config::Config;
use crate::gojson;

/// The configuration as Go's `json.MarshalIndent` of LinuxKit's `Moby` struct would print it
/// (image references in canonical form; volumes as written).
pub fn to_json(config: &Config) -> String {
    gojson::to_string_indent(config)
}

/// The configuration as block-style YAML with the same keys and order as [`to_json`].
pub fn to_yaml(config: &Config) -> String {
    let value = serde_json::to_value(config).unwrap_or(Value::Null);
    let mut out = String::new();
    emit(&value, 0, &mut out, Ctx::Top);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    MapValue,
    SeqItem,
}

fn emit(v: &Value, indent: usize, out: &mut String, ctx: Ctx) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if m.values().any(|v| !v.is_null()) => {
            if ctx == Ctx::MapValue {
                out.push('\n');
            }
            // Go prints absent lists as `null`; in YAML they are simply left out.
            for (i, (k, val)) in m.iter().filter(|(_, v)| !v.is_null()).enumerate() {
                if !(ctx == Ctx::SeqItem && i == 0) {
                    out.push_str(&pad);
                }
                out.push_str(&scalar(k));
                out.push(':');
                emit(val, indent + 2, out, Ctx::MapValue);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            if ctx == Ctx::MapValue {
                out.push('\n');
            }
            // Sequences under a key are indented like the key's children.
            for (i, item) in a.iter().enumerate() {
                if !(ctx == Ctx::SeqItem && i == 0) {
                    out.push_str(&pad);
                }
                out.push_str("- ");
                emit(item, indent + 2, out, Ctx::SeqItem);
            }
        }
        _ => {
            let text = match v {
                Value::Object(_) => "{}".to_owned(),
                Value::Array(_) => "[]".to_owned(),
                Value::Null => "null".to_owned(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::String(s) => scalar(s),
            };
            if ctx == Ctx::MapValue {
                out.push(' ');
            }
            out.push_str(&text);
            out.push('\n');
        }
    }
}

/// A string as a YAML scalar: plain when it reads back as the same string, else double-quoted.
fn scalar(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && !s.starts_with(|c: char| c.is_whitespace() || "-?:,[]{}#&*!|>'\"%@`".contains(c))
        && !s.ends_with(char::is_whitespace)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.chars().any(|c| c.is_control())
        && matches!(
            crate::yaml::resolve_plain(s),
            crate::yaml::Value::Str { .. }
        );
    if plain_ok {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Source, parse_config};

    #[test]
    fn yaml_round_trips_through_the_parser() {
        let text = "kernel:\n  image: linuxkit/kernel:6.6\n  cmdline: \"console=ttyS0 a: b\"\ninit:\n  - linuxkit/init:abc\nonboot:\n  - name: x\n    image: alpine\n    command: [\"/bin/sh\", \"-c\", \"echo '#1'\"]\n    sysctl:\n      net.ipv4.ip_forward: \"1\"\nfiles:\n  - path: etc/x\n    contents: \"0666\"\n    mode: \"0644\"\n";
        let c = parse_config(&Source::named("a.yml"), text, None).unwrap();
        let y = to_yaml(&c);
        let again = parse_config(&Source::named("b.yml"), &y, None).unwrap();
        assert_eq!(to_json(&c), to_json(&again), "{y}");
    }
}
