#!/usr/bin/env bash
# Benchmarks, side by side in one run (never a timed unit test):
#   strip:  dkwrap strip --strategy native (with its equivalence proof) vs GNU strip -g,
#           llvm-strip -g (the kernel's clang 19) and eu-strip -g;
#   verify: dkwrap verify and dkwrap verify --against vs readelf -a (for scale);
#   a whole kernel with symbol checks: dkwrap verify --kernel-dir on Debian's ~4,000 6.1
#           modules (scripts/corpus.sh --fetch) vs depmod -e -E Module.symvers on the same tree
#           (targets: <= 0.5x depmod's wall time, <= 64 MiB peak);
# on the two huge modules (scripts/huge.sh: 68,050 sections with extended numbering; --dwarf:
# 50 sections, ~95% debug information, shaped like nvidia-uvm.ko) and the largest x86-64
# committed fixture.
# Wall time: hyperfine medians (warm cache) and ratios against GNU strip; memory: peak RSS
# from /usr/bin/time -v. Writes a Markdown table to stdout and JSON to target/bench/.
#
# Usage: scripts/bench.sh [MODULE...]     (default: both huge modules + the largest fixture)
# Env:   BENCH_RUNS (default 15; 0 skips the per-module part), BENCH_KERNEL_RUNS (default 5;
#        0 skips the whole-kernel comparison), DKWRAP (default target/release/dkwrap, built if
#        missing), DKWRAP_BASELINE (another dkwrap binary, e.g. the previous release: its native
#        strip and verify run in the same table, rows `baseline-*`, to show a change costs nothing)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
runs=${BENCH_RUNS:-15}
out=target/bench
mkdir -p "$out"

need() { command -v "$1" >/dev/null 2>&1 || { echo "bench: $1 is missing ($2)" >&2; exit 1; }; }
need hyperfine "apt install hyperfine"
need /usr/bin/time "apt install time"
need eu-strip "apt install elfutils"
need llvm-strip-19 "apt install llvm-19"

dkwrap=${DKWRAP:-$repo/target/release/dkwrap}
if [ ! -x "$dkwrap" ] || [ -z "${DKWRAP:-}" ]; then
    cargo build --release --quiet
fi

modules=("$@")
if [ ${#modules[@]} -eq 0 ] && [ "$runs" -gt 0 ]; then
    modules+=("$(scripts/huge.sh)")
    modules+=("$(scripts/huge.sh --dwarf)")
    # The largest x86-64 fixture (GNU strip cannot read the arm64 ones).
    modules+=("$(ls -S testdata/modules/*.ko | grep -v -e signed -e arm64 | head -n 1)")
fi

# Peak RSS in KiB of one run of a command.
peak_rss() { { /usr/bin/time -v "$@" 2>&1 >/dev/null || true; } | awk -F': ' '/Maximum resident set size/ {print $2}'; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
echo "| module | size | tool | median ms | × GNU strip | × llvm-strip | peak RSS MiB | output bytes | exit |"
echo "|---|---|---|---|---|---|---|---|---|"
} > "$out/table.md"

for ko in "${modules[@]+"${modules[@]}"}"; do
    name=$(basename "$ko")
    size=$(stat -c %s "$ko")
    declare -A cmd=(
        [gnu-strip]="strip -g -o $tmp/gnu.ko $ko"
        [llvm-strip-19]="llvm-strip-19 -g -o $tmp/llvm.ko $ko"
        [eu-strip]="eu-strip -g -o $tmp/eu.ko $ko"
        [dkwrap-native]="$dkwrap strip --strategy native -o $tmp/native.ko $ko"
        [dkwrap-verify]="$dkwrap verify $ko"
        [readelf-a]="readelf -a -W $ko"
    )
    order=(gnu-strip llvm-strip-19 eu-strip dkwrap-native dkwrap-verify dkwrap-verify-against readelf-a)
    if [ -n "${DKWRAP_BASELINE:-}" ]; then
        cmd[baseline-native]="$DKWRAP_BASELINE strip --strategy native -o $tmp/baseline.ko $ko"
        cmd[baseline-verify]="$DKWRAP_BASELINE verify $ko"
        order+=(baseline-native baseline-verify baseline-verify-against)
    fi
    # --against needs a stripped copy: use llvm-strip's output as the file under proof.
    llvm-strip-19 -g -o "$tmp/against.ko" "$ko"
    cmd[dkwrap-verify-against]="$dkwrap verify --against $ko $tmp/against.ko"
    [ -z "${DKWRAP_BASELINE:-}" ] || cmd[baseline-verify-against]="$DKWRAP_BASELINE verify --against $ko $tmp/against.ko"
    # Each strip tool writes a fresh file: its previous output is removed before every run
    # (outside the timing), for all tools alike. Replacing a file whose blocks were written
    # costs the replacer a synchronous discard on filesystems mounted with `discard` (this
    # one is), and dkwrap's fsync puts its output on disk where GNU strip's stays in the
    # page cache: timing "write over the last run's output" measured that, not stripping.
    declare -A prep=(
        [gnu-strip]="rm -f $tmp/gnu.ko"
        [llvm-strip-19]="rm -f $tmp/llvm.ko"
        [eu-strip]="rm -f $tmp/eu.ko"
        [dkwrap-native]="rm -f $tmp/native.ko"
        [baseline-native]="rm -f $tmp/baseline.ko"
    )
    args=()
    for k in "${order[@]}"; do args+=(--prepare "${prep[$k]:-true}" -n "$k" "${cmd[$k]}"); done
    json="$out/$name.json"
    # -i: GNU strip may refuse (exit 1) or verify may report findings; the table shows exits.
    hyperfine -N -i --warmup 3 --runs "$runs" --export-json "$json" "${args[@]}" >/dev/null 2>&1
    declare -A rss=() rc=() bytes=()
    for k in "${order[@]}"; do
        # shellcheck disable=SC2086
        ${prep[$k]:-true}
        # shellcheck disable=SC2086
        rss[$k]=$(peak_rss ${cmd[$k]})
        set +e
        # shellcheck disable=SC2086
        ${cmd[$k]} >/dev/null 2>&1
        rc[$k]=$?
        set -e
    done
    bytes[gnu-strip]=$(stat -c %s "$tmp/gnu.ko" 2>/dev/null || echo -)
    bytes[llvm-strip-19]=$(stat -c %s "$tmp/llvm.ko" 2>/dev/null || echo -)
    bytes[eu-strip]=$(stat -c %s "$tmp/eu.ko" 2>/dev/null || echo -)
    bytes[dkwrap-native]=$(stat -c %s "$tmp/native.ko" 2>/dev/null || echo -)
    bytes[baseline-native]=$(stat -c %s "$tmp/baseline.ko" 2>/dev/null || echo -)
    python3 - "$json" "$name" "$size" "$(declare -p rss rc bytes)" >> "$out/table.md" <<'PY'
import json, sys, re
data = json.load(open(sys.argv[1]))
name, size = sys.argv[2], int(sys.argv[3])
env = sys.argv[4]
def arr(n):
    m = re.search(r'declare -A %s=\(([^)]*)\)' % n, env)
    return dict(re.findall(r'\[([^\]]+)\]="([^"]*)"', m.group(1))) if m else {}
rss, rc, out = arr('rss'), arr('rc'), arr('bytes')
med = {r['command']: sorted(r['times'])[len(r['times']) // 2] * 1000 for r in data['results']}
gnu, llvm = med.get('gnu-strip'), med.get('llvm-strip-19')
for cmd, ms in med.items():
    r = int(rss.get(cmd, '0') or 0) / 1024
    print(f"| {name} | {size/1e6:.1f} MB | {cmd} | {ms:.1f} | {ms/gnu:.2f} | {ms/llvm:.2f} | {r:.1f} | {out.get(cmd, '')} | {rc.get(cmd, '')} |")
PY
    unset cmd prep rss rc bytes
done
cat "$out/table.md"
echo

# A whole kernel with symbol checks, side by side with depmod's own symbol check.
kruns=${BENCH_KERNEL_RUNS:-5}
if [ "$kruns" -gt 0 ]; then
    corpus=$(scripts/corpus.sh --fetch)
    release=$(basename "$corpus")
    headers=$corpus/usr/src/linux-headers-$release
    count=$(find "$corpus/lib/modules/$release" -name '*.ko*' | wc -l)
    declare -A kcmd=(
        [dkwrap-verify-kernel]="$dkwrap verify --kernel-dir $headers $corpus/lib/modules/$release"
        [depmod-e-E]="depmod -e -E $headers/Module.symvers -b $corpus $release"
    )
    korder=(dkwrap-verify-kernel depmod-e-E)
    args=()
    for k in "${korder[@]}"; do args+=(-n "$k" "${kcmd[$k]}"); done
    hyperfine -N -i --warmup 1 --runs "$kruns" --export-json "$out/kernel.json" "${args[@]}" >/dev/null 2>&1
    declare -A krss=()
    # shellcheck disable=SC2086
    for k in "${korder[@]}"; do krss[$k]=$(peak_rss ${kcmd[$k]}); done
    echo "| kernel | modules | tool | median ms | x depmod | peak RSS MiB |"
    echo "|---|---|---|---|---|---|"
    python3 - "$out/kernel.json" "$release" "$count" "$(declare -p krss)" <<'PY' | tee "$out/kernel.md"
import json, re, sys
data = json.load(open(sys.argv[1]))
release, count, env = sys.argv[2], sys.argv[3], sys.argv[4]
rss = dict(re.findall(r'\[([^\]]+)\]="([^"]*)"', env))
med = {r['command']: sorted(r['times'])[len(r['times']) // 2] * 1000 for r in data['results']}
base = med['depmod-e-E']
for cmd, ms in med.items():
    print(f"| {release} | {count} | {cmd} | {ms:.0f} | {ms/base:.2f} | {int(rss.get(cmd, '0') or 0)/1024:.1f} |")
PY
    echo
fi
echo "machine: $(nproc) cores, $(uname -r); dkwrap $("$dkwrap" --version); runs: $runs, warm cache; JSON in $out/"
