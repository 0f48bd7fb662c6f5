//! `linuxkit version`.

use crate::Exit;
use crate::cli::VersionArgs;
use crate::output;

pub fn run(args: &VersionArgs) -> anyhow::Result<Exit> {
    let version = env!("CARGO_PKG_VERSION");
    let commit = env!("LINUXKIT_GIT_COMMIT");
    if args.short {
        output::data(version);
    } else if args.commit {
        output::data(commit);
    } else {
        let argv0 = std::env::args()
            .next()
            .unwrap_or_else(|| "linuxkit".to_owned());
        let name = std::path::Path::new(&argv0).file_name().map_or_else(
            || "linuxkit".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut text = format!("{name} version {version}\n");
        if !commit.is_empty() {
            text.push_str(&format!("commit: {commit}\n"));
        }
        output::data(&text);
    }
    Ok(Exit::Success)
}
