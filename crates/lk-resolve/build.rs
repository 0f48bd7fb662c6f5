//! Tests against a real registry run when Debian's docker-registry is installed; otherwise
//! they are reported as ignored with the reason (never as passed).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_docker_registry)");
    println!("cargo::rerun-if-changed=/usr/bin/docker-registry");
    if std::path::Path::new("/usr/bin/docker-registry").is_file() {
        println!("cargo::rustc-cfg=has_docker_registry");
    }
}
