//! Entry names: normalization and containment.

/// Normalizes a layer entry name: strips `./` and leading `/`, resolves `.` and `..`
/// lexically. Returns `None` if the name escapes the root (`../x`) or is the root itself.
pub fn normalize(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

/// The parent directory of a normalized path (`""` for top-level names).
pub fn parent(p: &str) -> &str {
    p.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Every proper ancestor of `p`, shortest first (`a`, `a/b` for `a/b/c`).
pub fn ancestors(p: &str) -> impl Iterator<Item = &str> {
    p.match_indices('/').map(move |(i, _)| &p[..i])
}

/// `prefix` + `p` (prefix empty or ending without `/`).
pub fn join(prefix: &str, p: &str) -> String {
    if prefix.is_empty() {
        p.to_owned()
    } else {
        format!("{prefix}/{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_contains() {
        assert_eq!(normalize("./etc//passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(normalize("/abs/x").as_deref(), Some("abs/x"));
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize("../escape"), None);
        assert_eq!(normalize("a/../../escape"), None);
        assert_eq!(normalize("./"), None);
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(parent("a/b"), "a");
        assert_eq!(parent("a"), "");
    }
}
