#!/usr/bin/env bash
# Every test, from a fresh machine (what CI runs through .ci/run):
#   1. apt packages, the four kernel trees (scripts/ktrees.sh)
#   2. rebuild the committed fixtures and check they still have their properties and bytes
#      (scripts/fixtures.sh --check, scripts/doctor-fixtures.sh --check)
#   3. the two huge modules (scripts/huge.sh, --dwarf), for the tests that use them
#   4. a real Debian kernel and a small clang-19 ThinLTO kernel with its vtable fixture module
#      for the verify --boot tests (scripts/boot-kernel.sh, scripts/boot-ltokernel.sh; cached)
#   5. cargo fmt --check, cargo clippy -D warnings, cargo test (unit + integration)
#   6. the real dkms end-to-end test (scripts/e2e-dkms.sh)
#   7. the Debian, Arch and RPM packages (scripts/package.sh), the .deb installed and purged
#      (scripts/e2e-package.sh)
#   8. the real corpus: Debian's ~4,000 6.1 modules verified with their config and
#      Module.symvers, and altered copies caught (scripts/corpus.sh)
#   9. the four fuzz targets, 60 s each (scripts/fuzz.sh; skipped with a message without
#      nightly), each replaying its committed regressions first
#  10. NVIDIA's real open modules (scripts/e2e-nvidia.sh): built for two kernels at once by
#      `dkwrap matrix`, proven, GNU strip caught; then through Debian's dkms 3.0.10 and
#      upstream dkms 3.4.3 with NVIDIA's own dkms.conf (DKWRAP_E2E_NVIDIA=0 skips it; SKIP
#      when ../shared/tools has no NVIDIA tarball)
# Idempotent: a second run reuses the trees (target/ktrees, DKWRAP_KTREES).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
start=$SECONDS
phase() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - start)); }

phase "kernel trees"
scripts/ktrees.sh
phase "fixtures: rebuild and check"
scripts/fixtures.sh --check
scripts/doctor-fixtures.sh --check
phase "huge modules"
DKWRAP_HUGE=$(scripts/huge.sh)
DKWRAP_HUGE_DWARF=$(scripts/huge.sh --dwarf)
export DKWRAP_HUGE DKWRAP_HUGE_DWARF
phase "boot kernels (Debian's linux-image; a small clang-19 ThinLTO kernel, cached) for verify --boot"
DKWRAP_BOOT_ROOT=$(scripts/boot-kernel.sh)
DKWRAP_BOOT_LTO=$(scripts/boot-ltokernel.sh)
export DKWRAP_BOOT_ROOT DKWRAP_BOOT_LTO
phase "cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
phase "cargo test"
cargo test --release 2>&1 | tee target/cargo-test.log
phase "dkms end to end"
cargo build --release --quiet
DKWRAP="$repo/target/release/dkwrap" scripts/e2e-dkms.sh
phase "packages: build, lint, install, purge"
scripts/package.sh
scripts/e2e-package.sh
phase "real corpus (Debian's 6.1 kernel modules)"
DKWRAP="$repo/target/release/dkwrap" scripts/corpus.sh
phase "fuzz (60 s per target)"
scripts/fuzz.sh "${DKWRAP_FUZZ_SECONDS:-60}"
if [ "${DKWRAP_E2E_NVIDIA:-1}" = 1 ]; then
    phase "NVIDIA open modules end to end"
    DKWRAP="$repo/target/release/dkwrap" scripts/e2e-nvidia.sh
fi
phase "all tests passed"
