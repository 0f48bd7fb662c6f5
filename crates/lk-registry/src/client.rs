//! Requests, authentication and the registry v2 operations.

use std::collections::HashMap;

use crate::challenge::{encode, parse_challenge};
use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use lk_oci::{Descriptor, Digest, Hasher};
use ureq::http::Response;

use crate::Repository;
use crate::credentials::Credentials;
use crate::mirror::{Endpoint, Mirrors};

const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest accepted (they are JSON documents of a few KiB).
const MAX_MANIFEST: u64 = 8 * 1024 * 1024;

impl RegistryError {
    /// Whether trying again may succeed: the connection failed, was cut or timed out, or the
    /// registry answered 5xx or 429 (busy).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Transport { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Where [`Client::get_blob_from`] writes a blob: bytes in order, and a way to start again.
pub trait BlobSink: Write {
    /// Drops everything written so far.
    fn restart(&mut self) -> std::io::Result<()>;
}

/// A sink that hashes what passes (`get_blob` checks the digest itself). It is only ever
/// asked to restart before its first byte (no range is asked for), so that is a no-op.
struct Hashing<'a> {
    inner: &'a mut dyn Write,
    hasher: Hasher,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl BlobSink for Hashing<'_> {
    fn restart(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Settings of a client.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Registry mirrors.
    pub mirrors: Mirrors,
    /// Hosts reachable over plain http besides loopback ones.
    pub insecure: Vec<String>,
    /// Credentials given explicitly, by registry host (win over the Docker config).
    pub credentials: HashMap<String, Credentials>,
    /// Read `~/.docker/config.json` and credential helpers.
    pub docker_config: bool,
    /// Per-request I/O timeout (default 60 s without progress).
    pub timeout: Option<Duration>,
}

/// A registry operation failed; every variant names what it was about.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Could not connect or the connection broke.
    #[error("{method} {url}: cannot reach the registry")]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<ureq::Error>,
    },
    /// The registry answered with an error status.
    #[error("{method} {url}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        /// HTTP method.
        method: &'static str,
        /// URL.
        url: String,
        /// Status code.
        status: u16,
        /// The start of the error body.
        body: String,
    },
    /// Authentication failed.
    #[error("authenticating to {registry}: {reason}")]
    Auth {
        /// Registry host.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// The manifest or tag does not exist.
    #[error("{reference}: not found in the registry")]
    NotFound {
        /// `registry/repo:tag`.
        reference: String,
    },
    /// Content did not match its digest.
    #[error("{what} from {url} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// `manifest` or `blob`.
        what: &'static str,
        /// URL.
        url: String,
        /// Expected.
        expected: Digest,
        /// Received.
        actual: Digest,
    },
    /// Writing the received content failed.
    #[error("storing {digest} from {url}")]
    Sink {
        /// URL.
        url: String,
        /// The blob.
        digest: Digest,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The registry's reply is not what the protocol says.
    #[error("{url}: {reason}")]
    Protocol {
        /// URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

/// A fetched manifest or index.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// Its media type.
    pub media_type: String,
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// Their digest.
    pub digest: Digest,
}

impl Manifest {
    /// A descriptor for it.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            &self.media_type,
            self.digest.clone(),
            self.bytes.len() as u64,
        )
    }
}

/// A thread-safe blocking registry client.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    opts: ClientOptions,
    tokens: Mutex<HashMap<String, String>>,
}

enum Method {
    Get,
    Head,
    Put,
    Post,
}

impl Method {
    fn name(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

/// Where a request goes and the access it needs.
struct Target<'a> {
    ep: &'a Endpoint,
    registry: &'a str,
    scope: String,
}

impl Client {
    /// A client with `opts`.
    pub fn new(opts: ClientOptions) -> Client {
        // Also per read and write: a registry that stops sending mid-blob fails the pull.
        let idle = Some(opts.timeout.unwrap_or(Duration::from_secs(60)));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(idle)
            .timeout_per_read(idle)
            .timeout_per_write(idle)
            .user_agent(concat!("linuxkit-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Client {
            agent,
            opts,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn endpoint(&self, repo: &Repository) -> Endpoint {
        self.opts.mirrors.endpoint(repo, &self.opts.insecure)
    }

    fn credentials(&self, host: &str, registry: &str) -> Option<Credentials> {
        if let Some(c) = self
            .opts
            .credentials
            .get(registry)
            .or_else(|| self.opts.credentials.get(host))
        {
            return Some(c.clone());
        }
        if !self.opts.docker_config {
            return None;
        }
        let keys: Vec<&str> = if registry == "docker.io" {
            vec![
                "https://index.docker.io/v1/",
                "docker.io",
                "index.docker.io",
            ]
        } else {
            vec![registry, host]
        };
        keys.into_iter()
            .find_map(|k| match docker_credential::get_credential(k) {
                Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
                    Some(Credentials::Basic { user, password })
                }
                Ok(docker_credential::DockerCredential::IdentityToken(t)) => {
                    Some(Credentials::IdentityToken(t))
                }
                Err(_) => None,
            })
    }

    fn token_key(host: &str, scope: &str) -> String {
        format!("{host}|{scope}")
    }

    fn cached_auth(&self, ep: &Endpoint, scope: &str) -> Option<String> {
        self.tokens
            .lock()
            .ok()?
            .get(&Self::token_key(&ep.host, scope))
            .cloned()
    }

    /// Answers a 401 challenge: returns the Authorization header value to retry with.
    fn authenticate(
        &self,
        ep: &Endpoint,
        registry: &str,
        scope: &str,
        challenge: &str,
    ) -> Result<String, RegistryError> {
        let auth_err = |reason: String| RegistryError::Auth {
            registry: registry.to_owned(),
            reason,
        };
        let c = parse_challenge(challenge);
        let creds = self.credentials(&ep.host, registry);
        let header = match c.scheme.as_str() {
            "basic" => match creds {
                Some(Credentials::Basic { user, password }) => format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))),
                _ => return Err(auth_err("the registry wants a user name and password; run `docker login` or pass credentials".into())),
            },
            "bearer" => {
                let realm = c.params.get("realm").ok_or_else(|| auth_err("the Bearer challenge has no realm".into()))?;
                let mut url = format!("{realm}?");
                if let Some(s) = c.params.get("service") {
                    url.push_str(&format!("service={}&", encode(s)));
                }
                let scope = c.params.get("scope").cloned().unwrap_or_else(|| scope.to_owned());
                url.push_str(&format!("scope={}", encode(&scope)));
                let mut req = self.agent.get(&url);
                match &creds {
                    Some(Credentials::Basic { user, password }) => {
                        req = req.header("Authorization", &format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))));
                    }
                    Some(Credentials::IdentityToken(t)) => {
                        url.push_str(&format!("&grant_type=refresh_token&refresh_token={}", encode(t)));
                        req = self.agent.get(&url);
                    }
                    None => {}
                }
                let mut resp = req.call().map_err(|e| auth_err(format!("token request to {realm} failed: {e}")))?;
                if !resp.status().is_success() {
                    return Err(auth_err(format!("token endpoint {realm} answered HTTP {}", resp.status().as_u16())));
                }
                let body = resp.body_mut().with_config().limit(MAX_MANIFEST).read_to_vec().map_err(|e| auth_err(format!("reading the token: {e}")))?;
                let token = crate::challenge::token_from_response(&body).map_err(auth_err)?;
                format!("Bearer {token}")
            }
            other => return Err(auth_err(format!("unsupported authentication scheme `{other}`"))),
        };
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(Self::token_key(&ep.host, scope), header.clone());
        }
        Ok(header)
    }

    /// One request, retried once with credentials after a 401.
    fn request(
        &self,
        method: Method,
        url: &str,
        t: &Target<'_>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let (ep, registry, scope) = (t.ep, t.registry, t.scope.as_str());
        let mut auth = self.cached_auth(ep, scope);
        for attempt in 0..2 {
            let resp = self.send(&method, url, headers, auth.as_deref(), body)?;
            if resp.status().as_u16() == 401 && attempt == 0 {
                let challenge = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                if challenge.is_empty() {
                    return Err(RegistryError::Auth {
                        registry: registry.to_owned(),
                        reason: format!("{} {url}: HTTP 401 without a challenge", method.name()),
                    });
                }
                auth = Some(self.authenticate(ep, registry, scope, &challenge)?);
                continue;
            }
            return Ok(resp);
        }
        Err(RegistryError::Auth {
            registry: registry.to_owned(),
            reason: format!(
                "{} {url}: access denied with the credentials found",
                method.name()
            ),
        })
    }

    fn send(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, &str)],
        auth: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let transport = |source: ureq::Error| RegistryError::Transport {
            method: method.name(),
            url: url.to_owned(),
            source: Box::new(source),
        };
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut r = $req;
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                if let Some(a) = auth {
                    r = r.header("Authorization", a);
                }
                r
            }};
        }
        match method {
            Method::Get => with_headers!(self.agent.get(url)).call(),
            Method::Head => with_headers!(self.agent.head(url)).call(),
            Method::Put => with_headers!(self.agent.put(url)).send(body.unwrap_or_default()),
            Method::Post => with_headers!(self.agent.post(url)).send(body.unwrap_or_default()),
        }
        .map_err(transport)
    }

    fn status_error(
        method: &'static str,
        url: &str,
        mut resp: Response<ureq::Body>,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(4096)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        RegistryError::Status {
            method,
            url: url.to_owned(),
            status,
            body: body.chars().take(300).collect::<String>().trim().to_owned(),
        }
    }

    /// A GET's response when it succeeded; 404 is [`RegistryError::NotFound`] naming `what`.
    fn found(
        url: &str,
        what: String,
        resp: Response<ureq::Body>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        if resp.status().as_u16() == 404 {
            return Err(RegistryError::NotFound { reference: what });
        }
        if !resp.status().is_success() {
            return Err(Self::status_error("GET", url, resp));
        }
        Ok(resp)
    }

    /// One request to `/v2/<repo>/<kind>/<reference>` with the access it needs.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        method: Method,
        repo: &Repository,
        kind: &str,
        reference: &str,
        access: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<(String, Response<ureq::Body>), RegistryError> {
        let ep = self.endpoint(repo);
        let url = format!("{}/v2/{}/{kind}/{reference}", ep.base, ep.path);
        let target = Target {
            ep: &ep,
            registry: &repo.registry,
            scope: format!("repository:{}:{access}", ep.path),
        };
        let resp = self.request(method, &url, &target, headers, body)?;
        Ok((url, resp))
    }

    /// Fetches a manifest or index by tag or digest.
    pub fn get_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let (url, resp) = self.call(
            Method::Get,
            repo,
            "manifests",
            reference,
            "pull",
            &[("Accept", ACCEPT_MANIFESTS)],
            None,
        )?;
        let mut resp = Self::found(&url, format!("{repo}:{reference}"), resp)?;
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|d| d.parse::<Digest>().ok());
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| RegistryError::Transport {
                method: "GET",
                url: url.clone(),
                source: Box::new(e),
            })?;
        let digest = Digest::of(&bytes);
        let expected = reference.parse::<Digest>().ok().or(header_digest);
        if let Some(e) = expected
            && e != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: "manifest",
                url,
                expected: e,
                actual: digest,
            });
        }
        let media_type = if media_type.is_empty() || media_type == "application/json" {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or(media_type)
        } else {
            media_type
        };
        Ok(Manifest {
            media_type,
            bytes,
            digest,
        })
    }

    /// Whether a manifest exists; its descriptor if so (HEAD).
    pub fn head_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<Descriptor>, RegistryError> {
        let (url, resp) = self.call(
            Method::Head,
            repo,
            "manifests",
            reference,
            "pull",
            &[("Accept", ACCEPT_MANIFESTS)],
            None,
        )?;
        match resp.status().as_u16() {
            404 => Ok(None),
            s if (200..300).contains(&s) => {
                let h = |k: &str| {
                    resp.headers()
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let digest = h("docker-content-digest").and_then(|d| d.parse().ok());
                match digest {
                    Some(d) => Ok(Some(Descriptor::new(
                        h("content-type")
                            .unwrap_or_default()
                            .split(';')
                            .next()
                            .unwrap_or(""),
                        d,
                        h("content-length")
                            .and_then(|l| l.parse().ok())
                            .unwrap_or(0),
                    ))),
                    // Some registries omit the digest on HEAD: fall back to GET.
                    None => self
                        .get_manifest(repo, reference)
                        .map(|m| Some(m.descriptor())),
                }
            }
            _ => Err(Self::status_error("HEAD", &url, resp)),
        }
    }

    /// Streams blob `digest` into `sink`, verifying it; `progress` gets the bytes received so far.
    pub fn get_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, RegistryError> {
        let mut hashing = Hashing {
            inner: sink,
            hasher: Hasher::new(),
        };
        let (url, total) = self.fetch_blob(repo, digest, 0, &mut hashing, progress)?;
        let actual = hashing.hasher.finish();
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: "blob",
                url,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(total)
    }

    /// Downloads blob `digest` into `sink`, continuing at byte `offset` (what `sink` already
    /// holds) with an HTTP range request. A registry that answers the range with the whole
    /// blob (200) gets `sink.restart()` first. The digest is not checked here: `sink` sees
    /// every byte of the blob (the cache's writer verifies it when committed). `progress`
    /// gets the bytes the sink holds. Returns that count.
    pub fn get_blob_from(
        &self,
        repo: &Repository,
        digest: &Digest,
        offset: u64,
        sink: &mut dyn BlobSink,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, RegistryError> {
        self.fetch_blob(repo, digest, offset, sink, progress)
            .map(|(_, total)| total)
    }

    /// [`Client::get_blob_from`], also returning the URL asked.
    fn fetch_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        offset: u64,
        sink: &mut dyn BlobSink,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(String, u64), RegistryError> {
        let range = format!("bytes={offset}-");
        let headers: &[(&str, &str)] = if offset > 0 {
            &[("Range", range.as_str())]
        } else {
            &[]
        };
        let (url, resp) = self.call(
            Method::Get,
            repo,
            "blobs",
            &format!("{digest}"),
            "pull",
            headers,
            None,
        )?;
        let sink_err = |source| RegistryError::Sink {
            url: url.clone(),
            digest: digest.clone(),
            source,
        };
        let resumed = resp.status().as_u16() == 206
            && resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(&format!("bytes {offset}-")));
        let mut resp = Self::found(&url, format!("{repo}@{digest}"), resp)?;
        let mut total = if resumed {
            offset
        } else {
            sink.restart().map_err(sink_err)?;
            0
        };
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| RegistryError::Transport {
                    method: "GET",
                    url: url.clone(),
                    source: Box::new(ureq::Error::Io(e)),
                })?;
            if n == 0 {
                break;
            }
            sink.write_all(&buf[..n]).map_err(sink_err)?;
            total += n as u64;
            progress(total);
        }
        Ok((url, total))
    }

    /// Whether the repository has the blob.
    pub fn blob_exists(&self, repo: &Repository, digest: &Digest) -> Result<bool, RegistryError> {
        let (url, resp) = self.call(
            Method::Head,
            repo,
            "blobs",
            &format!("{digest}"),
            "pull,push",
            &[],
            None,
        )?;
        match resp.status().as_u16() {
            404 => Ok(false),
            s if (200..300).contains(&s) => Ok(true),
            _ => Err(Self::status_error("HEAD", &url, resp)),
        }
    }

    /// Uploads a blob unless present; tries a cross-repository mount from `mount_from` first.
    pub fn push_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        data: &mut dyn Read,
        mount_from: Option<&str>,
    ) -> Result<(), RegistryError> {
        if self.blob_exists(repo, digest)? {
            return Ok(());
        }
        let ep = self.endpoint(repo);
        let scope = format!("repository:{}:pull,push", ep.path);
        let mut url = format!("{}/v2/{}/blobs/uploads/", ep.base, ep.path);
        if let Some(from) = mount_from {
            url.push_str(&format!("?mount={digest}&from={}", encode(from)));
        }
        let resp = self.request(
            Method::Post,
            &url,
            &Target {
                ep: &ep,
                registry: &repo.registry,
                scope: scope.clone(),
            },
            &[("Content-Length", "0")],
            Some(&[]),
        )?;
        match resp.status().as_u16() {
            201 => return Ok(()),
            202 => {}
            _ => return Err(Self::status_error("POST", &url, resp)),
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol {
                url: url.clone(),
                reason: "upload started without a Location".into(),
            })?;
        let mut put_url = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", ep.base)
        };
        put_url.push(if put_url.contains('?') { '&' } else { '?' });
        put_url.push_str(&format!("digest={}", encode(digest.as_str())));
        let auth = self.cached_auth(&ep, &scope);
        let mut req = self
            .agent
            .put(&put_url)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", &size.to_string());
        if let Some(a) = &auth {
            req = req.header("Authorization", a);
        }
        let resp =
            req.send(ureq::SendBody::from_reader(data))
                .map_err(|e| RegistryError::Transport {
                    method: "PUT",
                    url: put_url.clone(),
                    source: Box::new(e),
                })?;
        if resp.status().as_u16() != 201 {
            return Err(Self::status_error("PUT", &put_url, resp));
        }
        Ok(())
    }

    /// Uploads a manifest or index under `reference` (a tag or its digest).
    pub fn put_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let (url, resp) = self.call(
            Method::Put,
            repo,
            "manifests",
            reference,
            "pull,push",
            &[("Content-Type", media_type)],
            Some(bytes),
        )?;
        if !resp.status().is_success() {
            return Err(Self::status_error("PUT", &url, resp));
        }
        Ok(Digest::of(bytes))
    }
}
