//! `linuxkit serve`.

use lk_ops::serve::FileServer;

use crate::Exit;
use crate::cli::{Global, ServeArgs};
use crate::output;

pub fn run(global: &Global, a: &ServeArgs) -> anyhow::Result<Exit> {
    let server = FileServer::bind(&a.port, &a.directory)?;
    if let Some(addr) = server.local_addr() {
        output::info(
            global.quiet,
            &format!("serving {} on http://{addr}/", a.directory.display()),
        );
    }
    let quiet = global.quiet;
    server.run(&|line| output::info(quiet, line));
    Ok(Exit::Success)
}
