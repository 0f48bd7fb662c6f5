//! Package tags on a throwaway git repository: clean, modified, untracked, committed.

use lk_pkg::{Package, PkgOptions};

use lk_testutil::git;

#[test]
fn the_tag_changes_exactly_when_the_content_does() {
    let repo = std::env::temp_dir().join(format!("lk-pkg-tag-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    let pkg = repo.join("pkg/hello");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("build.yml"), "image: hello\norg: example\n").unwrap();
    std::fs::write(pkg.join("Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(repo.join(".gitignore"), "*.out\n").unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);
    let opts = PkgOptions::default();
    let clean = Package::load(&pkg, &opts).unwrap();
    assert!(!clean.dirty);
    assert_eq!(clean.hash.len(), 40, "{}", clean.hash);
    assert_eq!(clean.tag(), format!("example/hello:{}", clean.hash));
    assert_eq!(
        clean.full_tag(),
        format!("docker.io/example/hello:{}", clean.hash)
    );

    // Ignored files change nothing.
    std::fs::write(pkg.join("x.out"), "build output").unwrap();
    assert_eq!(Package::load(&pkg, &opts).unwrap().tag(), clean.tag());

    // A modified tracked file: dirty, with a content hash.
    std::fs::write(pkg.join("Dockerfile"), "FROM scratch\nLABEL x=y\n").unwrap();
    let modified = Package::load(&pkg, &opts).unwrap();
    assert!(modified.dirty);
    assert!(
        modified.hash.starts_with(&format!("{}-dirty-", clean.hash)),
        "{}",
        modified.hash
    );
    assert_eq!(modified.hash.len(), 40 + 7 + 7);
    git(&repo, &["checkout", "-q", "--", "."]);

    // An untracked file: dirty too; different content, different suffix.
    std::fs::write(pkg.join("new.txt"), "a").unwrap();
    let untracked = Package::load(&pkg, &opts).unwrap();
    assert!(untracked.dirty);
    std::fs::write(pkg.join("new.txt"), "b").unwrap();
    let untracked2 = Package::load(&pkg, &opts).unwrap();
    assert_ne!(untracked.hash, untracked2.hash);

    // Committed: clean again, with a new tree hash.
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "two"]);
    let committed = Package::load(&pkg, &opts).unwrap();
    assert!(!committed.dirty);
    assert_ne!(committed.hash, clean.hash);

    // A change elsewhere in the repository does not change this package's tag.
    std::fs::write(repo.join("README"), "elsewhere").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "three"]);
    assert_eq!(Package::load(&pkg, &opts).unwrap().tag(), committed.tag());

    // Tag template and --dev.
    let t = Package::load(
        &pkg,
        &PkgOptions {
            tag: Some("6.6-{{.Hash}}".into()),
            ..PkgOptions::default()
        },
    )
    .unwrap();
    assert_eq!(t.tag(), format!("example/hello:6.6-{}", committed.hash));
    let _ = std::fs::remove_dir_all(&repo);
}

#[test]
fn errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("lk-pkg-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("build.yml"), "image: x\nnetwrok: true\n").unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
    let e = Package::load(&dir, &PkgOptions::default()).unwrap_err();
    let text = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(
        text.contains("build.yml:2:1: unknown key `netwrok`"),
        "{text}"
    );
    assert!(text.contains("did you mean `network`?"), "{text}");
    std::fs::write(dir.join("build.yml"), "image: x\ndockerfile: Missing\n").unwrap();
    let e = Package::load(&dir, &PkgOptions::default()).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An extra source joins the tag; one that is not tracked in the repository is an error
/// naming it, not a tag quietly made without it.
#[test]
fn extra_sources_must_be_tracked() {
    let repo = std::env::temp_dir().join(format!("lk-pkg-extra-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    let pkg = repo.join("pkg/hello");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(repo.join("src/main.c"), "int main;\n").unwrap();
    let yml = "image: hello\norg: example\nextra-sources:\n  - ../../src:/src\n";
    std::fs::write(pkg.join("build.yml"), yml).unwrap();
    std::fs::write(pkg.join("Dockerfile"), "FROM scratch\n").unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);
    let opts = PkgOptions::default();
    let with = Package::load(&pkg, &opts).unwrap();
    assert_eq!(with.hash.len(), 40);
    let yml = "image: hello\norg: example\nextra-sources:\n  - ../../missing:/src\n";
    std::fs::write(pkg.join("build.yml"), yml).unwrap();
    git(&repo, &["commit", "-qam", "two"]);
    let e = Package::load(&pkg, &opts).unwrap_err().to_string();
    assert!(
        e.contains("extra source")
            && e.contains("missing")
            && e.contains("not in the package's git repository"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&repo);
}
