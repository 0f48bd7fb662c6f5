//! `# TAG: value` comment tags in test and group scripts.

use std::path::Path;

/// The tags of one script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags {
    /// Root group name (top-level group.sh only).
    pub name: Option<String>,
    /// One-line description.
    pub summary: Option<String>,
    /// Authors, space-joined.
    pub author: Option<String>,
    /// Comma-separated labels, `!x` negated.
    pub labels: Option<String>,
    /// Run this many times (0 or absent: once, with no iteration suffix).
    pub repeat: u32,
    /// Linked issues, space-joined.
    pub issue: Option<String>,
    /// Per-test timeout in seconds (our addition).
    pub timeout: Option<u64>,
}

/// A tag that may appear once appeared twice.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: tag {tag} given more than once")]
pub struct TagError {
    /// The script.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// The tag.
    pub tag: String,
}

/// Parses the tags of `text` (the script at `path`).
pub fn parse(path: &Path, text: &str) -> Result<Tags, TagError> {
    let mut t = Tags::default();
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("# ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        let once = |slot: &mut Option<String>, tag: &str| -> Result<(), TagError> {
            if slot.is_some() {
                return Err(TagError {
                    path: path.display().to_string(),
                    line: i + 1,
                    tag: tag.to_owned(),
                });
            }
            *slot = Some(value.clone());
            Ok(())
        };
        let append = |slot: &mut Option<String>| {
            *slot = Some(match slot.take() {
                Some(s) if !s.is_empty() => format!("{s} {value}"),
                _ => value.clone(),
            });
        };
        match name {
            "NAME" => once(&mut t.name, name)?,
            "SUMMARY" => once(&mut t.summary, name)?,
            "LABELS" => once(&mut t.labels, name)?,
            "AUTHOR" => append(&mut t.author),
            "ISSUE" => append(&mut t.issue),
            // Non-numbers are ignored, as rtf does.
            "REPEAT" => t.repeat = value.parse().unwrap_or(t.repeat),
            "TIMEOUT" => t.timeout = value.parse().ok().or(t.timeout),
            _ => {}
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_tags() {
        let text = "# SUMMARY: a test\n# LABELS: amd64, !skip\n# AUTHOR: a\n# AUTHOR: b\n# REPEAT: 3\n# ISSUE: #1\n#NOTAG: x\n# TIMEOUT: 30\n# Source libraries. Uncomment if needed\n";
        let t = parse(Path::new("t.sh"), text).unwrap();
        assert_eq!(t.summary.as_deref(), Some("a test"));
        assert_eq!(t.labels.as_deref(), Some("amd64, !skip"));
        assert_eq!(t.author.as_deref(), Some("a b"));
        assert_eq!((t.repeat, t.timeout), (3, Some(30)));
        assert_eq!(t.issue.as_deref(), Some("#1"));
    }

    #[test]
    fn repeated_single_tags_are_errors() {
        let e = parse(Path::new("t.sh"), "# SUMMARY: a\n# SUMMARY: b\n").unwrap_err();
        assert_eq!(e.to_string(), "t.sh:2: tag SUMMARY given more than once");
    }

    #[test]
    fn bad_repeat_is_ignored() {
        assert_eq!(
            parse(Path::new("t.sh"), "# REPEAT: linux:2\n")
                .unwrap()
                .repeat,
            0
        );
    }
}
