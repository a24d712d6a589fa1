//! ELF parsing and the loader's checks on arbitrary bytes (seeded with the fixtures): no
//! panic, no hang, whatever the input.
#![no_main]

use dkwrap::elf::Elf;
use dkwrap::modfile::Signature;
use dkwrap::verify::{self, Expectations};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signature = Signature::parse(data);
    let elf_bytes = match &signature {
        Some(s) => &data[..s.elf_len.min(data.len())],
        None => data,
    };
    let Ok(elf) = Elf::parse(elf_bytes) else {
        return;
    };
    let mut findings = Vec::new();
    verify::check_module(&elf, signature.as_ref(), &Expectations::for_kernel(None), &mut findings);
    verify::cross_check_with_goblin(&elf, &mut findings);
    let _ = elf.modinfo();
    let _ = elf.comments();
});
