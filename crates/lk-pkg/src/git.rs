//! The `git` commands behind package tags, as a typed wrapper: failures name the command,
//! its status and stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

use lk_util::ToolError;
use lk_util::tool::output_any;

/// A git command failed (the shared external-tool failure: `git -C <dir> ...`, status,
/// stderr).
pub type GitError = ToolError;

/// Runs git in one directory.
#[derive(Clone, Debug)]
pub struct Git {
    dir: PathBuf,
}

impl Git {
    /// git `-C dir`.
    pub fn new(dir: &Path) -> Git {
        Git {
            dir: dir.to_path_buf(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.dir).args(args);
        cmd
    }

    /// Runs git; status 0 and 1 are answers, anything else an error.
    fn run(&self, args: &[&str]) -> Result<(i32, Vec<u8>), GitError> {
        let mut cmd = self.command(args);
        let out = output_any(&mut cmd)?;
        let code = out.status.code().unwrap_or(-1);
        if code != 0 && code != 1 {
            return Err(ToolError::failed(&cmd, out.status, &out.stderr));
        }
        Ok((code, out.stdout))
    }

    fn text(&self, args: &[&str]) -> Result<String, GitError> {
        let mut cmd = self.command(args);
        let out = lk_util::tool::output(&mut cmd)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Whether the directory is inside a work tree.
    pub fn in_work_tree(&self) -> bool {
        self.text(&["rev-parse", "--is-inside-work-tree"])
            .is_ok_and(|s| s == "true")
    }

    /// The top of the work tree.
    pub fn toplevel(&self) -> Result<PathBuf, GitError> {
        self.text(&["rev-parse", "--show-toplevel"])
            .map(PathBuf::from)
    }

    /// The commit `rev` resolves to.
    pub fn commit(&self, rev: &str) -> Result<String, GitError> {
        self.text(&["rev-parse", rev])
    }

    /// The root tree of `commit`.
    pub fn root_tree(&self, commit: &str) -> Result<String, GitError> {
        self.text(&["show", "--format=%T", "-s", commit])
    }

    /// The tree (or blob) hash of `path` (relative to the top) in `commit`, if it is in git.
    pub fn tree_hash(&self, commit: &str, path: &str) -> Result<Option<String>, GitError> {
        let out = self.text(&["ls-tree", "--full-tree", commit, "--", path])?;
        Ok(out.lines().next().and_then(|l| {
            let (meta, _) = l.split_once('\t')?;
            let hash = meta.split(' ').nth(2)?;
            (hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| hash.to_owned())
        }))
    }

    /// Whether `path` differs from HEAD or has untracked (not ignored) files.
    pub fn is_dirty(&self, path: &str) -> Result<bool, GitError> {
        let (changed, _) = self.run(&[
            "diff",
            "--no-ext-diff",
            "--exit-code",
            "--quiet",
            "HEAD",
            "--",
            path,
        ])?;
        if changed == 1 {
            return Ok(true);
        }
        let (untracked, _) = self.run(&[
            "ls-files",
            "--exclude-standard",
            "--others",
            "--error-unmatch",
            "--",
            path,
        ])?;
        Ok(untracked == 0)
    }

    /// Tracked then untracked (not ignored) files under the directory, relative to it.
    pub fn files(&self) -> Result<Vec<String>, GitError> {
        let mut out: Vec<String> = self
            .text(&["ls-files"])?
            .lines()
            .map(str::to_owned)
            .collect();
        out.extend(
            self.text(&["ls-files", "--exclude-standard", "--others"])?
                .lines()
                .map(str::to_owned),
        );
        Ok(out)
    }

    /// Tags pointing at HEAD.
    pub fn tags_at_head(&self) -> Result<Vec<String>, GitError> {
        Ok(self
            .text(&["tag", "-l", "--points-at", "HEAD"])?
            .lines()
            .map(str::to_owned)
            .collect())
    }
}
