#!/usr/bin/env bash
# scripts/boot-ltokernel.sh - a small bootable clang-19 ThinLTO x86_64 kernel, built from the
# same Debian linux-source-6.1 the kernel trees use (scripts/ktrees.sh unpacks it), and the
# boot fixture module (testdata/src/boot-vtables/) built against it with ThinLTO, for the
# `dkwrap verify --boot` tests that show what GNU strip's damage does to a loaded module.
#
# Config: tinyconfig + 64BIT, MODULES, MODULE_UNLOAD, LTO_CLANG_THIN, serial 8250 console,
# PRINTK, TTY, BLK_DEV_INITRD + RD_GZIP, DEVTMPFS, BINFMT_ELF/SCRIPT, PROC_FS, SYSFS,
# KALLSYMS (oops traces with names). LLVM=-19 (Debian has only the versioned tool names).
#
# Prints the cache directory, which holds:
#   bzImage            the kernel image
#   build/             the O= tree (its Module.symvers, for building more modules)
#   modules/boot_vtables.ko  the fixture module, unstripped (debug info kept)
# Cache: ${DKWRAP_BOOT_LTO:-<repo>/target/boot-ltokernel}; stamps (hashes of the config options,
# the source tarball and the fixture's source) make a second run reuse it.
# make -j${DKWRAP_JOBS:-$(nproc)}. Logs: <cache>/build/.dkwrap-*.log.
set -euo pipefail
DK_SELF=boot-ltokernel
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cache=${DKWRAP_BOOT_LTO:-$DK_REPO/target/boot-ltokernel}
o=$cache/build
fixture_src=$DK_REPO/testdata/src/boot-vtables
make_args=(ARCH=x86_64 "LLVM=$DK_LLVM" LOCALVERSION=-dkwrap-boot)

OPTS=(-d LTO_NONE -e LTO_CLANG_THIN -e 64BIT -e MODULES -e MODULE_UNLOAD
    -e PRINTK -e TTY -e SERIAL_8250 -e SERIAL_8250_CONSOLE -e BLK_DEV_INITRD -e RD_GZIP
    -e DEVTMPFS -e DEVTMPFS_MOUNT -e BINFMT_ELF -e BINFMT_SCRIPT -e PROC_FS -e SYSFS
    -e KALLSYMS -e BUG -e MODULE_FORCE_UNLOAD -d MODULE_SIG -d KERNEL_XZ -e KERNEL_GZIP
    -d DEBUG_INFO_BTF)
EXPECT=(CONFIG_LTO_CLANG_THIN=y CONFIG_CC_IS_CLANG=y CONFIG_X86_64=y CONFIG_MODULES=y
    CONFIG_SERIAL_8250_CONSOLE=y CONFIG_BLK_DEV_INITRD=y CONFIG_RD_GZIP=y CONFIG_DEVTMPFS=y
    CONFIG_BINFMT_SCRIPT=y CONFIG_PRINTK=y)

kmake() {
    local log=$1; shift
    if ! make -s -C "$DK_KSRC" O="$o" "${make_args[@]}" "$@" >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        dk_die "make $* failed (log: $log)"
    fi
}

build_kernel() {
    dk_log "configuring (tinyconfig + boot options)"
    rm -rf "$o" "$cache/bzImage"
    mkdir -p "$o"
    kmake "$o/.dkwrap-config.log" tinyconfig
    "$DK_KSRC/scripts/config" --file "$o/.config" "${OPTS[@]}"
    kmake "$o/.dkwrap-config.log" olddefconfig
    local want
    for want in "${EXPECT[@]}"; do
        grep -qx "$want" "$o/.config" || dk_die "$want did not stick in $o/.config"
    done
    # `modules` (none are in-tree) runs modpost on vmlinux: Module.symvers, for M= builds.
    dk_log "make -j$DK_JOBS bzImage modules modules_prepare (clang-19, ThinLTO)"
    kmake "$o/.dkwrap-build.log" -j"$DK_JOBS" bzImage modules modules_prepare
    [ -s "$o/Module.symvers" ] || dk_die "no Module.symvers in $o"
    cp "$o/arch/x86/boot/bzImage" "$cache/bzImage"
}

build_fixture() {
    dk_log "building the boot fixture module against it"
    rm -rf "$cache/modsrc" "$cache/modules"
    mkdir -p "$cache/modsrc" "$cache/modules"
    cp "$fixture_src"/*.c "$fixture_src"/*.h "$fixture_src"/Kbuild "$cache/modsrc/"
    # The C++ half: a native relocatable object (ld -r of two TUs full of COMDAT groups),
    # built with the kernel's x86_64 code model, linked in as a prebuilt object.
    local cxx=("clang++$DK_LLVM" -O2 -g -gdwarf-5 -std=gnu++17 -fno-rtti -fno-exceptions
        -ffreestanding -nostdinc -fno-pic -fno-common -fno-threadsafe-statics
        -fno-asynchronous-unwind-tables -fno-stack-protector -fno-strict-aliasing -Wall -Werror
        --target=x86_64-linux-gnu -mcmodel=kernel -mno-red-zone -mno-sse -mno-mmx -mno-sse2
        -mno-3dnow -mno-avx -mno-80387 -mno-fp-ret-in-387 -mskip-rax-setup -fno-jump-tables)
    local tu
    for tu in bv_a bv_b; do
        "${cxx[@]}" -c "$fixture_src/cxx-src/$tu.cpp" -o "$cache/modsrc/$tu.o"
    done
    "ld.lld$DK_LLVM" -r -o "$cache/modsrc/bv_cxx.o_binary" "$cache/modsrc/bv_a.o" "$cache/modsrc/bv_b.o"
    kmake "$cache/modsrc/.dkwrap-module.log" M="$cache/modsrc" modules
    cp "$cache/modsrc/boot_vtables.ko" "$cache/modules/"
}

main() {
    [ "${1:-}" = -h ] || [ "${1:-}" = --help ] && { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0; }
    dk_ensure_packages qemu-system-x86 busybox-static >&2
    [ -f "$DK_KSRC/Makefile" ] || ktree_ensure thinlto
    mkdir -p "$cache"
    exec 9>"$cache/.lock"
    flock 9
    local kkey fkey t0
    kkey=$(printf '%s ' "${OPTS[@]}" "${make_args[@]}" "$(stat -c '%s %Y' "$DK_KSRC_TARBALL" 2>/dev/null)" | sha256sum | cut -c1-16)
    fkey=$kkey-$({ cat "$fixture_src"/* "$fixture_src"/cxx-src/* 2>/dev/null || true; } | sha256sum | cut -c1-16)
    if [ "$(cat "$cache/.stamp-kernel" 2>/dev/null)" != "$kkey" ] || [ ! -f "$cache/bzImage" ]; then
        t0=$(dk_now)
        build_kernel >&2
        echo "$kkey" >"$cache/.stamp-kernel"
        dk_log "kernel built in $(dk_elapsed "$t0")s: $cache/bzImage"
    fi
    if [ "$(cat "$cache/.stamp-fixture" 2>/dev/null)" != "$fkey" ] || [ ! -f "$cache/modules/boot_vtables.ko" ]; then
        t0=$(dk_now)
        build_fixture >&2
        echo "$fkey" >"$cache/.stamp-fixture"
        dk_log "fixture built in $(dk_elapsed "$t0")s"
    fi
    echo "$cache"
}

main "$@"
