//! Registry credentials: given on the command line (`--registry-creds`) or found in
//! Docker's configuration by the client.

/// Registry credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password (or a token as password).
    Basic {
        /// User.
        user: String,
        /// Password.
        password: String,
    },
    /// An identity token for the token endpoint.
    IdentityToken(String),
}

/// A `--registry-creds` value that is not `REGISTRY=USER:PASSWORD` or `REGISTRY=TOKEN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--registry-creds {0:?} is not REGISTRY=USER:PASSWORD or REGISTRY=TOKEN (e.g. ghcr.io=me:secret)"
)]
pub struct BadCredentials(pub String);

impl Credentials {
    /// Parses LinuxKit's `--registry-creds` value: `REGISTRY=USER:PASSWORD`, or
    /// `REGISTRY=TOKEN` where the token is either Docker's `auth` (base64 of
    /// `USER:PASSWORD`, as in `~/.docker/config.json`) or an identity token. Returns the
    /// registry host and its credentials.
    pub fn parse_flag(value: &str) -> Result<(String, Credentials), BadCredentials> {
        use base64::Engine as _;
        let bad = || BadCredentials(value.to_owned());
        let (registry, secret) = value.split_once('=').ok_or_else(bad)?;
        if registry.is_empty() || secret.is_empty() {
            return Err(bad());
        }
        let basic = |pair: &str| {
            pair.split_once(':')
                .map(|(user, password)| Credentials::Basic {
                    user: user.to_owned(),
                    password: password.to_owned(),
                })
        };
        let creds = match basic(secret) {
            Some(c) => c,
            None => base64::engine::general_purpose::STANDARD
                .decode(secret)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|pair| basic(&pair))
                .unwrap_or_else(|| Credentials::IdentityToken(secret.to_owned())),
        };
        let registry = match registry {
            "index.docker.io" | "registry-1.docker.io" | "https://index.docker.io/v1/" => {
                "docker.io"
            }
            r => r,
        };
        Ok((registry.to_owned(), creds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_creds_forms() {
        let basic = |u: &str, p: &str| Credentials::Basic {
            user: u.into(),
            password: p.into(),
        };
        assert_eq!(
            Credentials::parse_flag("ghcr.io=me:se:cret").unwrap(),
            ("ghcr.io".into(), basic("me", "se:cret"))
        );
        // Docker's `auth`: base64 of user:password ("me:secret").
        assert_eq!(
            Credentials::parse_flag("index.docker.io=bWU6c2VjcmV0").unwrap(),
            ("docker.io".into(), basic("me", "secret"))
        );
        assert_eq!(
            Credentials::parse_flag("r.example:5000=opaque-token").unwrap(),
            (
                "r.example:5000".into(),
                Credentials::IdentityToken("opaque-token".into())
            )
        );
        for bad in ["ghcr.io", "=me:x", "ghcr.io="] {
            assert_eq!(
                Credentials::parse_flag(bad).unwrap_err(),
                BadCredentials(bad.into())
            );
        }
    }
}
