#!/usr/bin/env bash
# Every test, from a fresh machine (what CI runs through .ci/run):
#   1. apt packages, the four kernel trees (scripts/ktrees.sh)
#   2. rebuild the committed fixtures and check they still have their properties and bytes
#      (scripts/fixtures.sh --check, scripts/doctor-fixtures.sh --check)
#   3. the two huge modules (scripts/huge.sh, --dwarf), for the tests that use them
#   4. cargo fmt --check, cargo clippy -D warnings, cargo test (unit + integration)
#   5. the real dkms end-to-end test (scripts/e2e-dkms.sh)
#   6. NVIDIA's real open modules for two kernels at once (scripts/e2e-nvidia.sh; SKIP without
#      ../shared/tools/nvidia-open-*.tar.xz)
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
phase "cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
phase "cargo test"
cargo test --release 2>&1 | tee target/cargo-test.log
phase "dkms end to end"
cargo build --release --quiet
DKWRAP="$repo/target/release/dkwrap" scripts/e2e-dkms.sh
phase "NVIDIA open modules end to end"
DKWRAP="$repo/target/release/dkwrap" scripts/e2e-nvidia.sh
phase "all tests passed"
