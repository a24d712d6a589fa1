#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), seeded from the
# committed fixtures; fails on any crash, panic, timeout or out-of-memory (libFuzzer exits
# non-zero and leaves the input in fuzz/artifacts/TARGET/). Without a nightly toolchain it
# says so and exits 0.
#
#   scripts/fuzz.sh [SECONDS]            every target
#   scripts/fuzz.sh SECONDS TARGET...    some
#   scripts/fuzz.sh --build-only         build the targets, run nothing (test-all.sh runs
#                                        this early, in the background, at the lowest priority)
#   DKWRAP_FUZZ_JOBS=N                   targets at once (default: the number of CPUs)
#
# Targets: elf_loader (ELF parse + loader checks + goblin cross-check), native_proof (the
# rewriter + the proof, checked against an independent byte/relocation comparison),
# decompress (zstd/xz/gzip with the inflation cap), doctor_parsers (dpkg status, make.log,
# os-release, pacman desc, dkms status, ld.so.cache, ...). The corpora grow in
# fuzz/corpus/TARGET (not committed); an input that found something is kept in
# fuzz/regressions/TARGET/ (committed) and replayed on every run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
build_only=
if [ "${1:-}" = --build-only ]; then build_only=1; shift; fi
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(elf_loader native_proof decompress doctor_parsers)

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: SKIPPED: no nightly toolchain (rustup toolchain install nightly)" >&2
    exit 0
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

seed() { # TARGET FILE...: copy seeds into the target's corpus
    local dir="fuzz/corpus/$1"
    shift
    mkdir -p "$dir"
    for f in "$@"; do
        [ -f "$f" ] && cp -n "$f" "$dir/$(printf '%s' "$f" | tr '/' '_')"
    done
    return 0
}
shopt -s nullglob globstar
seed elf_loader testdata/modules/*.ko testdata/modules/*.o
seed native_proof testdata/modules/*.ko
seed decompress testdata/modules/*.zst testdata/modules/*.xz testdata/modules/*.gz
seed doctor_parsers testdata/doctor/**/status testdata/doctor/**/os-release \
    testdata/doctor/**/make.log testdata/doctor/**/desc testdata/doctor/**/version \
    testdata/doctor/**/grubenv testdata/doctor/**/modules testdata/doctor/**/*.log \
    testdata/dkms/logs/*
# Inputs that once found something: replayed first on every run (libFuzzer runs its corpus
# before mutating), so a fixed finding stays fixed.
for t in elf_loader native_proof decompress doctor_parsers; do
    seed "$t" fuzz/regressions/"$t"/*
done

echo "=== fuzz: building the targets" >&2
cargo +nightly fuzz build >&2
[ -z "$build_only" ] || exit 0
# One target per CPU at a time (DKWRAP_FUZZ_JOBS): each libFuzzer process is single-threaded
# and still gets its SECONDS of wall time and a whole CPU, so CI's 2 cores run two at once.
jobs=${DKWRAP_FUZZ_JOBS:-$(nproc)}
fuzz_one() { # TARGET: runs it, prints its summary, exits 1 on a finding
    local t=$1 max_len=1048576 started=$SECONDS rc=0 runs
    [ "$t" = doctor_parsers ] && max_len=65536
    if ! cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -max_len="$max_len" -timeout=60 -rss_limit_mb=4096 \
        -print_final_stats=1 2>"fuzz/$t.log"; then
        rc=1
        echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/, the log in fuzz/$t.log" >&2
        tail -n 30 "fuzz/$t.log" >&2
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/$t.log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz: $t ran $((SECONDS - started))s, $runs inputs" >&2
    return "$rc"
}
status=0 running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
    echo "=== fuzz $t for ${secs}s" >&2
    fuzz_one "$t" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done
exit "$status"
