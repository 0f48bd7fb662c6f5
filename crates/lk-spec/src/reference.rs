//! Image references: parsing, validation and LinuxKit's canonical form.
//!
//! LinuxKit expands `redis` to `docker.io/library/redis` and `foo/bar` to `docker.io/foo/bar`
//! (no `:latest` is added), then uses containerd's lenient parser. We validate against the
//! distribution reference grammar instead, so a typo fails here rather than at pull time.

use std::fmt;

/// A validated image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    original: String,
    canonical: String,
    domain: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a reference is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference `{reference}`: {reason}")]
pub struct ReferenceError {
    /// The reference as written.
    pub reference: String,
    /// What is wrong with it.
    pub reason: String,
    /// How to fix it, when we know.
    pub hint: Option<String>,
}

impl ImageRef {
    /// Parses and validates `s`.
    pub fn parse(s: &str) -> Result<ImageRef, ReferenceError> {
        let fail = |reason: &str, hint: Option<&str>| ReferenceError {
            reference: s.to_owned(),
            reason: reason.to_owned(),
            hint: hint.map(str::to_owned),
        };
        if s.is_empty() {
            return Err(fail("it is empty", None));
        }
        if s.contains("://") {
            return Err(fail(
                "a URL scheme is not allowed",
                Some("write host/repository:tag without http:// or https://"),
            ));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(fail("it contains whitespace", None));
        }
        let expanded = reference_expand(s);
        let (name_and_tag, digest) = match expanded.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (expanded.as_str(), None),
        };
        if let Some(d) = digest {
            validate_digest(d).map_err(|r| {
                fail(
                    &r,
                    Some("a digest is written sha256:<64 lowercase hex digits>"),
                )
            })?;
        }
        // The tag is after the last ':' that follows the last '/'.
        let last_slash = name_and_tag.rfind('/').unwrap_or(0);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_and_tag[..last_slash + i],
                Some(&name_and_tag[last_slash + i + 1..]),
            ),
            None => (name_and_tag, None),
        };
        if let Some(t) = tag {
            validate_tag(t).map_err(|r| fail(&r, None))?;
        }
        let (domain, repository) = name
            .split_once('/')
            .ok_or_else(|| fail("it has no repository", None))?;
        validate_domain(domain).map_err(|r| fail(&r, None))?;
        for component in repository.split('/') {
            validate_component(component).map_err(|r| {
                let hint = component
                    .chars()
                    .any(|c| c.is_ascii_uppercase())
                    .then_some("repository names must be lowercase");
                fail(&r, hint)
            })?;
        }
        let mut canonical = format!("{domain}/{repository}");
        if let Some(t) = tag {
            canonical.push(':');
            canonical.push_str(t);
        }
        if let Some(d) = digest {
            canonical.push('@');
            canonical.push_str(d);
        }
        Ok(ImageRef {
            original: s.to_owned(),
            canonical,
            domain: domain.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// The reference as written in the YAML.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The canonical form LinuxKit uses for cache names and PAX records (`docker.io/library/redis:6`).
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The registry host (`docker.io`, `localhost:5000`, ...).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry (`library/redis`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

/// LinuxKit's `util.ReferenceExpand`: adds `docker.io/` or `docker.io/library/` where no domain is given.
pub fn reference_expand(s: &str) -> String {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.len() {
        1 => format!("docker.io/library/{s}"),
        2 if !parts[0].contains('.') && !parts[0].contains(':') && parts[0] != "localhost" => {
            format!("docker.io/{s}")
        }
        _ => s.to_owned(),
    }
}

/// LinuxKit's `ReferenceExpand(.., WithTag)`: also adds `:latest` when the string has no `:` at all.
pub fn reference_expand_with_tag(s: &str) -> String {
    let mut r = reference_expand(s);
    if !r.contains(':') {
        r.push_str(":latest");
    }
    r
}

fn validate_digest(d: &str) -> Result<(), String> {
    let (alg, hex) = d.split_once(':').ok_or("the digest has no algorithm")?;
    match alg {
        "sha256"
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(())
        }
        "sha512"
            if hex.len() == 128
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(())
        }
        "sha256" | "sha512" => Err(format!(
            "the {alg} digest `{hex}` is not lowercase hex of the right length"
        )),
        _ => Err(format!("unsupported digest algorithm `{alg}`")),
    }
}

fn validate_tag(t: &str) -> Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else if t.is_empty() {
        Err("the tag after `:` is empty".to_owned())
    } else {
        Err(format!(
            "`{t}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128)"
        ))
    }
}

fn validate_domain(d: &str) -> Result<(), String> {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("`{d}` has an invalid port"));
    }
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty()
            && v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    if host_ok {
        Ok(())
    } else {
        Err(format!("`{d}` is not a valid registry host"))
    }
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn validate_component(c: &str) -> Result<(), String> {
    let bad = || Err(format!("`{c}` is not a valid repository path component"));
    let b = c.as_bytes();
    if b.is_empty() {
        return Err("the repository path has an empty component".to_owned());
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    let run = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && alnum(b[*i]) {
            *i += 1;
        }
        *i > start
    };
    if !run(&mut i) {
        return bad();
    }
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return bad(),
        }
        if !run(&mut i) {
            return bad();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_linuxkit() {
        assert_eq!(reference_expand("redis"), "docker.io/library/redis");
        assert_eq!(reference_expand("foo/bar"), "docker.io/foo/bar");
        assert_eq!(reference_expand("myregistry.io/foo"), "myregistry.io/foo");
        assert_eq!(reference_expand("foo/bar/baz"), "foo/bar/baz");
        assert_eq!(reference_expand("localhost/foo"), "localhost/foo");
        assert_eq!(
            reference_expand_with_tag("redis"),
            "docker.io/library/redis:latest"
        );
        assert_eq!(
            reference_expand_with_tag("redis:alpine"),
            "docker.io/library/redis:alpine"
        );
    }

    #[test]
    fn canonical_forms() {
        let r = ImageRef::parse("linuxkit/init:8a7b6c").unwrap();
        assert_eq!(r.canonical(), "docker.io/linuxkit/init:8a7b6c");
        assert_eq!(r.tag(), Some("8a7b6c"));
        let r = ImageRef::parse("localhost:5000/a/b").unwrap();
        assert_eq!(
            (r.domain(), r.repository(), r.tag()),
            ("localhost:5000", "a/b", None)
        );
        let d = format!("alpine@sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&d).unwrap();
        assert_eq!(
            r.canonical(),
            format!("docker.io/library/alpine@sha256:{}", "a".repeat(64))
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Linuxkit/init",
            "foo/bar:",
            "foo/bar:-x",
            "foo//bar",
            "http://x/y",
            "foo/bar@sha256:abc",
            "a b",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }
}
