#!/usr/bin/env bash
# scripts/doctor-fixtures.sh - build the binary files of the `dkwrap doctor` test trees.
#
# Usage:
#   scripts/doctor-fixtures.sh           build them into testdata/doctor/<scenario>/
#   scripts/doctor-fixtures.sh --check   build into a temp dir and compare with the
#                                        committed files (exit 1 on any difference)
#
# The text files of each tree (dpkg status, APT and GRUB configuration, sysfs and procfs
# values, make.log, ...) are written by hand and committed as they are; see
# testdata/doctor/README.md. This script makes the files that are binary:
#
#   nvidia.ko modules   testdata/doctor/src/nvidia (a real module that does nothing) built
#                       with kbuild against the `gcc` tree of scripts/ktrees.sh, -g0 and
#                       -ffile-prefix-map (no debug info, no build paths), then one copy
#                       per scenario whose .modinfo is rewritten with
#                       `objcopy --update-section .modinfo=FILE`: version, srcversion,
#                       vermagic (the release word) and the firmware= paths. GNU objcopy is
#                       safe here: the module is GCC-built without LTO. One copy is
#                       compressed (.ko.zst, zstd -19, as kmod/dkms do).
#   etc/ld.so.cache     glibc's "glibc-ld.so.cache1.1" format, written by the Python below
#                       (ldconfig -r would need chroot privileges and real libraries).
#   SecureBoot-8be4df61-…  an efivarfs file: 4 attribute bytes + the value byte.
#
# srcversion values are not what modpost would compute for NVIDIA's sources: they are the
# first 24 hex digits of sha256("nvidia-<version>"), upper case, so that each driver
# version has its own, stable srcversion (the /sys/module/nvidia/srcversion files of the
# trees use the same rule).
#
# Reproducible: fixed build directory ${DKWRAP_DOCTOR_BUILD:-/tmp/dkwrap-doctor-fixtures},
# KBUILD_BUILD_* and SOURCE_DATE_EPOCH from scripts/lib.sh, no timestamps in any output.
set -euo pipefail
DK_SELF=doctor-fixtures
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=build
case ${1:-} in
    "") ;;
    --check) MODE=check ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) dk_die "unknown argument '$1' (see --help)" ;;
esac

TREE=gcc
DATA=$DK_REPO/testdata/doctor
BUILD=${DKWRAP_DOCTOR_BUILD:-/tmp/dkwrap-doctor-fixtures}
OBJCOPY=objcopy
ZSTD=zstd
PYTHON=python3
for t in "$OBJCOPY" "$ZSTD" "$PYTHON" make gcc; do
    command -v "$t" >/dev/null || dk_die "$t not found (apt install binutils zstd python3 make gcc)"
done

if [ "$MODE" = check ]; then
    OUT=$(mktemp -d)
    trap 'rm -rf "$OUT"' EXIT
else
    OUT=$DATA
fi

srcversion() { printf 'nvidia-%s' "$1" | sha256sum | cut -c1-24 | tr a-f A-F; }

# ---------------------------------------------------------------------------
# The module, built once against the gcc tree.
# ---------------------------------------------------------------------------
build_base() {
    ktree_ensure "$TREE"
    local o; o=$(ktree_dir "$TREE")
    local b=$BUILD/nvidia
    rm -rf "$b"; mkdir -p "$b"
    cp "$DATA/src/nvidia/nvidia.c" "$DATA/src/nvidia/Kbuild" "$b/"
    local log=$BUILD/build.log
    # shellcheck disable=SC2046
    if ! make -C "$o" $(ktree_make_args "$TREE") M="$b" -j"$DK_JOBS" \
            KCFLAGS="-g0 -ffile-prefix-map=$b=/usr/src/nvidia-stub -ffile-prefix-map=$DK_KSRC=/usr/src/linux-source-6.1 -ffile-prefix-map=$o=/usr/src/linux-headers-6.1-$TREE" \
            modules >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        dk_die "building the stub module failed (log: $log)"
    fi
    "$OBJCOPY" -O binary --only-section=.modinfo "$b/nvidia.ko" "$BUILD/modinfo.base"
}

# make_module OUT VERSION KERNEL_RELEASE [zst]
make_module() {
    local out=$1 version=$2 release=$3 compress=${4:-}
    local tmp=$BUILD/work.ko info=$BUILD/modinfo.new
    "$PYTHON" - "$BUILD/modinfo.base" "$info" "$version" "$release" "$(srcversion "$version")" <<'PY'
import sys
src, dst, version, release, srcversion = sys.argv[1:]
out = []
for entry in open(src, "rb").read().split(b"\0"):
    if not entry:
        continue
    key, _, value = entry.decode().partition("=")
    if key == "version":
        value = version
    elif key == "srcversion":
        value = srcversion
    elif key == "vermagic":
        value = " ".join([release] + value.split(" ")[1:])
    elif key == "firmware":
        parts = value.split("/")
        value = "/".join([parts[0], version] + parts[2:])
    out.append(f"{key}={value}".encode() + b"\0")
open(dst, "wb").write(b"".join(out))
PY
    "$OBJCOPY" --update-section .modinfo="$info" "$BUILD/nvidia/nvidia.ko" "$tmp"
    mkdir -p "$(dirname "$out")"
    if [ "$compress" = zst ]; then
        "$ZSTD" -q -19 --no-check -f "$tmp" -o "$out"
    else
        cp "$tmp" "$out"
    fi
    chmod 0644 "$out"
}

# ---------------------------------------------------------------------------
# ld.so.cache (new format) and efivars
# ---------------------------------------------------------------------------
# ld_cache OUT PATH...   (keys are the file names)
ld_cache() {
    local out=$1; shift
    mkdir -p "$(dirname "$out")"
    "$PYTHON" - "$out" "$@" <<'PY'
import os, struct, sys
out, paths = sys.argv[1], sys.argv[2:]
HEADER, ENTRY = 48, 24
base = HEADER + ENTRY * len(paths)
strings, table = b"", b""
for p in paths:
    key = base + len(strings); strings += os.path.basename(p).encode() + b"\0"
    val = base + len(strings); strings += p.encode() + b"\0"
    # flags: FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 (0x0303), as ldconfig writes on x86_64
    table += struct.pack("<iIIIQ", 0x0303, key, val, 0, 0)
header = b"glibc-ld.so.cache1.1" + struct.pack("<IIB3xI12x", len(paths), len(strings), 2, 0)
assert len(header) == HEADER
open(out, "wb").write(header + table + strings)
PY
}

# efivar OUT VALUE
efivar() {
    mkdir -p "$(dirname "$1")"
    printf '\x06\x00\x00\x00\x'"$2" >"$1"
}

SB=sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c

mkdir -p "$BUILD"
build_base

# seed: Ubuntu 22.04 (usrmerged: lib -> usr/lib), 570.133.07 built by DKMS for -94 only.
s=$OUT/seed
make_module "$s/usr/lib/modules/5.15.0-94-generic/updates/dkms/nvidia.ko" 570.133.07 5.15.0-94-generic
make_module "$s/var/lib/dkms/nvidia/570.133.07/5.15.0-94-generic/x86_64/module/nvidia.ko" 570.133.07 5.15.0-94-generic
ld_cache "$s/etc/ld.so.cache" \
    /lib/x86_64-linux-gnu/libc.so.6 \
    /lib/x86_64-linux-gnu/libnvidia-ml.so.1 \
    /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1 \
    /lib/x86_64-linux-gnu/libz.so.1
efivar "$s/$SB" 00

# healthy: Ubuntu 24.04, 570.133.07 built by DKMS for both kernels (one .ko.zst).
h=$OUT/healthy
make_module "$h/usr/lib/modules/6.8.0-57-generic/updates/dkms/nvidia.ko.zst" 570.133.07 6.8.0-57-generic zst
make_module "$h/usr/lib/modules/6.8.0-60-generic/updates/dkms/nvidia.ko.zst" 570.133.07 6.8.0-60-generic zst
make_module "$h/var/lib/dkms/nvidia/570.133.07/6.8.0-57-generic/x86_64/module/nvidia.ko.zst" 570.133.07 6.8.0-57-generic zst
make_module "$h/var/lib/dkms/nvidia/570.133.07/6.8.0-60-generic/x86_64/module/nvidia.ko.zst" 570.133.07 6.8.0-60-generic zst
ld_cache "$h/etc/ld.so.cache" \
    /lib/x86_64-linux-gnu/libc.so.6 \
    /lib/x86_64-linux-gnu/libnvidia-ml.so.1 \
    /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1
efivar "$h/$SB" 00

# runfile: Debian 12 (not usrmerged), NVIDIA-Linux-x86_64-550.90.07.run without --dkms.
r=$OUT/runfile
make_module "$r/lib/modules/6.1.0-28-amd64/kernel/drivers/video/nvidia.ko" 550.90.07 6.1.0-28-amd64
ld_cache "$r/etc/ld.so.cache" \
    /lib/x86_64-linux-gnu/libc.so.6 \
    /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1

# container: the toolkit's libraries under /usr/local/nvidia/lib64, no /lib/modules.
ld_cache "$OUT/container/etc/ld.so.cache" \
    /usr/local/nvidia/lib64/libnvidia-ml.so.1 \
    /lib/x86_64-linux-gnu/libc.so.6

if [ "$MODE" = check ]; then
    bad=0
    while IFS= read -r f; do
        rel=${f#"$OUT"/}
        if ! cmp -s "$f" "$DATA/$rel"; then
            dk_log "differs: testdata/doctor/$rel"
            bad=1
        fi
    done < <(find "$OUT" -type f | sort)
    [ $bad -eq 0 ] || dk_die "committed fixtures differ from a rebuild"
    dk_log "all doctor fixtures match a rebuild"
else
    dk_log "doctor fixtures written under testdata/doctor/"
fi
dk_log "srcversions: 570.124.06=$(srcversion 570.124.06) 570.133.07=$(srcversion 570.133.07) 550.90.07=$(srcversion 550.90.07) 580.159.04=$(srcversion 580.159.04)"
