//! A YAML document as a tree of typed nodes that remember where they came from.
//!
//! Scalars are resolved the way LinuxKit's YAML library (yaml.v3) resolves them when it
//! decodes into an untyped value before schema validation: `true`/`false` (three spellings)
//! are booleans, `~`/`null`/empty are null, `0666` and `0x1f` are integers, `1.5` is a
//! float, everything else (including `yes`, `on`, timestamps) is a string. Quoted and
//! block scalars are always strings. Duplicate keys, non-string keys, multiple documents
//! and unknown tags are errors. Anchors, aliases and `<<` merge keys are supported.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

use crate::diag::{Diagnostic, Diagnostics, Pos};

/// Upper bound on the nodes a document may expand to through aliases ("billion laughs").
const MAX_NODES: usize = 1_000_000;
/// Upper bound on nesting depth.
const MAX_DEPTH: usize = 256;

/// A YAML node and its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The node's value.
    pub value: Value,
    /// Where the node starts.
    pub pos: Pos,
    /// The source text of a plain (unquoted) scalar, for messages such as "quote `0666`".
    pub plain_text: Option<String>,
}

/// A resolved YAML value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer (wide enough for both i64 and u64 values).
    Int(i128),
    /// A float.
    Float(f64),
    /// A string; `plain` is true for an unquoted plain scalar.
    Str {
        /// The text.
        text: String,
        /// Whether the scalar was written unquoted.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with string keys, in document order.
    Map(Vec<(Key, Node)>),
}

/// A mapping key.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key is.
    pub pos: Pos,
}

impl Value {
    /// The value's kind as a user would say it ("a string", "an integer", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str { .. } => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses one YAML document. An empty input is an error (LinuxKit fails on it with `EOF`).
pub fn parse(source: &Arc<str>, text: &str) -> Result<Node, Diagnostics> {
    let mut loader = Loader {
        source: Arc::clone(source),
        anchors: HashMap::new(),
        nodes: 0,
    };
    loader.load(text)
}

struct Loader {
    source: Arc<str>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Key, Node)>,
        pending_key: Option<Node>,
        /// Keys that came from a `<<` merge: an explicit key may override them.
        merged: Vec<String>,
    },
}

impl Loader {
    fn pos(&self, span: &Span) -> Pos {
        Pos::new(&self.source, span.start.line(), span.start.col() + 1)
    }

    fn scan_error(&self, e: &ScanError) -> Diagnostics {
        let m = e.marker();
        let pos = Pos::new(&self.source, m.line(), m.col() + 1);
        Diagnostics::one(Diagnostic::at(&pos, format!("invalid YAML: {}", e.info())))
    }

    fn load(&mut self, text: &str) -> Result<Node, Diagnostics> {
        let mut parser = Parser::new_from_str(text);
        let mut stack: Vec<Frame> = Vec::new();
        let mut document: Option<Node> = None;
        let mut documents = 0usize;
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| self.scan_error(&e))?;
            let complete: Option<Node> = match event {
                Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(Diagnostics::one(
                            Diagnostic::at(
                                &self.pos(&span),
                                "more than one YAML document in this file",
                            )
                            .with_hint(
                                "LinuxKit reads only the first document; put each configuration in its own file",
                            ),
                        ));
                    }
                    None
                }
                Event::Alias(id) => {
                    let pos = self.pos(&span);
                    let Some(node) = self.anchors.get(&id).cloned() else {
                        return Err(Diagnostics::one(Diagnostic::at(
                            &pos,
                            "alias to an unknown anchor",
                        )));
                    };
                    self.count(&pos, count_nodes(&node))?;
                    Some(node)
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let pos = self.pos(&span);
                    self.count(&pos, 1)?;
                    let value = resolve_scalar(&pos, &text, style, tag.as_deref())?;
                    let plain_text =
                        (style == ScalarStyle::Plain && tag.is_none()).then(|| text.to_string());
                    let node = Node {
                        value,
                        pos,
                        plain_text,
                    };
                    if anchor != 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    Some(node)
                }
                Event::SequenceStart(anchor, tag) => {
                    let pos = self.pos(&span);
                    check_collection_tag(&pos, tag.as_deref(), "seq")?;
                    self.push(&mut stack, &pos)?;
                    stack.push(Frame::Seq {
                        pos,
                        anchor,
                        items: Vec::new(),
                    });
                    None
                }
                Event::MappingStart(anchor, tag) => {
                    let pos = self.pos(&span);
                    check_collection_tag(&pos, tag.as_deref(), "map")?;
                    self.push(&mut stack, &pos)?;
                    stack.push(Frame::Map {
                        pos,
                        anchor,
                        entries: Vec::new(),
                        pending_key: None,
                        merged: Vec::new(),
                    });
                    None
                }
                Event::SequenceEnd => match stack.pop() {
                    Some(Frame::Seq { pos, anchor, items }) => {
                        let node = Node {
                            value: Value::Seq(items),
                            pos,
                            plain_text: None,
                        };
                        if anchor != 0 {
                            self.anchors.insert(anchor, node.clone());
                        }
                        Some(node)
                    }
                    _ => return Err(internal(&self.pos(&span))),
                },
                Event::MappingEnd => match stack.pop() {
                    Some(Frame::Map {
                        pos,
                        anchor,
                        entries,
                        pending_key: None,
                        ..
                    }) => {
                        let node = Node {
                            value: Value::Map(entries),
                            pos,
                            plain_text: None,
                        };
                        if anchor != 0 {
                            self.anchors.insert(anchor, node.clone());
                        }
                        Some(node)
                    }
                    _ => return Err(internal(&self.pos(&span))),
                },
            };
            if let Some(node) = complete {
                match stack.last_mut() {
                    None => document = Some(node),
                    Some(Frame::Seq { items, .. }) => items.push(node),
                    Some(Frame::Map {
                        entries,
                        pending_key,
                        merged,
                        ..
                    }) => match pending_key.take() {
                        None => *pending_key = Some(node),
                        Some(key) => insert_entry(entries, merged, key, node)?,
                    },
                }
            }
        }
        match document {
            Some(node) => Ok(node),
            None => Err(Diagnostics::one(
                Diagnostic::at(&Pos::new(&self.source, 1, 1), "the file is empty").with_hint(
                    "a LinuxKit configuration needs at least one of kernel, init, onboot, services",
                ),
            )),
        }
    }

    fn count(&mut self, pos: &Pos, n: usize) -> Result<(), Diagnostics> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(Diagnostics::one(Diagnostic::at(
                pos,
                format!("the document expands to more than {MAX_NODES} nodes through aliases"),
            )));
        }
        Ok(())
    }

    fn push(&mut self, stack: &mut [Frame], pos: &Pos) -> Result<(), Diagnostics> {
        self.count(pos, 1)?;
        if stack.len() >= MAX_DEPTH {
            return Err(Diagnostics::one(Diagnostic::at(
                pos,
                format!("the document nests deeper than {MAX_DEPTH} levels"),
            )));
        }
        Ok(())
    }
}

fn internal(pos: &Pos) -> Diagnostics {
    Diagnostics::one(Diagnostic::at(pos, "invalid YAML: unbalanced collection"))
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(_, v)| 1 + count_nodes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// Adds `key: value` to a mapping, expanding `<<` merge keys and rejecting duplicates.
fn insert_entry(
    entries: &mut Vec<(Key, Node)>,
    merged: &mut Vec<String>,
    key: Node,
    value: Node,
) -> Result<(), Diagnostics> {
    let name = match key.value {
        Value::Str { text, .. } => text,
        Value::Int(i) => {
            return Err(Diagnostics::one(
                Diagnostic::at(
                    &key.pos,
                    format!("mapping key `{i}` is a number; keys must be strings"),
                )
                .with_hint(format!("quote the key: \"{i}\"")),
            ));
        }
        other => {
            return Err(Diagnostics::one(Diagnostic::at(
                &key.pos,
                format!("mapping keys must be strings, found {}", other.kind()),
            )));
        }
    };
    if name == "<<" && matches!(&value.value, Value::Map(_) | Value::Seq(_)) {
        return merge_into(entries, merged, &key.pos, value);
    }
    if let Some(i) = merged.iter().position(|m| *m == name) {
        merged.remove(i);
        entries.retain(|(k, _)| k.name != name);
    }
    if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == name) {
        return Err(Diagnostics::one(
            Diagnostic::at(&key.pos, format!("duplicate key `{name}`")).with_hint(format!(
                "`{name}` is already set at line {}",
                first.pos.line
            )),
        ));
    }
    entries.push((Key { name, pos: key.pos }, value));
    Ok(())
}

/// `<<: *anchor` or `<<: [*a, *b]`: copies keys not already present.
fn merge_into(
    entries: &mut Vec<(Key, Node)>,
    merged: &mut Vec<String>,
    pos: &Pos,
    value: Node,
) -> Result<(), Diagnostics> {
    let sources = match value.value {
        Value::Map(m) => vec![m],
        Value::Seq(items) => {
            let mut maps = Vec::new();
            for item in items {
                match item.value {
                    Value::Map(m) => maps.push(m),
                    other => {
                        return Err(Diagnostics::one(Diagnostic::at(
                            &item.pos,
                            format!(
                                "a `<<` merge list may only hold mappings, found {}",
                                other.kind()
                            ),
                        )));
                    }
                }
            }
            maps
        }
        _ => return Err(Diagnostics::one(Diagnostic::at(pos, "invalid `<<` merge"))),
    };
    for source in sources {
        for (k, v) in source {
            if !entries.iter().any(|(e, _)| e.name == k.name) {
                merged.push(k.name.clone());
                entries.push((k, v));
            }
        }
    }
    Ok(())
}

fn check_collection_tag(pos: &Pos, tag: Option<&Tag>, expect: &str) -> Result<(), Diagnostics> {
    match tag {
        None => Ok(()),
        Some(t) if t.handle == "!!" && t.suffix == expect => Ok(()),
        Some(t) if t.handle == "tag:yaml.org,2002:" && t.suffix == expect => Ok(()),
        Some(t) => Err(Diagnostics::one(Diagnostic::at(
            pos,
            format!("unsupported YAML tag `{}{}`", t.handle, t.suffix),
        ))),
    }
}

fn resolve_scalar(
    pos: &Pos,
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<Value, Diagnostics> {
    let as_string = || Value::Str {
        text: text.to_owned(),
        plain: false,
    };
    if let Some(t) = tag {
        let core = t.handle == "!!" || t.handle == "tag:yaml.org,2002:";
        if t.handle == "!" && t.suffix.is_empty() {
            return Ok(as_string());
        }
        if !core {
            return Err(Diagnostics::one(Diagnostic::at(
                pos,
                format!("unsupported YAML tag `{}{}`", t.handle, t.suffix),
            )));
        }
        return match t.suffix.as_str() {
            "str" => Ok(as_string()),
            "null" if resolve_plain(text) == Value::Null => Ok(Value::Null),
            "bool" => match resolve_plain(text) {
                v @ Value::Bool(_) => Ok(v),
                _ => Err(bad_tagged(pos, text, "!!bool")),
            },
            "int" => match resolve_plain(text) {
                v @ Value::Int(_) => Ok(v),
                _ => Err(bad_tagged(pos, text, "!!int")),
            },
            "float" => match resolve_plain(text) {
                v @ Value::Float(_) => Ok(v),
                Value::Int(i) => Ok(Value::Float(i as f64)),
                _ => Err(bad_tagged(pos, text, "!!float")),
            },
            other => Err(Diagnostics::one(Diagnostic::at(
                pos,
                format!("unsupported YAML tag `!!{other}` for `{text}`"),
            ))),
        };
    }
    match style {
        ScalarStyle::Plain => Ok(resolve_plain(text)),
        _ => Ok(as_string()),
    }
}

fn bad_tagged(pos: &Pos, text: &str, tag: &str) -> Diagnostics {
    Diagnostics::one(Diagnostic::at(
        pos,
        format!("cannot decode `{text}` as {tag}"),
    ))
}

/// Resolves a plain scalar as yaml.v3 does when decoding into an untyped value.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let plain_str = || Value::Str {
        text: text.to_owned(),
        plain: true,
    };
    let first = text.as_bytes()[0];
    if first == b'.' {
        return match text.parse::<f64>() {
            Ok(f) if is_float_syntax(text) => Value::Float(f),
            _ => plain_str(),
        };
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return plain_str();
    }
    if looks_like_timestamp(text) {
        // yaml.v3 decodes these as timestamps; a string-typed field receives the text.
        return plain_str();
    }
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(i) = parse_go_int(&cleaned) {
        return Value::Int(i);
    }
    if is_float_syntax(&cleaned)
        && let Ok(f) = cleaned.parse::<f64>()
    {
        return Value::Float(f);
    }
    plain_str()
}

/// Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint` syntax: sign, `0x`, `0o`, `0b`, leading-zero octal.
fn parse_go_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    let value = i128::from(magnitude);
    if neg {
        let v = -value;
        (v >= i128::from(i64::MIN)).then_some(v)
    } else {
        Some(value)
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_float_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// `YYYY-M-D...` as accepted by yaml.v3's timestamp resolver (date prefix check only).
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Arc<str> {
        Arc::from("t.yml")
    }

    fn scalar(text: &str) -> Value {
        resolve_plain(text)
    }

    #[test]
    fn resolves_scalars_like_yaml_v3() {
        assert_eq!(scalar("0666"), Value::Int(438));
        assert_eq!(scalar("0x1f"), Value::Int(31));
        assert_eq!(scalar("0o17"), Value::Int(15));
        assert_eq!(scalar("-12"), Value::Int(-12));
        assert_eq!(scalar("1_000"), Value::Int(1000));
        assert_eq!(
            scalar("18446744073709551615"),
            Value::Int(18_446_744_073_709_551_615)
        );
        assert_eq!(scalar("08"), Value::Float(8.0));
        assert_eq!(scalar("1.5"), Value::Float(1.5));
        assert_eq!(scalar("true"), Value::Bool(true));
        assert_eq!(scalar("~"), Value::Null);
        assert!(matches!(scalar("yes"), Value::Str { .. }));
        assert!(matches!(scalar("on"), Value::Str { .. }));
        assert!(matches!(scalar("2020-01-01"), Value::Str { .. }));
        assert!(matches!(scalar("1.2.3"), Value::Str { .. }));
        assert!(matches!(scalar("-"), Value::Str { .. }));
        assert!(matches!(scalar("+"), Value::Str { .. }));
    }

    #[test]
    fn quoted_scalars_are_strings() {
        let n = parse(&src(), "a: \"0666\"\nb: '1'\n").unwrap();
        let Value::Map(m) = n.value else { panic!() };
        assert!(matches!(&m[0].1.value, Value::Str { text, plain: false } if text == "0666"));
        assert!(matches!(&m[1].1.value, Value::Str { text, .. } if text == "1"));
    }

    #[test]
    fn positions_are_one_based() {
        let n = parse(&src(), "a:\n  b: c\n").unwrap();
        let Value::Map(m) = n.value else { panic!() };
        let Value::Map(inner) = &m[0].1.value else {
            panic!()
        };
        assert_eq!((inner[0].0.pos.line, inner[0].0.pos.col), (2, 3));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse(&src(), "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.yml:3:1: duplicate key `a`\n  hint: `a` is already set at line 1"
        );
    }

    #[test]
    fn aliases_and_merge_keys() {
        let n = parse(&src(), "x: &a {p: 1, q: 2}\ny:\n  <<: *a\n  q: 3\n").unwrap();
        let Value::Map(m) = n.value else { panic!() };
        let Value::Map(y) = &m[1].1.value else {
            panic!()
        };
        let names: Vec<_> = y.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["p", "q"]);
    }

    #[test]
    fn billion_laughs_is_bounded() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&src(), &doc).unwrap_err();
        assert!(e.to_string().contains("expands to more than"), "{e}");
    }

    #[test]
    fn empty_and_multi_document_inputs_are_errors() {
        assert!(parse(&src(), "").is_err());
        assert!(parse(&src(), "# only a comment\n").is_err());
        assert!(parse(&src(), "a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse(&src(), "a: [1, 2\n").unwrap_err();
        assert!(e.to_string().starts_with("t.yml:"), "{e}");
    }
}
