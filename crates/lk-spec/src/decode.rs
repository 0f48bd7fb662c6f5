//! Typed decoding of YAML nodes with positioned diagnostics.
//!
//! Every accessor records a [`Diagnostic`] and returns `None` on a problem, so one pass
//! reports every error in a file instead of stopping at the first.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::diag::{Diagnostic, Pos, did_you_mean};
use crate::yaml::{Key, Node, Value};

/// Resolves `@pkg:<path>` templates to an image reference (`org/image:tag`).
///
/// The tag of a package is its content hash; the `pkg` machinery computes it. This crate
/// does no I/O, so the caller provides the resolver.
pub trait PackageResolver {
    /// Resolves the package at `path` (relative to `base_dir`, the YAML file's directory).
    fn resolve(&self, base_dir: &std::path::Path, path: &str) -> Result<String, String>;
}

/// Where a YAML text came from: decides how positions are named and whether templates apply.
#[derive(Clone, Debug)]
pub struct Source {
    /// Name used in diagnostics (the path as given, `<stdin>`, or a URL).
    pub name: Arc<str>,
    /// The directory of a local file; `None` for stdin and URLs, where LinuxKit does not
    /// process `@` templates.
    pub dir: Option<PathBuf>,
}

impl Source {
    /// A local file: templates are processed relative to its directory.
    pub fn file(path: &std::path::Path) -> Source {
        let dir = path.parent().map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        });
        Source {
            name: Arc::from(path.display().to_string()),
            dir,
        }
    }

    /// Standard input, a URL, or an image label: no template processing.
    pub fn named(name: &str) -> Source {
        Source {
            name: Arc::from(name),
            dir: None,
        }
    }
}

/// Decoding state: the diagnostics so far and how to resolve templates.
pub(crate) struct Ctx<'r> {
    pub diags: Vec<Diagnostic>,
    /// Accepted as LinuxKit accepts it, but worth a line (`Config::warnings`).
    pub warnings: Vec<Diagnostic>,
    dir: Option<PathBuf>,
    resolver: Option<&'r dyn PackageResolver>,
    /// build.yml is decoded into typed Go fields: a plain scalar (`0666`, `true`) given where
    /// a string is expected is taken as its text.
    pub lenient_strings: bool,
}

/// The entries of a mapping whose keys were all checked against a known list.
pub(crate) struct Fields<'n> {
    pub pos: Pos,
    entries: &'n [(Key, Node)],
}

impl<'n> Fields<'n> {
    pub fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, v)| v)
    }

    pub fn key_pos(&self, name: &str) -> Option<&'n Pos> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, _)| &k.pos)
    }
}

/// A key LinuxKit's schema accepts but LinuxKit then silently ignores, with why.
pub(crate) struct Dropped {
    pub key: &'static str,
    pub why: &'static str,
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl<'r> Ctx<'r> {
    pub fn new(source: &Source, resolver: Option<&'r dyn PackageResolver>) -> Ctx<'r> {
        Ctx {
            diags: Vec::new(),
            warnings: Vec::new(),
            dir: source.dir.clone(),
            resolver,
            lenient_strings: false,
        }
    }

    pub fn error(&mut self, pos: &Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic::at(pos, message));
    }

    pub fn error_hint(&mut self, pos: &Pos, message: impl Into<String>, hint: impl Into<String>) {
        self.diags
            .push(Diagnostic::at(pos, message).with_hint(hint));
    }

    fn type_error(&mut self, node: &Node, path: &str, expected: &str) {
        let found = node.value.kind();
        let what = if path.is_empty() {
            "the document".to_owned()
        } else {
            format!("`{path}`")
        };
        let mut d = Diagnostic::at(
            &node.pos,
            format!("{what} must be {expected}, found {found}"),
        );
        let quote = |t: &str| format!("quote the value: \"{t}\"");
        d.hint = match (&node.value, expected) {
            (Value::Null, _) => {
                Some("the value is empty: give a value or remove the key".to_owned())
            }
            (Value::Int(_) | Value::Float(_) | Value::Bool(_), "a string") => {
                node.plain_text.as_deref().map(quote)
            }
            (Value::Str { text, .. }, "a boolean")
                if matches!(text.as_str(), "yes" | "no" | "on" | "off" | "y" | "n") =>
            {
                Some("write true or false".to_owned())
            }
            (Value::Str { .. } | Value::Map(_), "a list of strings") => {
                Some("write a list: [a, b] or one `- item` per line".to_owned())
            }
            _ => None,
        };
        self.diags.push(d);
    }

    /// Checks that `node` is a mapping whose keys are all in `known`.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        known: &[&'static str],
        dropped: &[Dropped],
    ) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.type_error(node, path, "a mapping");
            return None;
        };
        for (k, _) in entries {
            if known.contains(&k.name.as_str()) {
                continue;
            }
            if let Some(d) = dropped.iter().find(|d| d.key == k.name) {
                self.error_hint(
                    &k.pos,
                    format!("`{}` is not supported: {}", join(path, &k.name), d.why),
                    "remove the key; LinuxKit accepts it but silently ignores it, so it never had an effect",
                );
                continue;
            }
            let what = if path.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in `{path}`")
            };
            let hint = match did_you_mean(&k.name, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("valid keys are: {}", known.join(", ")),
            };
            self.error_hint(&k.pos, format!("unknown key `{}` {what}", k.name), hint);
        }
        Some(Fields {
            pos: node.pos.clone(),
            entries,
        })
    }

    /// A string, with `@pkg:` templates resolved and other `@` values rejected (local files only).
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        if self.lenient_strings
            && matches!(node.value, Value::Int(_) | Value::Float(_) | Value::Bool(_))
            && let Some(t) = &node.plain_text
        {
            return Some(t.clone());
        }
        let Value::Str { text, .. } = &node.value else {
            self.type_error(node, path, "a string");
            return None;
        };
        if !text.starts_with('@') {
            return Some(text.clone());
        }
        let Some(dir) = self.dir.clone() else {
            return Some(text.clone());
        };
        match text.strip_prefix("@pkg:") {
            Some(pkg) => match self.resolver {
                Some(r) => match r.resolve(&dir, pkg) {
                    Ok(resolved) => Some(resolved),
                    Err(e) => {
                        self.error(&node.pos, format!("`{path}`: cannot resolve `{text}`: {e}"));
                        None
                    }
                },
                None => {
                    self.error_hint(
                        &node.pos,
                        format!("`{path}`: `{text}` needs the package resolver"),
                        "`@pkg:` templates are resolved by `linuxkit build` and `linuxkit validate`",
                    );
                    None
                }
            },
            None => {
                self.error_hint(
                    &node.pos,
                    format!("`{path}`: `{text}` is not a known template (only `@pkg:<dir>` is)"),
                    "LinuxKit replaces every other value starting with `@` by an empty string; write the value without the leading `@`",
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.type_error(node, path, "a boolean");
                None
            }
        }
    }

    pub fn int(&mut self, node: &Node, path: &str, min: i128, max: i128) -> Option<i128> {
        let v = match node.value {
            Value::Int(i) => i,
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() && f.abs() < 1e30 => f as i128,
            _ => {
                self.type_error(node, path, "an integer");
                return None;
            }
        };
        if v < min || v > max {
            self.error(
                &node.pos,
                format!("`{path}` is {v}, outside the range {min}..={max}"),
            );
            return None;
        }
        Some(v)
    }

    pub fn list<'n>(&mut self, node: &'n Node, path: &str, expected: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.type_error(node, path, expected);
                None
            }
        }
    }

    /// A list of strings; `None` if the list or any item is bad.
    pub fn strings(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        let items = self.list(node, path, "a list of strings")?;
        let before = self.diags.len();
        let out: Vec<String> = items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.string(n, &format!("{path}[{i}]")))
            .collect();
        (self.diags.len() == before).then_some(out)
    }

    /// A list of strings with each item's position.
    pub fn spanned_strings(&mut self, node: &Node, path: &str) -> Option<Vec<Spanned<String>>> {
        let items = self.list(node, path, "a list of strings")?;
        let before = self.diags.len();
        let out: Vec<Spanned<String>> = items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                self.string(n, &format!("{path}[{i}]"))
                    .map(|value| Spanned {
                        value,
                        pos: n.pos.clone(),
                    })
            })
            .collect();
        (self.diags.len() == before).then_some(out)
    }

    /// A mapping of strings to strings.
    pub fn string_map(&mut self, node: &Node, path: &str) -> Option<BTreeMap<String, String>> {
        let Value::Map(entries) = &node.value else {
            self.type_error(node, path, "a mapping of strings");
            return None;
        };
        let before = self.diags.len();
        let mut out = BTreeMap::new();
        for (k, v) in entries {
            if let Some(s) = self.string(v, &join(path, &k.name)) {
                out.insert(k.name.clone(), s);
            }
        }
        (self.diags.len() == before).then_some(out)
    }
}

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Its position in the source.
    pub pos: Pos,
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: serde::Serialize> serde::Serialize for Spanned<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}
