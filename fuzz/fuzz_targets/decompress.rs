//! The decompressors behind `.ko.zst/.xz/.gz` on arbitrary streams: no panic, and never more
//! than the cap (a small one here, so a bomb is found quickly).
#![no_main]

use dkwrap::modfile::{Compression, Signature};
use libfuzzer_sys::fuzz_target;

const CAP: u64 = 8 << 20;

fuzz_target!(|data: &[u8]| {
    let formats = match Compression::sniff(data) {
        Some(c) => vec![c],
        None => vec![Compression::Zstd, Compression::Xz, Compression::Gzip],
    };
    for c in formats {
        if let Ok(out) = c.decompress_capped(data, CAP) {
            assert!(out.len() as u64 <= CAP, "{} inflated past the cap", c.name());
            let _ = Signature::parse(&out);
        }
    }
});
