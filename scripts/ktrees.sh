#!/usr/bin/env bash
# scripts/ktrees.sh - build the real Linux 6.1 kernel trees the fixtures need.
#
# Usage:
#   scripts/ktrees.sh                  build (or finish) all four trees
#   scripts/ktrees.sh TREE...          build only these trees
#   scripts/ktrees.sh --print TREE     ensure TREE is built, print its O= dir
#   scripts/ktrees.sh --make-args TREE print the make variables for TREE
#                                      (e.g. "ARCH=arm64 LLVM=-19 LOCALVERSION=")
#   scripts/ktrees.sh --list           print the tree names
#
# Trees (all from /usr/src/linux-source-6.1.tar.xz, configured with O=):
#   thinlto        x86_64, clang-19, CONFIG_LTO_CLANG_THIN=y
#   clang-nolto    x86_64, clang-19, CONFIG_LTO_NONE=y
#   gcc            x86_64, gcc (Debian 12), CONFIG_LTO_NONE=y
#   arm64-thinlto  arm64,  clang-19, CONFIG_LTO_CLANG_THIN=y
# Each: defconfig + MODVERSIONS, DWARF5, FUNCTION_TRACER/DYNAMIC_FTRACE,
# (x86) X86_KERNEL_IBT, no MODULE_SIG, no BTF; then `make modules_prepare`
# and a synthetic Module.symvers (deterministic CRCs) covering the kernel
# symbols listed in testdata/src/kernel-symbols.txt (module_layout included),
# so that modpost fills __versions.
#
# External modules are built with:
#   make -C "$(scripts/ktrees.sh --print TREE)" $(scripts/ktrees.sh --make-args TREE) M=DIR modules
# or, from bash: `. scripts/lib.sh; ktree_dir TREE; ktree_make_args TREE`.
#
# Idempotent: every step writes a stamp (holding a hash of its inputs) and is
# skipped when the stamp matches.  Cache: ${DKWRAP_KTREES:-<repo>/target/ktrees}.
# make -j${DKWRAP_JOBS:-$(nproc)}.  Logs: <tree>/.dkwrap-*.log.
set -euo pipefail
DK_SELF=ktrees
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SYMLIST=$DK_REPO/testdata/src/kernel-symbols.txt

COMMON_OPTS=(-e MODVERSIONS -e FTRACE -d DEBUG_INFO_NONE -e DEBUG_INFO_DWARF5
    -e FUNCTION_TRACER -e DYNAMIC_FTRACE -d MODULE_SIG -d DEBUG_INFO_BTF)

tree_opts() {
    case $1 in
        thinlto)       printf "%s " -d LTO_NONE -e LTO_CLANG_THIN "${COMMON_OPTS[@]}" -e X86_KERNEL_IBT ;;
        clang-nolto)   printf "%s " -e LTO_NONE -d LTO_CLANG_THIN "${COMMON_OPTS[@]}" -e X86_KERNEL_IBT ;;
        gcc)           printf "%s " -e LTO_NONE -d LTO_CLANG_THIN "${COMMON_OPTS[@]}" -e X86_KERNEL_IBT ;;
        arm64-thinlto) printf "%s " -d LTO_NONE -e LTO_CLANG_THIN "${COMMON_OPTS[@]}" ;;
    esac
}

# required lines in the final .config
tree_expect() {
    local e=(CONFIG_MODVERSIONS=y CONFIG_DEBUG_INFO_DWARF5=y CONFIG_FUNCTION_TRACER=y
             CONFIG_DYNAMIC_FTRACE=y)
    case $1 in
        thinlto)       e+=(CONFIG_LTO_CLANG_THIN=y CONFIG_CC_IS_CLANG=y CONFIG_X86_64=y CONFIG_X86_KERNEL_IBT=y) ;;
        clang-nolto)   e+=(CONFIG_LTO_NONE=y CONFIG_CC_IS_CLANG=y CONFIG_X86_64=y CONFIG_X86_KERNEL_IBT=y) ;;
        gcc)           e+=(CONFIG_LTO_NONE=y CONFIG_CC_IS_GCC=y CONFIG_X86_64=y CONFIG_X86_KERNEL_IBT=y) ;;
        arm64-thinlto) e+=(CONFIG_LTO_CLANG_THIN=y CONFIG_CC_IS_CLANG=y CONFIG_ARM64=y) ;;
    esac
    echo "${e[@]}"
}

hash_of() { printf '%s' "$*" | sha256sum | cut -c1-16; }

# run make for a tree quietly, log to file, show tail on error
tree_make() {
    local tree=$1 log=$2; shift 2
    local o; o=$(ktree_dir "$tree")
    # shellcheck disable=SC2046
    if ! make -s -C "$DK_KSRC" O="$o" $(ktree_make_args "$tree") "$@" >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        dk_die "make $* failed for $tree (log: $log)"
    fi
}

do_unpack() {
    local stamp=$DK_CACHE/src/.stamp-unpack
    local key; key=$(hash_of "$(stat -c '%s %Y' "$DK_KSRC_TARBALL")")
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && [ -f "$DK_KSRC/Makefile" ]; then
        return 0
    fi
    dk_log "unpacking $DK_KSRC_TARBALL"
    rm -rf "$DK_CACHE/src"
    mkdir -p "$DK_CACHE/src"
    tar -xJf "$DK_KSRC_TARBALL" -C "$DK_CACHE/src"
    [ -f "$DK_KSRC/Makefile" ] || dk_die "tarball did not contain linux-source-6.1/"
    echo "$key" >"$stamp"
}

do_config() {
    local tree=$1 o; o=$(ktree_dir "$tree")
    local stamp=$o/.dkwrap-stamp-config
    local key; key=$(hash_of "$(cat "$DK_CACHE/src/.stamp-unpack")" "$(ktree_make_args "$tree")" "$(tree_opts "$tree")")
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && [ -f "$o/.config" ]; then
        return 0
    fi
    dk_log "[$tree] configuring"
    rm -rf "$o"
    mkdir -p "$o"
    local log=$o/.dkwrap-config.log
    tree_make "$tree" "$log" defconfig
    # shellcheck disable=SC2046
    "$DK_KSRC/scripts/config" --file "$o/.config" $(tree_opts "$tree")
    tree_make "$tree" "$log" olddefconfig
    local want
    for want in $(tree_expect "$tree"); do
        grep -qx "$want" "$o/.config" || dk_die "[$tree] $want did not stick in $o/.config"
    done
    echo "$key" >"$stamp"
}

do_prepare() {
    local tree=$1 o; o=$(ktree_dir "$tree")
    local stamp=$o/.dkwrap-stamp-prepare
    local key; key=$(cat "$o/.dkwrap-stamp-config")
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
        return 0
    fi
    dk_log "[$tree] make -j$DK_JOBS modules_prepare"
    tree_make "$tree" "$o/.dkwrap-prepare.log" -j"$DK_JOBS" modules_prepare
    echo "$key" >"$stamp"
}

# Synthetic Module.symvers: "0x%08x\tSYMBOL\tvmlinux\tEXPORT_SYMBOL\t\n"
# (format of write_dump() in scripts/mod/modpost.c of 6.1).  CRC = first 32
# bits of sha256(symbol name), so every tree/machine gets the same CRCs.
do_symvers() {
    local tree=$1 o; o=$(ktree_dir "$tree")
    local tmp=$o/Module.symvers.tmp sym
    {
        printf 'module_layout\n'
        [ -f "$SYMLIST" ] && sed -e 's/#.*//' -e 's/[[:space:]]//g' "$SYMLIST"
    } | grep -v '^$' | sort -u | while read -r sym; do
        printf '0x%s\t%s\tvmlinux\tEXPORT_SYMBOL\t\n' \
            "$(printf '%s' "$sym" | sha256sum | cut -c1-8)" "$sym"
    done >"$tmp"
    if cmp -s "$tmp" "$o/Module.symvers"; then
        rm -f "$tmp"
    else
        mv "$tmp" "$o/Module.symvers"
        dk_log "[$tree] wrote Module.symvers ($(wc -l <"$o/Module.symvers") symbols)"
    fi
}

build_tree() {
    local tree=$1 t0
    t0=$(dk_now)
    if [ -f "$(ktree_dir "$tree")/.dkwrap-stamp-prepare" ] &&
       [ "$(cat "$(ktree_dir "$tree")/.dkwrap-stamp-prepare" 2>/dev/null)" = \
         "$(cat "$(ktree_dir "$tree")/.dkwrap-stamp-config" 2>/dev/null)" ]; then
        do_config "$tree"; do_prepare "$tree"; do_symvers "$tree"
        return 0
    fi
    dk_step "$tree: config" do_config "$tree"
    dk_step "$tree: modules_prepare" do_prepare "$tree"
    do_symvers "$tree"
    dk_log "[$tree] ready in $(dk_elapsed "$t0")s: $(ktree_dir "$tree")"
}

ensure() {
    dk_ensure_packages
    mkdir -p "$DK_CACHE"
    exec 9>"$DK_CACHE/.lock"
    flock 9
    dk_step unpack do_unpack
    local t
    for t in "$@"; do build_tree "$t"; done
}

main() {
    case ${1:-} in
        --print)
            [ $# -eq 2 ] || dk_die "usage: $0 --print TREE"
            ktree_valid "$2" || dk_die "unknown tree '$2'"
            ensure "$2" >&2
            ktree_dir "$2"
            ;;
        --make-args)
            [ $# -eq 2 ] || dk_die "usage: $0 --make-args TREE"
            ktree_make_args "$2"
            ;;
        --list) printf '%s\n' "${DK_TREES[@]}" ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
        *)
            local trees=("$@") t0
            [ ${#trees[@]} -gt 0 ] || trees=("${DK_TREES[@]}")
            for t in "${trees[@]}"; do ktree_valid "$t" || dk_die "unknown tree '$t'"; done
            t0=$(dk_now)
            ensure "${trees[@]}"
            dk_log "all done (${trees[*]}) in $(dk_elapsed "$t0")s; cache: $DK_CACHE"
            ;;
    esac
}

main "$@"
