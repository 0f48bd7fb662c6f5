//! A blocking client for the OCI distribution API (registry v2).
//!
//! - manifests and indexes (OCI and Docker schema2) by tag or digest, digest-checked;
//! - blobs streamed into any writer, with a progress callback;
//! - push: existence check, cross-repository mount, monolithic upload, manifest PUT;
//! - auth: anonymous, Bearer tokens from the `WWW-Authenticate` challenge, Basic; credentials
//!   from `~/.docker/config.json` and its credential helpers;
//! - mirrors (`[<registry>=]<url>`) and plain http only for loopback or named-insecure hosts.
//!
//! | module | role |
//! |---|---|
//! | `client` | requests, auth, retries, timeouts |
//! | `credentials` | credentials from `--registry-creds` (`REGISTRY=USER:PASSWORD` or a token) |
//! | `challenge` | `WWW-Authenticate` challenges, query encoding |
//! | `mirror` | registry endpoints and mirror rewriting |

mod challenge;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod credentials;
mod mirror;

pub use challenge::{Challenge, parse_challenge, token_from_response};
#[cfg(feature = "client")]
pub use client::{BlobSink, Client, ClientOptions, Manifest as FetchedManifest, RegistryError};
#[cfg(feature = "client")]
pub use credentials::{BadCredentials, Credentials};
pub use mirror::{Endpoint, Mirrors, parse_mirror};

/// Where an image lives: registry host and repository path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repository {
    /// `docker.io`, `localhost:5000`, ...
    pub registry: String,
    /// `library/alpine`.
    pub path: String,
}

impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}
