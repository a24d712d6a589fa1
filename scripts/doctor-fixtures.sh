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
#   other driver modules  nvidia-modeset.ko* of the fedora, cachyos and ubuntu-prebuilt
#                       trees: testdata/modules/modeset-like-gcc.ko (a real GCC module with
#                       COMDAT groups) with .modinfo rewritten the same way (name too). The
#                       cachyos next-boot kernel's nvidia-modeset.ko.zst is seed 004's damage:
#                       testdata/modules/modeset-like-thinlto.ko, .modinfo rewritten with
#                       llvm-objcopy-19 (safe on ThinLTO), then `strip -g` by the real GNU strip
#                       2.43.1 of ../shared/tools/gnu-strip-2.43.1.xz (it asserts, exits 0 and
#                       leaves relocations past the symbol table), then zstd. Its messages go
#                       into that tree's var/log/pacman.log as the dkms hook logged them. Without
#                       ../shared/tools the script says so and skips those two files (and
#                       --check cannot compare them).
#   .ko.xz              xz --check=crc32 (the kernel's decompressor wants CRC32), as Fedora's
#                       kmod-nvidia ships them.
#   etc/ld.so.cache     glibc's "glibc-ld.so.cache1.1" format, written by the Python below
#                       (ldconfig -r would need chroot privileges and real libraries).
#   SecureBoot-8be4df61-…  an efivarfs file: 4 attribute bytes + the value byte.
#
# srcversion values are not what modpost would compute for NVIDIA's sources: they are the
# first 24 hex digits of sha256("nvidia-<version>"), upper case, so that each driver
# version has its own, stable srcversion (the /sys/module/nvidia/srcversion files of the
# trees use the same rule).
#
# DKWRAP_GNU_STRIP_XZ overrides where GNU strip 2.43.1 is looked for.
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
LLVM_OBJCOPY=llvm-objcopy-19
ZSTD=zstd
XZ=xz
PYTHON=python3
for t in "$OBJCOPY" "$LLVM_OBJCOPY" "$ZSTD" "$XZ" "$PYTHON" make gcc; do
    command -v "$t" >/dev/null || dk_die "$t not found (apt install binutils llvm-19 zstd xz-utils python3 make gcc)"
done
MODULES=$DK_REPO/testdata/modules
GNU_STRIP_XZ=${DKWRAP_GNU_STRIP_XZ:-$DK_REPO/../shared/tools/gnu-strip-2.43.1.xz}

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
}

# make_module OUT VERSION KERNEL_RELEASE [zst|xz]
#   with MOD_BASE=FILE MOD_NAME=NAME MOD_OBJCOPY=TOOL: another base module, its name= rewritten
make_module() {
    local out=$1 version=$2 release=$3 compress=${4:-}
    local base=${MOD_BASE:-$BUILD/nvidia/nvidia.ko} tool=${MOD_OBJCOPY:-$OBJCOPY}
    local tmp=$BUILD/work.ko info=$BUILD/modinfo.new
    "$tool" -O binary --only-section=.modinfo "$base" "$BUILD/modinfo.in"
    "$PYTHON" - "$BUILD/modinfo.in" "$info" "$version" "$release" "$(srcversion "$version")" "${MOD_NAME:-}" <<'PY'
import sys
src, dst, version, release, srcversion, name = sys.argv[1:]
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
    elif key == "name" and name:
        value = name
    elif key == "firmware":
        parts = value.split("/")
        value = "/".join([parts[0], version] + parts[2:])
    out.append(f"{key}={value}".encode() + b"\0")
open(dst, "wb").write(b"".join(out))
PY
    "$tool" --update-section .modinfo="$info" "$base" "$tmp"
    if [ -n "${MOD_STRIP:-}" ]; then
        # The damage under test: GNU strip on a ThinLTO module, as dkms runs it.
        cp "$tmp" "$BUILD/strip/$MOD_STRIP_AS"
        (cd "$BUILD/strip" && PATH=$BUILD/strip/bin:$PATH strip -g "$MOD_STRIP_AS") \
            >"$BUILD/strip/messages" 2>&1 || dk_die "GNU strip 2.43.1 failed outright"
        cp "$BUILD/strip/$MOD_STRIP_AS" "$tmp"
    fi
    mkdir -p "$(dirname "$out")"
    case $compress in
        zst) "$ZSTD" -q -19 --no-check -f "$tmp" -o "$out" ;;
        xz) "$XZ" -q -9 --check=crc32 -c "$tmp" >"$out" ;;
        *) cp "$tmp" "$out" ;;
    esac
    chmod 0644 "$out"
}

# modeset OUT VERSION RELEASE [zst|xz]: nvidia-modeset from the GCC modeset-like fixture.
modeset() {
    MOD_BASE=$MODULES/modeset-like-gcc.ko MOD_NAME=nvidia_modeset make_module "$@"
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

# fedora: Fedora 41, akmods (kmod-nvidia in extra/nvidia, .ko.xz), libraries in /usr/lib64;
# running 6.11.4-301 fine, next boot 6.12.9-200 has headers but akmods failed.
fe=$OUT/fedora
fk=6.11.4-301.fc41.x86_64
make_module "$fe/usr/lib/modules/$fk/extra/nvidia/nvidia.ko.xz" 565.77 "$fk" xz
modeset "$fe/usr/lib/modules/$fk/extra/nvidia/nvidia-modeset.ko.xz" 565.77 "$fk" xz
ld_cache "$fe/etc/ld.so.cache" \
    /usr/lib64/libc.so.6 \
    /usr/lib64/libnvidia-ml.so.1
efivar "$fe/$SB" 00

# cachyos: CachyOS (Arch), dkms 3.0.13, modules in updates/dkms as .ko.zst. Running
# 6.6.32-1-cachyos-lts (GCC) is fine; next boot 6.9.3-2-cachyos (clang ThinLTO): dkms said
# success, GNU strip left nvidia-modeset.ko.zst with relocations past its symbol table.
c=$OUT/cachyos
lts=6.6.32-1-cachyos-lts new=6.9.3-2-cachyos dk=var/lib/dkms/nvidia/550.78
for k in $lts $new; do
    make_module "$c/usr/lib/modules/$k/updates/dkms/nvidia.ko.zst" 550.78 "$k" zst
    make_module "$c/$dk/$k/x86_64/module/nvidia.ko.zst" 550.78 "$k" zst
done
modeset "$c/usr/lib/modules/$lts/updates/dkms/nvidia-modeset.ko.zst" 550.78 "$lts" zst
modeset "$c/$dk/$lts/x86_64/module/nvidia-modeset.ko.zst" 550.78 "$lts" zst
if [ -f "$GNU_STRIP_XZ" ]; then
    rm -rf "$BUILD/strip"; mkdir -p "$BUILD/strip/bin"
    "$XZ" -dc "$GNU_STRIP_XZ" >"$BUILD/strip/bin/strip"; chmod +x "$BUILD/strip/bin/strip"
    for out in "$c/usr/lib/modules/$new/updates/dkms/nvidia-modeset.ko.zst" \
               "$c/$dk/$new/x86_64/module/nvidia-modeset.ko.zst"; do
        MOD_BASE=$MODULES/modeset-like-thinlto.ko MOD_NAME=nvidia_modeset \
            MOD_OBJCOPY=$LLVM_OBJCOPY MOD_STRIP=1 MOD_STRIP_AS=nvidia-modeset.ko \
            make_module "$out" 550.78 "$new" zst
    done
    # pacman.log: the upgrade that installed 6.9.3-2-cachyos, its dkms hook's output (strip's
    # messages as pacman logs them: one [ALPM-SCRIPTLET] line each), the transaction's end.
    {
        t='[2024-06-05T18:02'
        printf '%s\n' \
            "$t:11+0200] [PACMAN] Running 'pacman -Syu'" \
            "$t:11+0200] [PACMAN] synchronizing package lists" \
            "$t:40+0200] [PACMAN] starting full system upgrade" \
            "$t:40+0200] [ALPM] transaction started" \
            "$t:41+0200] [ALPM] installed linux-cachyos (6.9.3-2)" \
            "$t:41+0200] [ALPM] installed linux-cachyos-headers (6.9.3-2)" \
            "$t:41+0200] [ALPM] running '70-dkms-install.hook'..." \
            "$t:41+0200] [ALPM-SCRIPTLET] ==> dkms install --no-depmod nvidia/550.78 -k $new"
        sed "s|^strip: nvidia-modeset.ko:|strip: /var/lib/dkms/nvidia/550.78/build/kernel-open/nvidia-modeset.ko:|; s|^|$t:57+0200] [ALPM-SCRIPTLET] |" "$BUILD/strip/messages"
        printf '%s\n' \
            "$t:58+0200] [ALPM] running '90-mkinitcpio-install.hook'..." \
            "$t:59+0200] [ALPM-SCRIPTLET] ==> Building image from preset: /etc/mkinitcpio.d/linux-cachyos.preset: 'default'" \
            "$t:59+0200] [ALPM] transaction completed"
    } >"$BUILD/pacman.log"
    mkdir -p "$c/var/log"
    cp "$BUILD/pacman.log" "$c/var/log/pacman.log.new"
    mv "$c/var/log/pacman.log.new" "$c/var/log/pacman.log"
else
    dk_log "WARNING: $GNU_STRIP_XZ is absent: cachyos's damaged nvidia-modeset.ko.zst and pacman.log are not made"
fi
ld_cache "$c/etc/ld.so.cache" \
    /usr/lib/libc.so.6 \
    /usr/lib/libnvidia-ml.so.1
efivar "$c/$SB" 00

# ubuntu-prebuilt: Ubuntu 24.04 with the prebuilt, signed linux-modules-nvidia-550 (no dkms):
# kernel/nvidia-550/ for 6.8.0-57 and 6.8.0-60 (running); 6.8.0-62 (next boot) lacks it.
u=$OUT/ubuntu-prebuilt
for k in 6.8.0-57-generic 6.8.0-60-generic; do
    make_module "$u/usr/lib/modules/$k/kernel/nvidia-550/nvidia.ko" 550.120 "$k"
    modeset "$u/usr/lib/modules/$k/kernel/nvidia-550/nvidia-modeset.ko" 550.120 "$k"
done
ld_cache "$u/etc/ld.so.cache" \
    /lib/x86_64-linux-gnu/libc.so.6 \
    /lib/x86_64-linux-gnu/libnvidia-ml.so.1
efivar "$u/$SB" 00

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
dk_log "srcversions: 570.124.06=$(srcversion 570.124.06) 570.133.07=$(srcversion 570.133.07) 550.90.07=$(srcversion 550.90.07) 580.159.04=$(srcversion 580.159.04) 565.77=$(srcversion 565.77) 550.78=$(srcversion 550.78) 550.120=$(srcversion 550.120)"
