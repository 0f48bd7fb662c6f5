//! The HTTP client the network providers share: ureq with a total timeout per request,
//! a size limit per answer, and TLS roots from the image's `/etc/ssl/certs` (the metadata
//! package binds the host's; add the `ca-certificates` package for HTTPS providers).

use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// Where the CA bundle is looked for, in order.
pub const CA_FILES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/certs/ca-bundle.crt",
];

/// An HTTP failure, naming the method and URL.
#[derive(Debug)]
pub enum HttpError {
    /// The server answered with a status other than 200.
    Status {
        /// `GET http://...`
        request: String,
        /// The status.
        status: u16,
    },
    /// No answer: name not found, refused, timed out, TLS, or a body over the limit.
    Transport {
        /// `GET http://...`
        request: String,
        /// What went wrong.
        cause: String,
    },
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Status { request, status } => write!(f, "{request}: status {status}"),
            HttpError::Transport { request, cause } => write!(f, "{request}: {cause}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// The client.
#[derive(Debug, Clone)]
pub struct Http {
    agent: ureq::Agent,
    timeout: Duration,
}

/// Failures worth another attempt within the time limit: no route yet (the address is
/// still being configured), or a connection the other side dropped.
fn retryable(e: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    match e {
        ureq::Error::Io(io) => matches!(
            io.kind(),
            NetworkUnreachable
                | HostUnreachable
                | ConnectionReset
                | ConnectionAborted
                | UnexpectedEof
                | BrokenPipe
        ),
        _ => false,
    }
}

/// The pause between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Certificates of the first CA bundle found.
fn roots() -> Vec<Certificate<'static>> {
    for f in CA_FILES {
        if let Ok(pem) = std::fs::read(f) {
            return ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
        }
    }
    Vec::new()
}

impl Http {
    /// A client whose every request (connect, send, answer) ends within `timeout`.
    pub fn new(timeout: Duration) -> Http {
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(roots())))
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(3)
            .tls_config(tls)
            .build()
            .new_agent();
        Http { agent, timeout }
    }

    /// Runs `call` (one request with the time left) until it succeeds, fails for good, or
    /// the time limit is spent; transient failures ([`retryable`]) are tried again.
    fn with_retries(
        &self,
        request: String,
        limit: u64,
        call: &dyn Fn(Duration) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>, HttpError> {
        let start = std::time::Instant::now();
        loop {
            let left = self.timeout.saturating_sub(start.elapsed());
            let r = call(left);
            match r {
                Err(ref e) if retryable(e) && left > RETRY_PAUSE * 2 => {
                    std::thread::sleep(RETRY_PAUSE);
                }
                r => return finish(request, r, limit),
            }
        }
    }

    /// GET `url` with `headers`; the body if the status is 200 and it is at most `limit`
    /// bytes.
    pub fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        limit: u64,
    ) -> Result<Vec<u8>, HttpError> {
        self.request(Method::Get, url, headers, limit)
    }

    /// PUT `url` with `headers` and an empty body (AWS's IMDSv2 token request).
    pub fn put(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        limit: u64,
    ) -> Result<Vec<u8>, HttpError> {
        self.request(Method::Put, url, headers, limit)
    }

    fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        limit: u64,
    ) -> Result<Vec<u8>, HttpError> {
        let name = match method {
            Method::Get => "GET",
            Method::Put => "PUT",
        };
        self.with_retries(format!("{name} {url}"), limit, &|left| {
            let mut b = ureq::http::Request::builder().method(name).uri(url);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let req = b.body(()).map_err(ureq::Error::from)?;
            let req = self
                .agent
                .configure_request(req)
                .timeout_global(Some(left))
                .build();
            self.agent.run(req)
        })
    }
}

/// The methods the providers use.
#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Put,
}

fn finish(
    request: String,
    r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    limit: u64,
) -> Result<Vec<u8>, HttpError> {
    let transport = |request: String, e: ureq::Error| {
        let cause = match e {
            ureq::Error::HostNotFound => "host not found".to_owned(),
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) if roots().is_empty() => format!(
                "{e} (no CA certificates in /etc/ssl/certs: add the ca-certificates package)"
            ),
            e => e.to_string(),
        };
        HttpError::Transport { request, cause }
    };
    let mut resp = r.map_err(|e| transport(request.clone(), e))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(HttpError::Status { request, status });
    }
    resp.body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| transport(request, e))
}
