//! Discovery: the case directory as a tree of groups and tests, sorted by numeric prefix.

use std::path::{Path, PathBuf};

use crate::labels::Labels;
use crate::tags::{self, Tags};

/// A directory with a `group.sh` or sub-directories.
#[derive(Clone, Debug)]
pub struct Group {
    /// Full dotted name (`linuxkit.build.formats`); empty for an unnamed root.
    pub name: String,
    /// Directory.
    pub dir: PathBuf,
    /// Numeric prefix of the directory name.
    pub order: u64,
    /// `group.sh`, if any.
    pub script: Option<PathBuf>,
    /// Its tags.
    pub tags: Tags,
    /// Its own labels.
    pub labels: Labels,
    /// Tests and sub-groups, sorted by (order, directory name).
    pub children: Vec<Child>,
}

/// A directory with a `test.sh`.
#[derive(Clone, Debug)]
pub struct Test {
    /// Full dotted name.
    pub name: String,
    /// Directory (the script's working directory).
    pub dir: PathBuf,
    /// Numeric prefix.
    pub order: u64,
    /// `test.sh`.
    pub script: PathBuf,
    /// Its tags.
    pub tags: Tags,
    /// Its labels plus its direct parent group's.
    pub labels: Labels,
}

/// A group's child.
#[derive(Clone, Debug)]
pub enum Child {
    /// A test.
    Test(Test),
    /// A sub-group.
    Group(Group),
}

impl Child {
    fn order(&self) -> u64 {
        match self {
            Child::Test(t) => t.order,
            Child::Group(g) => g.order,
        }
    }
}

/// The whole case tree.
#[derive(Clone, Debug)]
pub struct Project {
    /// The root group (the case directory).
    pub root: Group,
    /// Top-level `pre-test.sh`, run before every test.
    pub pre_test: Option<PathBuf>,
    /// Top-level `post-test.sh`, run after every test.
    pub post_test: Option<PathBuf>,
}

/// Discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The case directory is missing or unreadable.
    #[error("cannot read case directory {path}")]
    ReadDir {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A script's tags are invalid.
    #[error(transparent)]
    Tags(#[from] tags::TagError),
}

/// `001_name` -> (1, "name"); a directory without a numeric prefix keeps its whole name
/// (rtf strips any prefix before `_`, numeric or not; we only strip numbers).
pub fn name_and_order(base: &str) -> (u64, String) {
    if let Some((prefix, rest)) = base.split_once('_')
        && let Ok(n) = prefix.parse::<u64>()
    {
        return (n, rest.to_owned());
    }
    (0, base.to_owned())
}

fn script(dir: &Path, stem: &str) -> Option<PathBuf> {
    let p = dir.join(format!("{stem}.sh"));
    p.is_file().then_some(p)
}

fn read_tags(path: &Path) -> Result<Tags, DiscoverError> {
    let text = std::fs::read_to_string(path).map_err(|source| DiscoverError::ReadDir {
        path: path.display().to_string(),
        source,
    })?;
    Ok(tags::parse(path, &text)?)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, DiscoverError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DiscoverError::ReadDir {
        path: dir.display().to_string(),
        source,
    })?;
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && !p.file_name().is_some_and(|n| {
                    n.to_string_lossy().starts_with('_') || n.to_string_lossy().starts_with('.')
                })
        })
        .collect();
    out.sort();
    Ok(out)
}

fn join_name(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

impl Project {
    /// Reads the tree under `casedir`.
    pub fn discover(casedir: &Path) -> Result<Project, DiscoverError> {
        let script_path = script(casedir, "group");
        let tags = match &script_path {
            Some(p) => read_tags(p)?,
            None => Tags::default(),
        };
        let name = tags.name.clone().unwrap_or_default();
        let labels = Labels::parse(tags.labels.as_deref().unwrap_or(""));
        let mut root = Group {
            name,
            dir: casedir.to_path_buf(),
            order: 0,
            script: script_path,
            tags,
            labels,
            children: Vec::new(),
        };
        root.children = read_children(&root)?;
        Ok(Project {
            root,
            pre_test: script(casedir, "pre-test"),
            post_test: script(casedir, "post-test"),
        })
    }
}

fn read_children(group: &Group) -> Result<Vec<Child>, DiscoverError> {
    let mut children = Vec::new();
    for dir in subdirs(&group.dir)? {
        let base = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (order, short) = name_and_order(&base);
        let name = join_name(&group.name, &short);
        let test_script = script(&dir, "test");
        let group_script = script(&dir, "group");
        let has_test = test_script.is_some();
        if let Some(script) = test_script {
            let tags = read_tags(&script)?;
            let labels = Labels::parse(tags.labels.as_deref().unwrap_or("")).union(&group.labels);
            children.push(Child::Test(Test {
                name: name.clone(),
                dir: dir.clone(),
                order,
                script,
                tags,
                labels,
            }));
        }
        // A test directory holding data sub-directories is not also a group (unlike rtf);
        // a directory is a group when it has a group.sh, or sub-directories and no test.sh.
        let is_group = group_script.is_some() || (!has_test && !subdirs(&dir)?.is_empty());
        if is_group {
            let tags = match &group_script {
                Some(p) => read_tags(p)?,
                None => Tags::default(),
            };
            let labels = Labels::parse(tags.labels.as_deref().unwrap_or(""));
            let mut sub = Group {
                name,
                dir,
                order,
                script: group_script,
                tags,
                labels,
                children: Vec::new(),
            };
            sub.children = read_children(&sub)?;
            children.push(Child::Group(sub));
        }
    }
    // Stable: ties keep directory-name order.
    children.sort_by_key(Child::order);
    Ok(children)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_prefixes() {
        assert_eq!(
            name_and_order("001_example_test"),
            (1, "example_test".to_owned())
        );
        assert_eq!(name_and_order("nounder"), (0, "nounder".to_owned()));
        assert_eq!(name_and_order("foo_bar"), (0, "foo_bar".to_owned()));
    }
}
