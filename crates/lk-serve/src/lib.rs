//! `linuxkit serve`: serves a directory over HTTP, as LinuxKit's `http.FileServer` does for
//! iPXE boots: `GET`/`HEAD` of files (streamed, `Content-Length`, a content type for the
//! extensions boot files have), directory listings (`index.html` when present), a redirect
//! from `dir` to `dir/`. Names never leave the directory (`..` and symlinks pointing outside are
//! refused). Each request is reported as `METHOD URL` through a callback.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

/// Starting the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The directory is missing or unreadable.
    #[error("cannot serve {path}")]
    Directory {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A bound server.
pub struct FileServer {
    server: Server,
    root: PathBuf,
}

impl std::fmt::Debug for FileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileServer({})", self.root.display())
    }
}

/// Go-style `:port` means every interface.
pub fn listen_address(port: &str) -> String {
    if port.starts_with(':') {
        format!("0.0.0.0{port}")
    } else {
        port.to_owned()
    }
}

impl FileServer {
    /// Binds `addr` (`host:port`, or `:port` for every interface) to serve `dir`.
    pub fn bind(addr: &str, dir: &Path) -> Result<FileServer, ServeError> {
        let root = dir.canonicalize().map_err(|source| ServeError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
        let addr = listen_address(addr);
        let server = Server::http(&addr).map_err(|e| ServeError::Listen {
            addr: addr.clone(),
            reason: e.to_string(),
        })?;
        Ok(FileServer { server, root })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Serves until the process ends; `log` gets `METHOD URL` per request.
    pub fn run(&self, log: &(dyn Fn(&str) + Sync)) {
        std::thread::scope(|scope| {
            for request in self.server.incoming_requests() {
                log(&format!("{} {}", request.method(), request.url()));
                scope.spawn(|| {
                    let _ = respond(&self.root, request);
                });
            }
        });
    }
}

/// Adds a header (values here are ASCII; one that is not is left out).
fn with<R: std::io::Read>(resp: Response<R>, name: &str, value: &str) -> Response<R> {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(h) => resp.with_header(h),
        Err(()) => resp,
    }
}

fn text(status: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    with(
        Response::from_string(body).with_status_code(StatusCode(status)),
        "Content-Type",
        "text/plain; charset=utf-8",
    )
}

/// `%XX` decoding of a URL path (invalid escapes are kept as they are).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The file a URL names under `root`, or None when it would leave it.
pub fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let decoded = String::from_utf8(percent_decode(path)).ok()?;
    let mut out = root.to_path_buf();
    for c in Path::new(&decoded).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    // Symlinks may point anywhere: the resolved file must still be under the root.
    match out.canonicalize() {
        Ok(real) if real.starts_with(root) => Some(real),
        Ok(_) => None,
        Err(_) => Some(out), // missing: a 404 below
    }
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "ipxe" | "yml" | "yaml" | "cfg" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "iso" => "application/x-iso9660-image",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        _ => "application/octet-stream",
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn listing(dir: &Path) -> std::io::Result<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| {
            let mut n = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                n.push('/');
            }
            n
        })
        .collect();
    names.sort();
    let mut body = String::from("<pre>\n");
    for n in names {
        let href: String = n
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        body.push_str(&format!("<a href=\"{href}\">{}</a>\n", html_escape(&n)));
    }
    body.push_str("</pre>\n");
    Ok(body)
}

fn respond(root: &Path, request: Request) -> std::io::Result<()> {
    let head = match request.method() {
        Method::Get => false,
        Method::Head => true,
        _ => return request.respond(text(405, "405 method not allowed\n")),
    };
    let url = request.url().to_owned();
    let Some(path) = resolve(root, &url) else {
        return request.respond(text(403, "403 forbidden\n"));
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        return request.respond(text(404, "404 page not found\n"));
    };
    if meta.is_dir() {
        let bare = url.split(['?', '#']).next().unwrap_or("");
        if !bare.ends_with('/') {
            let to = format!("{bare}/");
            return request.respond(with(text(301, ""), "Location", &to));
        }
        let index = path.join("index.html");
        if index.is_file() {
            return send_file(request, &index, head);
        }
        let body = listing(&path)?;
        let resp = Response::from_string(if head { String::new() } else { body });
        return request.respond(with(resp, "Content-Type", "text/html; charset=utf-8"));
    }
    send_file(request, &path, head)
}

fn send_file(request: Request, path: &Path, head: bool) -> std::io::Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(_) => return request.respond(text(403, "403 forbidden\n")),
    };
    let len = file.metadata()?.len();
    if head {
        let resp = with(Response::empty(200), "Content-Type", content_type(path));
        return request.respond(with(resp, "Content-Length", &len.to_string()));
    }
    let resp = Response::new(
        StatusCode(200),
        vec![],
        file,
        usize::try_from(len).ok(),
        None,
    );
    request.respond(with(resp, "Content-Type", content_type(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_stay_under_the_root() {
        let root = std::env::temp_dir().join(format!("lk-serve-unit-{}", std::process::id()));
        std::fs::create_dir_all(root.join("a")).unwrap();
        let root = root.canonicalize().unwrap();
        assert_eq!(resolve(&root, "/a").unwrap(), root.join("a"));
        assert_eq!(resolve(&root, "/a%20b?x=1").unwrap(), root.join("a b"));
        assert!(resolve(&root, "/../etc/passwd").is_none());
        assert!(resolve(&root, "/a/%2e%2e/%2e%2e/etc").is_none());
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        assert!(resolve(&root, "/out/passwd").is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn go_style_port() {
        assert_eq!(listen_address(":8080"), "0.0.0.0:8080");
        assert_eq!(listen_address("127.0.0.1:0"), "127.0.0.1:0");
    }
}
