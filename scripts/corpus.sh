#!/usr/bin/env bash
# The real corpus: Debian's own 6.1 kernel (linux-image-6.1.0-N-amd64 and its two header
# packages, from apt), unpacked with dpkg -x into a cache outside the repository's sources.
#   1. every module (~4,000) is verified with the kernel's own config and Module.symvers:
#      0 errors expected, as a directory (--kernel-dir) and as an installed kernel (--installed);
#   2. altered copies (one CRC in __versions, one undefined symbol renamed, a licence changed
#      to "Proprietary" on a module using a GPL-only export, a second .modinfo, a W+X section)
#      and a dropped MODULE_IMPORT_NS must each be caught with exactly one error line, the
#      kernel's words in it.
#
# Usage: scripts/corpus.sh            run both parts
#        scripts/corpus.sh --fetch    only download and unpack; print the image root
# Env:   DKWRAP_CORPUS (cache, default target/corpus), DKWRAP (default target/release/dkwrap,
#        built if missing), CORPUS_ABI (the N of 6.1.0-N, default: the newest apt knows)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
DK_SELF=corpus
# shellcheck source=lib.sh
. "$repo/scripts/lib.sh"
dk_ensure_packages dpkg apt python3

cache=${DKWRAP_CORPUS:-$repo/target/corpus}
abi=${CORPUS_ABI:-$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' \
    | sed -n 's/^linux-image-6\.1\.0-\([0-9]*\)-amd64 .*/\1/p' | sort -n | tail -n 1)}
[ -n "$abi" ] || dk_die "apt knows no linux-image-6.1.0-N-amd64 (apt-get update? bookworm sources?)"
release=6.1.0-$abi-amd64
root=$cache/$release
if [ ! -f "$root/.unpacked" ]; then
    mkdir -p "$cache/debs" "$root"
    dk_log "downloading Debian's $release image and headers"
    (cd "$cache/debs" && apt-get download -q "linux-image-$release" \
        "linux-headers-$release" "linux-headers-6.1.0-$abi-common" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
    for p in "linux-image-$release" "linux-headers-$release" "linux-headers-6.1.0-$abi-common"; do
        deb=$(ls "$cache/debs/${p}_"*.deb 2>/dev/null | head -n 1)
        [ -n "$deb" ] || dk_die "apt-get download $p failed"
        dpkg -x "$deb" "$root"
    done
    touch "$root/.unpacked"
fi
if [ "${1:-}" = --fetch ]; then
    echo "$root"
    exit 0
fi

dkwrap=${DKWRAP:-$repo/target/release/dkwrap}
[ -x "$dkwrap" ] || (cd "$repo" && cargo build --release --quiet)
headers=$root/usr/src/linux-headers-$release
modules=$root/lib/modules/$release
count=$(find "$modules" -name '*.ko*' | wc -l)
dk_log "$count modules of $release"
# The summary writes counts with thousands separators (4,023).
count=$(echo "$count" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')

# 1. Every module passes, with symbols resolved.
summary=$("$dkwrap" verify --kernel-dir "$headers" "$modules") ||
    dk_die "verify --kernel-dir on Debian's modules failed: $summary"
printf '%s\n' "$summary"
[ "$summary" = "$count modules: $count OK, 0 FAILED" ] || dk_die "unexpected summary: $summary"
installed=$("$dkwrap" verify --installed --root "$root" --kernel "$release" 2>&1) ||
    dk_die "verify --installed failed: $installed"
printf '%s\n' "$installed" | grep -qx "$count modules: $count OK, 0 FAILED" ||
    dk_die "verify --installed: $installed"
"$dkwrap" verify --json --kernel-dir "$headers" "$modules/kernel/fs/fat" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); assert r and all(x["ok"] and x["symbols_checked"] for x in r), r'

# 2. Altered copies: each caught with one error line.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vfat=$modules/kernel/fs/fat/vfat.ko
licence_victim=$(python3 "$repo/scripts/corpus_alter.py" pick-licence "$modules/kernel" "$headers/Module.symvers")
failed=0
# cxl_pmem imports one namespace (CXL) and uses several of its symbols: one line for them.
namespaced=$(find "$modules" -name cxl_pmem.ko | head -n 1)
for kind in crc unknown licence modinfo wx namespace; do
    src=$vfat
    [ "$kind" = licence ] && src=$licence_victim
    [ "$kind" = namespace ] && src=$namespaced
    line=$(python3 "$repo/scripts/corpus_alter.py" "$kind" "$src" "$tmp/$kind.ko" "$headers/Module.symvers")
    what=${line%%$'\t'*}
    want=${line#*$'\t'}
    set +e
    out=$("$dkwrap" --color never verify --kernel-dir "$headers" "$tmp/$kind.ko" 2>&1)
    rc=$?
    set -e
    errors=$(printf '%s\n' "$out" | grep -c ': error: ' || true)
    if [ "$rc" -ne 0 ] && [ "$errors" -eq 1 ] && printf '%s\n' "$out" | grep -qF -- "$want"; then
        printf 'caught  %-8s (%s, exit %d): %s\n' "$kind" "$what" "$rc" "$(printf '%s\n' "$out" | grep ': error: ')"
    else
        printf 'MISSED  %-8s (%s, exit %d, %d error lines, wanted %q):\n%s\n' "$kind" "$what" "$rc" "$errors" "$want" "$out"
        failed=1
    fi
done
[ "$failed" -eq 0 ] || dk_die "an altered module was not caught with one line"
dk_log "corpus: $count modules OK, 6 alterations caught"
