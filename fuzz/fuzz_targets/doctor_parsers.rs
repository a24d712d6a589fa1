//! doctor's parsers of files read from a machine or an image (dpkg status, make.log,
//! os-release, pacman desc, dkms status, ld.so.cache, ...) on arbitrary text: no panic.
#![no_main]

use dkwrap::doctor::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse::dpkg_status(&text, |_| true);
    let _ = parse::make_log_kernel(&text);
    let _ = parse::first_error_line(&text);
    let _ = parse::os_release(&text);
    let _ = parse::pacman_desc(&text);
    let _ = parse::dkms_status(&text);
    let _ = parse::proc_driver_version(&text);
    let _ = parse::grub_default(&text);
    let _ = parse::grubenv_var(&text, "saved_entry");
    let _ = parse::lockdown_mode(&text);
    let _ = parse::proc_modules_has(&text, "nvidia");
    let _ = parse::ld_so_cache_paths(data, "libnvidia");
    for line in text.lines().take(64) {
        let _ = parse::log_hit_kind(line);
        let _ = parse::upstream_version(line);
        let _ = parse::is_driver_version(line);
        let _ = parse::akmods_log_kernel(line);
        let _ = parse::version_cmp(line, "595.45.04");
    }
});
