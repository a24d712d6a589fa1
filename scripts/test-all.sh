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
#   9. the four fuzz targets, 60 s each, two at a time on 2 CPUs (scripts/fuzz.sh; skipped
#      with a message without nightly), each replaying its committed regressions first; they
#      are built in the background from the start, at the lowest priority
#  10. NVIDIA's real open modules (scripts/e2e-nvidia.sh): built for two kernels at once by
#      `dkwrap matrix`, proven, GNU strip caught; then through Debian's dkms 3.0.10 and
#      upstream dkms 3.4.3 with NVIDIA's own dkms.conf; only when the phases before it took
#      at most 30 min, so that CI stays under 60 (DKWRAP_E2E_NVIDIA=1 always, 0 never; SKIP
#      when ../shared/tools has no NVIDIA tarball)
# Idempotent: a second run reuses the trees (target/ktrees, DKWRAP_KTREES).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
start=$SECONDS
phase() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - start)); }

phase "kernel trees"
scripts/ktrees.sh
# The fuzz targets take minutes to build, and the phases before the fuzz phase leave CPU time
# idle (downloads, dkms's shell, qemu, single-threaded linters): they are built meanwhile at
# the lowest priority, so the phases in front are barely slowed; the fuzz phase waits for it.
mkdir -p target
# Its own process group (set -m: pid = pgid), so that an early exit stops cargo and rustc too;
# not its own session (setsid): with autogroup scheduling a new session gets an equal share of
# the CPUs whatever its nice value, and the build ran at half speed against the phases in front.
set -m
nice -n 19 scripts/fuzz.sh --build-only >target/fuzz-build.log 2>&1 &
fuzz_build_pid=$!
set +m
trap 'kill -- "-$fuzz_build_pid" 2>/dev/null || true' EXIT
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
fuzz_build_rc=0
wait "$fuzz_build_pid" || fuzz_build_rc=$?
echo "fuzz: the early build (target/fuzz-build.log) exited $fuzz_build_rc at $((SECONDS - start))s"
[ "$fuzz_build_rc" = 0 ] || tail -n 30 target/fuzz-build.log
scripts/fuzz.sh "${DKWRAP_FUZZ_SECONDS:-60}"
# NVIDIA's phase is the longest (two NVIDIA builds and two dkms builds: 1118 s in one run on 2
# cores, and its matrix step alone took from 702 s to 1006 s: about 0.65x the time of all the
# phases before it, or more, on the machine measured). CI must finish in
# 60 min, so by default (auto) it runs only when the phases before it took at most
# DKWRAP_NVIDIA_BUDGET_S (1800 s): a slower machine skips it, and says so, rather than run past
# the limit. DKWRAP_E2E_NVIDIA=1 always runs it, 0 never.
nvidia=${DKWRAP_E2E_NVIDIA:-auto}
if [ "$nvidia" = auto ]; then
    if [ $((SECONDS - start)) -le "${DKWRAP_NVIDIA_BUDGET_S:-1800}" ]; then nvidia=1; else
        nvidia=0
        phase "NVIDIA open modules end to end: SKIPPED: the phases before it took $((SECONDS - start))s (> ${DKWRAP_NVIDIA_BUDGET_S:-1800}s): it would take CI past 60 min on this machine (DKWRAP_E2E_NVIDIA=1 runs it)"
    fi
fi
if [ "$nvidia" = 1 ]; then
    phase "NVIDIA open modules end to end"
    DKWRAP="$repo/target/release/dkwrap" scripts/e2e-nvidia.sh
fi
phase "all tests passed"
