#!/usr/bin/env bash
# Benchmarks, side by side in one run (never a timed unit test):
#   strip:  dkwrap strip --strategy native (with its equivalence proof) vs GNU strip -g,
#           llvm-strip -g (the kernel's clang 19) and eu-strip -g;
#   verify: dkwrap verify and dkwrap verify --against vs readelf -a (for scale);
#   a whole kernel with symbol checks: dkwrap verify --kernel-dir on Debian's ~4,000 6.1
#           modules (scripts/corpus.sh --fetch) vs depmod -e -E Module.symvers on the same tree
#           (targets: <= 0.5x depmod's wall time, <= 64 MiB peak);
#   a distribution's debug modules: Debian's 1,138 unstripped 6.12 modules (-dbg package),
#           one process per module (-o, and in place) and all in one invocation, for GNU strip,
#           llvm-strip and dkwrap native (see the section at the end; issue 17's goals);
# on the two huge modules (scripts/huge.sh: 68,050 sections with extended numbering; --dwarf:
# 50 sections, ~95% debug information, shaped like nvidia-uvm.ko) and the largest x86-64
# committed fixture.
# Wall time: hyperfine medians (warm cache) and ratios against GNU strip; memory: peak RSS
# from /usr/bin/time -v. Writes a Markdown table to stdout and JSON to target/bench/.
#
# Usage: scripts/bench.sh [MODULE...]     (default: both huge modules + the largest fixture)
# Env:   BENCH_RUNS (default 15; 0 skips the per-module part), BENCH_KERNEL_RUNS (default 5;
#        0 skips the whole-kernel comparison), BENCH_CORPUS_RUNS (default 3; 0 skips the debug
#        modules' corpus; BENCH_CORPUS_PKG, DKWRAP_CORPUS_DBG: its package and cache), DKWRAP (default target/release/dkwrap, built if
#        missing), DKWRAP_BASELINE (another dkwrap binary, e.g. the previous release: its native
#        strip and verify run in the same table, rows `baseline-*`, to show a change costs nothing),
#        DKWRAP_STATIC (a static-pie dkwrap from scripts/build-static.sh: corpus rows `*-static`)
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
# A distribution's debug modules, stripped the way dkms and Kbuild strip: one process per
# module. Debian's linux-image-6.12.118+deb12-cloud-amd64-dbg (1,138 unstripped modules, 318 MB;
# apt-get download, unpacked with dpkg -x into a cache outside the sources, never committed).
#   - one process per module, every tool writing with -o into a fresh directory (the input is
#     only read; no tool flushes: dkwrap's -o does not fsync without --fsync, like strip -o),
#     the tools interleaved module by module so they share the cache and the machine's load;
#     each output is removed after its run, outside the timing;
#   - the same in place, on a copy made outside the timing (what dkms does): dkwrap replaces
#     each module only once its output is proven and flushed;
#   - every module in one invocation, in place on a fresh copy: dkwrap proves each output,
#     flushes them together, then renames each (GNU strip and llvm-strip given the same list).
# Wall time: median of the passes; per module: median over the passes, then the median over
# the modules of dkwrap's time over GNU strip's; peak RSS: the largest of any one process
# (wait4's ru_maxrss). Goals (issue 17): total and per-module median <= 1.0x GNU strip, one
# invocation <= 0.5x GNU strip's one-per-module total, <= 16 MiB on any module.
cruns=${BENCH_CORPUS_RUNS:-3}
if [ "$cruns" -gt 0 ]; then
    # shellcheck disable=SC2034 # read by lib.sh's dk_log
    DK_SELF=bench
    # shellcheck source=lib.sh
    . "$repo/scripts/lib.sh"
    dk_ensure_packages dpkg apt python3
    pkg=${BENCH_CORPUS_PKG:-linux-image-6.12.118+deb12-cloud-amd64-dbg}
    ccache=${DKWRAP_CORPUS_DBG:-$repo/target/corpus-dbg}
    croot=$ccache/$pkg
    if [ ! -f "$croot/.unpacked" ]; then
        mkdir -p "$ccache/debs" "$croot"
        dk_log "downloading $pkg (about 318 MB)"
        (cd "$ccache/debs" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
        deb=$(ls "$ccache/debs/${pkg}_"*.deb 2>/dev/null | head -n 1)
        [ -n "$deb" ] || dk_die "apt-get download $pkg failed (bookworm-backports or -security in the apt sources?)"
        dpkg -x "$deb" "$croot"
        touch "$croot/.unpacked"
    fi
    find "$croot" -name '*.ko' -type f | sort > "$tmp/corpus.list"
    [ -s "$tmp/corpus.list" ] || dk_die "no .ko in $croot"
    # Warm the page cache: every tool reads the inputs from memory.
    xargs -a "$tmp/corpus.list" cat > /dev/null
    python3 - "$tmp" "$cruns" "$dkwrap" "$out/corpus.json" "${DKWRAP_STATIC:-}" <<'PY' | tee "$out/corpus.md"
import json, os, shutil, statistics, subprocess, sys, time
tmp, runs, dkwrap, json_out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
static = sys.argv[5]
mods = open(f"{tmp}/corpus.list").read().split()
tools = {  # name: argv for (input, output); output None: in place
    "gnu-strip": lambda i, o: ["strip", "-g", "-o", o, i],
    "llvm-strip-19": lambda i, o: ["llvm-strip-19", "-g", "-o", o, i],
    "dkwrap-native": lambda i, o: [dkwrap, "strip", "-q", "--strategy", "native", "-o", o, i],
}
inplace = {
    "gnu-strip-inplace": lambda f: ["strip", "-g", f],
    "dkwrap-native-inplace": lambda f: [dkwrap, "strip", "-q", "--strategy", "native", f],
}
if static:
    tools["dkwrap-native-static"] = lambda i, o: [static, "strip", "-q", "--strategy", "native", "-o", o, i]
    inplace["dkwrap-native-inplace-static"] = lambda f: [static, "strip", "-q", "--strategy", "native", f]
quiet = [(os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_WRONLY, 0) for fd in (1, 2)]
def spawn(argv):
    """Wall seconds and exit status of one process, its output discarded."""
    t = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=quiet)
    _, status = os.waitpid(pid, 0)
    return time.perf_counter() - t, os.waitstatus_to_exitcode(status)
def peak_rss(argv):
    """Peak RSS in KiB, from /usr/bin/time (a child of this process would inherit our own
    high-water mark through posix_spawn's shared address space)."""
    with open(f"{tmp}/rss", "w"):
        pass
    spawn(["/usr/bin/time", "-f", "%M", "-o", f"{tmp}/rss"] + argv)
    return int(open(f"{tmp}/rss").read().split()[-1])
work = f"{tmp}/corpus-out"
os.makedirs(work, exist_ok=True)
names = list(tools) + list(inplace)
times = {n: [[] for _ in mods] for n in names}
totals = {n: [] for n in names}
peak = {n: (0, "") for n in names}
failed = {n: 0 for n in names}
for _ in range(runs):
    total = {n: 0.0 for n in names}
    for k, m in enumerate(mods):
        for n in names:
            out = f"{work}/{k}.ko"
            if n in inplace:
                shutil.copyfile(m, out)
                argv = inplace[n](out)
            else:
                argv = tools[n](m, out)
            wall, rc = spawn(argv)
            os.unlink(out)
            times[n][k].append(wall)
            total[n] += wall
            failed[n] += rc != 0
    for n in names:
        totals[n].append(total[n])
# Peak memory of every module, once, outside the timing.
for k, m in enumerate(mods):
    for n in names:
        out = f"{work}/{k}.ko"
        if n in inplace:
            shutil.copyfile(m, out)
            rss = peak_rss(inplace[n](out))
        else:
            rss = peak_rss(tools[n](m, out))
        os.unlink(out)
        if rss > peak[n][0]:
            peak[n] = (rss, os.path.basename(m))
# Every module in one invocation, in place on a fresh copy (copied outside the timing).
batch = {
    "gnu-strip-all": lambda fs: ["strip", "-g"] + fs,
    "llvm-strip-19-all": lambda fs: ["llvm-strip-19", "-g"] + fs,
    "dkwrap-native-all": lambda fs: [dkwrap, "strip", "-q", "--strategy", "native"] + fs,
}
once = {n: [] for n in batch}
once_rss = {n: 0 for n in batch}
once_rc = {n: 0 for n in batch}
for _ in range(runs):
    for n, argv in batch.items():
        shutil.rmtree(work)
        copies = []
        for k, m in enumerate(mods):
            d = f"{work}/{k}"
            os.makedirs(d)
            copies.append(shutil.copy(m, d))
        # The copies go to disk first: a tool that flushes should not pay for our setup.
        os.sync()
        wall, rc = spawn(argv(copies))
        once[n].append(wall)
        once_rc[n] = max(once_rc[n], rc)
for n, argv in batch.items():
    shutil.rmtree(work)
    copies = []
    for k, m in enumerate(mods):
        os.makedirs(f"{work}/{k}")
        copies.append(shutil.copy(m, f"{work}/{k}"))
    os.sync()
    once_rss[n] = peak_rss(argv(copies))
shutil.rmtree(work)
med = {n: statistics.median(totals[n]) for n in names}
per = {n: [statistics.median(t) for t in times[n]] for n in names}
gnu = med["gnu-strip"]
def ratio(n, base):
    return statistics.median(a / b for a, b in zip(per[n], per[base]))
print(f"| corpus: {len(mods)} modules, one process per module | total s | x GNU strip | per-module median ms | per-module median x GNU strip | peak RSS MiB (module) | failed |")
print("|---|---|---|---|---|---|---|")
for n in names:
    base = "gnu-strip-inplace" if n in inplace else "gnu-strip"
    print(f"| {n} | {med[n]:.2f} | {med[n] / med[base]:.2f} | {statistics.median(per[n]) * 1000:.2f} | {ratio(n, base):.2f} | {peak[n][0] / 1024:.1f} ({peak[n][1]}) | {failed[n]} |")
print()
print(f"| corpus: {len(mods)} modules in one invocation, in place | s | x GNU strip one per module | peak RSS MiB | exit |")
print("|---|---|---|---|---|")
for n in batch:
    m = statistics.median(once[n])
    print(f"| {n} | {m:.2f} | {m / gnu:.2f} | {once_rss[n] / 1024:.1f} | {once_rc[n]} |")
json.dump({"modules": len(mods), "runs": runs, "per_process_totals_s": totals,
           "per_module_median_s": per, "peak_rss_kib": peak, "failed": failed,
           "one_invocation_s": once, "one_invocation_rss_kib": once_rss},
          open(json_out, "w"))
PY
    echo
fi
echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); dkwrap $("$dkwrap" --version); runs: $runs, warm cache; JSON in $out/"
