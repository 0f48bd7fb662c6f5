//! Layer flattening, one case per test: shadowing, whiteouts, opaque directories, implicit
//! tombstones, hard links, special files, xattrs, long names, path safety, ordering.

use std::io::{self, Read};

use lk_formats::{Entry, Kind};
use std::sync::atomic::{AtomicUsize, Ordering};

use lk_formats::{SegmentId, SegmentStore};
use lk_rootfs::flatten::{Emit, FlattenError, IndexCache, Layer, flatten, flatten_with};

enum T<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Link(&'a str, &'a str),
    Sym(&'a str, &'a str),
    Char(&'a str, u32, u32),
    Fifo(&'a str),
    Xattr(&'a str, &'a [u8], &'a str, &'a [u8]),
}

fn layer(entries: &[T<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(1);
        match e {
            T::File(p, d) => {
                h.set_size(d.len() as u64);
                h.set_cksum();
                b.append_data(&mut h, p, *d).unwrap();
            }
            T::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_cksum();
                b.append_data(&mut h, p, io::empty()).unwrap();
            }
            T::Link(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            T::Sym(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            T::Char(p, ma, mi) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_device_major(*ma).unwrap();
                h.set_device_minor(*mi).unwrap();
                h.set_size(0);
                h.set_cksum();
                b.append_data(&mut h, p, io::empty()).unwrap();
            }
            T::Fifo(p) => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_size(0);
                h.set_cksum();
                b.append_data(&mut h, p, io::empty()).unwrap();
            }
            T::Xattr(p, d, k, v) => {
                let key = format!("SCHILY.xattr.{k}");
                b.append_pax_extensions([(key.as_str(), *v)]).unwrap();
                h.set_size(d.len() as u64);
                h.set_cksum();
                b.append_data(&mut h, p, *d).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

#[derive(Default)]
struct Collect {
    entries: Vec<(Entry, Vec<u8>)>,
    links: Vec<String>,
}

impl Emit for Collect {
    fn link_targets(&mut self, paths: &[String]) {
        self.links.extend(paths.iter().cloned());
    }
    fn entry(&mut self, e: Entry, data: &mut dyn Read) -> io::Result<()> {
        let mut d = Vec::new();
        data.read_to_end(&mut d)?;
        self.entries.push((e, d));
        Ok(())
    }
}

/// Flattens `layers` (bottom first); also with a layer index cache, empty and then filled,
/// which must give the same result.
fn run(layers: Vec<Vec<u8>>) -> Result<Collect, FlattenError> {
    let open = |i: usize| -> io::Result<Box<dyn Layer>> {
        Ok(Box::new(io::Cursor::new(layers[i].clone())))
    };
    let mut c = Collect::default();
    let plain = flatten(layers.len(), &open, &mut c);
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lk-flatten-index-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let store = SegmentStore::new(dir, 1 << 30);
    let keys = (0..layers.len())
        .map(|i| SegmentId::builder("t").field("layer", &layers[i]).build())
        .collect();
    let cache = IndexCache {
        store: &store,
        keys,
    };
    for pass in ["empty", "filled"] {
        let mut again = Collect::default();
        let r = flatten_with(layers.len(), &open, &mut again, Some(&cache));
        assert_eq!(r.is_ok(), plain.is_ok(), "{pass} index cache");
        assert_eq!(again.entries, c.entries, "{pass} index cache");
        assert_eq!(again.links, c.links, "{pass} index cache");
    }
    store.clear().unwrap();
    plain.map(|()| c)
}

fn names(c: &Collect) -> Vec<&str> {
    c.entries.iter().map(|(e, _)| e.path.as_str()).collect()
}

fn data<'a>(c: &'a Collect, path: &str) -> &'a [u8] {
    &c.entries
        .iter()
        .find(|(e, _)| e.path == path)
        .unwrap_or_else(|| panic!("{path} missing"))
        .1
}

#[test]
fn an_upper_file_shadows_a_lower_one() {
    let c = run(vec![
        layer(&[T::File("a", b"lower")]),
        layer(&[T::File("a", b"upper")]),
    ])
    .unwrap();
    assert_eq!(names(&c), ["a"]);
    assert_eq!(data(&c, "a"), b"upper");
}

#[test]
fn a_whiteout_hides_a_lower_file() {
    let c = run(vec![
        layer(&[T::File("a", b"1"), T::File("b", b"2")]),
        layer(&[T::File(".wh.a", b"")]),
    ])
    .unwrap();
    assert_eq!(names(&c), ["b"]);
}

#[test]
fn a_whiteout_hides_a_lower_directory_and_its_contents() {
    let c = run(vec![
        layer(&[T::Dir("d"), T::File("d/x", b"1"), T::File("d/sub/y", b"2")]),
        layer(&[T::File(".wh.d", b"")]),
    ])
    .unwrap();
    assert!(names(&c).is_empty(), "{:?}", names(&c));
}

#[test]
fn a_whiteout_does_not_hide_entries_of_its_own_layer() {
    let c = run(vec![
        layer(&[T::File("a", b"old")]),
        layer(&[T::File(".wh.a", b""), T::File("a", b"new")]),
    ])
    .unwrap();
    assert_eq!(names(&c), ["a"]);
    assert_eq!(data(&c, "a"), b"new");
}

#[test]
fn an_opaque_directory_hides_lower_contents_but_keeps_its_own() {
    let c = run(vec![
        layer(&[
            T::Dir("d"),
            T::File("d/lower", b"1"),
            T::File("other", b"o"),
        ]),
        layer(&[
            T::Dir("d"),
            T::File("d/.wh..wh..opq", b""),
            T::File("d/upper", b"2"),
        ]),
    ])
    .unwrap();
    let mut n = names(&c);
    n.sort();
    assert_eq!(n, ["d", "d/upper", "other"]);
}

#[test]
fn a_non_directory_hides_lower_entries_below_its_path() {
    let c = run(vec![
        layer(&[T::Dir("x"), T::File("x/inner", b"1")]),
        layer(&[T::File("x", b"now a file")]),
    ])
    .unwrap();
    assert_eq!(names(&c), ["x"]);
}

#[test]
fn the_last_entry_of_a_name_in_one_layer_wins() {
    let c = run(vec![layer(&[
        T::File("a", b"first"),
        T::File("a", b"second"),
    ])])
    .unwrap();
    assert_eq!(names(&c), ["a"]);
    assert_eq!(data(&c, "a"), b"second");
}

#[test]
fn parents_come_before_children_across_layers() {
    let c = run(vec![
        layer(&[T::Dir("usr"), T::Dir("usr/bin")]),
        layer(&[T::File("usr/bin/tool", b"t")]),
    ])
    .unwrap();
    assert_eq!(names(&c), ["usr", "usr/bin", "usr/bin/tool"]);
}

#[test]
fn hard_links_within_a_layer_stay_links_and_are_announced() {
    let c = run(vec![layer(&[
        T::File("bin/busybox", b"bb"),
        T::Link("bin/sh", "bin/busybox"),
    ])])
    .unwrap();
    let sh = c.entries.iter().find(|(e, _)| e.path == "bin/sh").unwrap();
    assert_eq!(sh.0.kind, Kind::Hardlink("bin/busybox".into()));
    assert_eq!(c.links, ["bin/busybox"]);
}

#[test]
fn a_hard_link_whose_target_was_replaced_above_becomes_a_file() {
    let c = run(vec![
        layer(&[T::File("a", b"original"), T::Link("b", "a")]),
        layer(&[T::File("a", b"replaced")]),
    ])
    .unwrap();
    assert_eq!(data(&c, "a"), b"replaced");
    let b = c.entries.iter().find(|(e, _)| e.path == "b").unwrap();
    assert_eq!(b.0.kind, Kind::File(8));
    assert_eq!(b.1, b"original");
}

#[test]
fn a_hard_link_whose_target_was_whited_out_becomes_a_file() {
    let c = run(vec![
        layer(&[T::File("a", b"data"), T::Link("b", "a")]),
        layer(&[T::File(".wh.a", b"")]),
    ])
    .unwrap();
    assert_eq!(names(&c), ["b"]);
    assert_eq!(data(&c, "b"), b"data");
}

#[test]
fn symlinks_devices_and_fifos_are_kept() {
    let c = run(vec![layer(&[
        T::Sym("lib64", "lib"),
        T::Char("dev/null", 1, 3),
        T::Fifo("run/pipe"),
    ])])
    .unwrap();
    let kinds: Vec<&Kind> = c.entries.iter().map(|(e, _)| &e.kind).collect();
    assert_eq!(
        kinds,
        [&Kind::Symlink("lib".into()), &Kind::Char(1, 3), &Kind::Fifo]
    );
}

#[test]
fn xattrs_are_kept() {
    let c = run(vec![layer(&[T::Xattr(
        "bin/ping",
        b"p",
        "security.capability",
        b"\x01\x02",
    )])])
    .unwrap();
    assert_eq!(
        c.entries[0].0.xattrs,
        [("security.capability".to_owned(), b"\x01\x02".to_vec())]
    );
}

#[test]
fn long_names_are_kept() {
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(120));
    let c = run(vec![layer(&[T::File(&long, b"x")])]).unwrap();
    assert_eq!(names(&c), [long.as_str()]);
}

#[test]
fn absolute_and_dotted_names_are_normalized() {
    let c = run(vec![layer(&[
        T::File("./etc/a", b"1"),
        T::File("etc/./b", b"2"),
    ])])
    .unwrap();
    assert_eq!(names(&c), ["etc/a", "etc/b"]);
}

#[test]
fn a_name_leaving_the_root_is_rejected() {
    // The tar crate refuses to write `..`, so patch the header by hand.
    let mut raw = layer(&[T::File("aa/xx/escape", b"x")]);
    raw[..5].copy_from_slice(b"../..");
    raw[148..156].copy_from_slice(b"        ");
    let sum: u32 = raw[..512].iter().map(|&b| u32::from(b)).sum();
    raw[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let e = run(vec![raw]).err().expect("must fail");
    assert!(e.to_string().contains("leaves the image root"), "{e}");
}

#[test]
fn a_name_below_a_symlink_of_the_image_is_rejected() {
    let e = run(vec![
        layer(&[T::Sym("lib", "/host/lib")]),
        layer(&[T::File("lib/evil.so", b"x")]),
    ])
    .err()
    .expect("must fail");
    assert!(e.to_string().contains("below a symlink"), "{e}");
}

#[test]
fn a_layer_that_is_not_a_tar_is_reported() {
    let e = run(vec![vec![0x42; 1024]]).err().expect("must fail");
    assert!(e.to_string().contains("not a valid tar archive"), "{e}");
}

/// Rewrites the name field of the first header of `raw` (same length) and fixes its checksum.
fn patch_name(raw: &mut [u8], at: usize, name: &[u8]) {
    raw[at..at + name.len()].copy_from_slice(name);
    raw[at + 148..at + 156].copy_from_slice(b"        ");
    let sum: u32 = raw[at..at + 512].iter().map(|&b| u32::from(b)).sum();
    raw[at + 148..at + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

#[test]
fn an_absolute_name_stays_inside_the_root() {
    let mut raw = layer(&[T::File("xetc/passwd", b"x")]);
    patch_name(&mut raw, 0, b"/etc");
    let c = run(vec![raw]).unwrap();
    assert_eq!(names(&c), ["etc/passwd"]);
}

#[test]
fn a_dotdot_hidden_in_the_middle_of_a_name_is_rejected() {
    // `usr/lib/../../..//escape`: one level above the root.
    let mut raw = layer(&[T::File("usr/lib/xx/xx/xxx/escape", b"x")]);
    patch_name(&mut raw, 0, b"usr/lib/../../../");
    let e = run(vec![raw]).err().expect("must fail");
    assert!(e.to_string().contains("leaves the image root"), "{e}");
    assert_eq!(e.layer(), Some(0));
}

#[test]
fn a_hard_link_to_a_path_outside_the_image_is_rejected() {
    for target in ["../../etc/shadow", "/../etc/shadow", "a/../../x"] {
        let e = run(vec![layer(&[
            T::File("a/f", b"x"),
            T::Link("evil", target),
        ])])
        .err()
        .unwrap_or_else(|| panic!("{target} must fail"));
        assert!(e.to_string().contains("evil"), "{target}: {e}");
    }
}

#[test]
fn writing_through_a_symlink_in_the_same_layer_is_rejected() {
    let e = run(vec![layer(&[
        T::Sym("etc", "/host/etc"),
        T::File("etc/passwd", b"root::0:0::/:/bin/sh\n"),
    ])])
    .err()
    .expect("must fail");
    assert!(e.to_string().contains("etc/passwd"), "{e}");
    assert!(e.to_string().contains("below a symlink"), "{e}");
    // A symlink pointing out of the image is kept as a symlink: it is resolved inside
    // the container's root at run time, never while the image is written.
    let c = run(vec![layer(&[T::Sym("hostetc", "/../../etc")])]).unwrap();
    assert_eq!(names(&c), ["hostetc"]);
}

#[test]
fn an_entry_whose_data_is_shorter_than_its_size_fails_naming_the_layer() {
    let mut raw = layer(&[T::File("big", &[7u8; 4096])]);
    // Cut the archive inside the file's data: the header promises 4096 bytes.
    raw.truncate(512 + 1000);
    let e = run(vec![layer(&[T::File("ok", b"1")]), raw])
        .err()
        .expect("must fail");
    assert_eq!(e.layer(), Some(1), "{e}");
}

#[test]
fn device_nodes_are_kept_as_entries_of_the_image_only() {
    // A device node of an image is an entry of its bundle's root like any other (created by
    // the kernel's initramfs unpacker inside that root); access to the device is a matter of
    // the container's device rules, not of the root filesystem.
    let c = run(vec![layer(&[T::Char("dev/sda", 8, 0)])]).unwrap();
    assert_eq!(names(&c), ["dev/sda"]);
}
