//! Registry endpoints: scheme, host and path prefix, after mirror rewriting.

use std::collections::BTreeMap;

use crate::Repository;

/// Where requests for a repository go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://registry-1.docker.io`.
    pub base: String,
    /// Host (for credentials and tokens).
    pub host: String,
    /// Repository path at that endpoint (mirrors may prefix it).
    pub path: String,
}

/// Registry mirrors: registry host (or `*`) -> mirror URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirrors(BTreeMap<String, String>);

/// Parses one `--mirror` value: `[<registry>=]<http(s) url>`.
pub fn parse_mirror(s: &str) -> Result<Vec<(String, String)>, String> {
    let (key, url) = match s.split_once('=') {
        Some((k, u)) => (k.trim_end_matches('/').to_owned(), u.to_owned()),
        None => ("*".to_owned(), s.to_owned()),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "mirror `{s}`: the URL must start with http:// or https://"
        ));
    }
    let url = url.trim_end_matches('/').to_owned();
    Ok(if key == "docker.io" {
        ["docker.io", "index.docker.io", "registry-1.docker.io"]
            .iter()
            .map(|k| ((*k).to_owned(), url.clone()))
            .collect()
    } else {
        vec![(key, url)]
    })
}

impl Mirrors {
    /// From `--mirror` values (and `LINUXKIT_MIRROR`, prepended by the caller); later wins.
    pub fn new(values: &[String]) -> Result<Mirrors, String> {
        let mut m = BTreeMap::new();
        for v in values {
            for (k, u) in parse_mirror(v)? {
                m.insert(k, u);
            }
        }
        Ok(Mirrors(m))
    }

    /// The endpoint for `repo`: its mirror if one is set, else the registry itself
    /// (https, or http for loopback and `insecure` hosts).
    pub fn endpoint(&self, repo: &Repository, insecure: &[String]) -> Endpoint {
        if let Some(url) = self.0.get(&repo.registry).or_else(|| self.0.get("*")) {
            let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
            let (host, prefix) = match rest.split_once('/') {
                Some((h, p)) => (h.to_owned(), format!("{p}/")),
                None => (rest.to_owned(), String::new()),
            };
            return Endpoint {
                base: format!("{scheme}://{host}"),
                host,
                path: format!("{prefix}{}", repo.path),
            };
        }
        let host = if repo.registry == "docker.io" || repo.registry == "index.docker.io" {
            "registry-1.docker.io".to_owned()
        } else {
            repo.registry.clone()
        };
        let scheme =
            if is_loopback(&host) || insecure.iter().any(|i| *i == repo.registry || *i == host) {
                "http"
            } else {
                "https"
            };
        Endpoint {
            base: format!("{scheme}://{host}"),
            host,
            path: repo.path.clone(),
        }
    }
}

/// `localhost`, `127.x.x.x`, `[::1]`, with any port.
pub fn is_loopback(host: &str) -> bool {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    h == "localhost" || h == "::1" || h.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(r: &str, p: &str) -> Repository {
        Repository {
            registry: r.into(),
            path: p.into(),
        }
    }

    #[test]
    fn endpoints() {
        let m = Mirrors::default();
        assert_eq!(
            m.endpoint(&repo("docker.io", "library/alpine"), &[]).base,
            "https://registry-1.docker.io"
        );
        assert_eq!(
            m.endpoint(&repo("127.0.0.1:5000", "a"), &[]).base,
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            m.endpoint(&repo("localhost:5000", "a"), &[]).base,
            "http://localhost:5000"
        );
        assert_eq!(
            m.endpoint(&repo("reg.example:5000", "a"), &[]).base,
            "https://reg.example:5000"
        );
        assert_eq!(
            m.endpoint(&repo("reg.example:5000", "a"), &["reg.example:5000".into()])
                .base,
            "http://reg.example:5000"
        );
    }

    #[test]
    fn mirrors_rewrite_repositories() {
        let m = Mirrors::new(&[
            "docker.io=http://127.0.0.1:5001/hub".into(),
            "https://mirror.example".into(),
        ])
        .unwrap();
        let e = m.endpoint(&repo("index.docker.io", "library/alpine"), &[]);
        assert_eq!(
            (e.base.as_str(), e.path.as_str()),
            ("http://127.0.0.1:5001", "hub/library/alpine")
        );
        let e = m.endpoint(&repo("quay.io", "x/y"), &[]);
        assert_eq!(
            (e.base.as_str(), e.path.as_str()),
            ("https://mirror.example", "x/y")
        );
        assert!(Mirrors::new(&["ftp://x".into()]).is_err());
    }
}
