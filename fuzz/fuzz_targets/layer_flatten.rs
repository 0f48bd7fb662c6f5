//! Tar layer flattening: the input is cut into up to three layers at `\xff\xfe` markers and
//! flattened as an image's layers are. Errors (not a tar, an unsafe name) are fine; a panic
//! or an entry emitted outside the image root is a bug.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use lk_formats::Entry;
use lk_rootfs::flatten::{Emit, Layer, flatten};

struct Check;

impl Emit for Check {
    fn link_targets(&mut self, paths: &[String]) {
        for p in paths {
            inside(p);
        }
    }
    fn entry(&mut self, e: Entry, data: &mut dyn Read) -> io::Result<()> {
        inside(&e.path);
        io::copy(data, &mut io::sink()).map(|_| ())
    }
}

/// An emitted name stays below the root.
fn inside(path: &str) {
    assert!(!path.starts_with('/'), "absolute name emitted: {path:?}");
    assert!(
        !path.split('/').any(|c| c == ".."),
        "name with .. emitted: {path:?}"
    );
}

fn split(data: &[u8]) -> Vec<Vec<u8>> {
    let mut layers = vec![Vec::new()];
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(&[0xff, 0xfe]) && layers.len() < 3 {
            layers.push(Vec::new());
            i += 2;
            continue;
        }
        if let Some(l) = layers.last_mut() {
            l.push(data[i]);
        }
        i += 1;
    }
    layers
}

fuzz_target!(|data: &[u8]| {
    let layers = split(data);
    let open = |i: usize| -> io::Result<Box<dyn Layer>> {
        Ok(Box::new(io::Cursor::new(layers[i].clone())))
    };
    let _ = flatten(layers.len(), &open, &mut Check);
});
