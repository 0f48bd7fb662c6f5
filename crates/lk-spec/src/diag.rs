//! Diagnostics: positions in a source file and the errors that point at them.

use std::fmt;
use std::sync::Arc;

/// A position in a named source (a YAML file, stdin, or an image label).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    /// What the position refers to: a file path, `<stdin>`, or a label description.
    pub source: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
}

impl Pos {
    /// A position in `source` at `line`:`col` (both 1-based).
    pub fn new(source: &Arc<str>, line: usize, col: usize) -> Pos {
        Pos {
            source: Arc::clone(source),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.col)
    }
}

/// One problem found in the input, with where it is and, when one fits, how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is; `None` when it concerns the input as a whole.
    pub pos: Option<Pos>,
    /// What is wrong, naming the offending key or value.
    pub message: String,
    /// A suggestion ("did you mean ...", "quote the value", ...).
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `pos`.
    pub fn at(pos: &Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            pos: Some(pos.clone()),
            message: message.into(),
            hint: None,
        }
    }

    /// A diagnostic without a position.
    pub fn global(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            pos: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint if there is one.
    #[must_use]
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Diagnostic {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(pos) = &self.pos {
            write!(f, "{pos}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in one input; never empty when returned as an error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// A single diagnostic.
    pub fn one(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }

    /// Returns `Err(self)` if any problem was recorded, else `Ok(value)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Orders the problems as they appear in the source (stable for equal positions).
    pub fn sorted(mut self) -> Diagnostics {
        self.0
            .sort_by_key(|d| d.pos.as_ref().map(|p| (p.line, p.col)));
        self
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c.eq_ignore_ascii_case(word) {
            return Some(c);
        }
        let score = strsim::jaro_winkler(&lower, &c.to_ascii_lowercase());
        if score > 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        let keys = ["capabilities", "capabilities.add", "command"];
        assert_eq!(did_you_mean("capabilites", keys), Some("capabilities"));
        assert_eq!(did_you_mean("Command", keys), Some("command"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }

    #[test]
    fn display_has_position_and_hint() {
        let src: Arc<str> = Arc::from("a.yml");
        let d = Diagnostic::at(&Pos::new(&src, 3, 5), "bad").with_hint("fix it");
        assert_eq!(d.to_string(), "a.yml:3:5: bad\n  hint: fix it");
    }
}
