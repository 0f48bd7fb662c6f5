//! Reading an initrd as the kernel does (plain newc archives, gzip members, zstd frames,
//! zero padding): errors are fine, a panic or a hang is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lk_testutil::cpio::try_read_initrd(data);
});
