#!/usr/bin/env bash
# scripts/fixtures.sh - build the real kernel-module fixtures in testdata/.
#
# Usage:
#   scripts/fixtures.sh            build (when inputs changed) + verify
#   scripts/fixtures.sh --force    rebuild even if the input hash is unchanged
#   scripts/fixtures.sh --check    rebuild (outputs in a temp dir), verify the committed
#                                  fixtures' properties, report which unsigned
#                                  fixtures are byte-identical to the rebuild
#   scripts/fixtures.sh --verify   only verify the committed fixtures
#
# Inputs : testdata/src/{basic,modeset-like}, the kernel trees of
#          scripts/ktrees.sh (built on demand), ../shared/tools/gnu-strip-2.43.1.xz
#          (optional; the GNU-strip-2.43.1 assertions are skipped without it).
# Outputs: testdata/modules/{basic,modeset-like}-{thinlto,clang-nolto,gcc,arm64-thinlto}.ko
#          testdata/modules/{basic,modeset-like}-thinlto.signed.ko
#          testdata/modules/basic-thinlto.ko.{zst,xz,gz}, modeset-like-thinlto.ko.zst
#          testdata/modules/bitcode-thinlto.o   (LLVM bitcode, not a module)
#          testdata/modules/MANIFEST
#          testdata/kconfig/{thinlto,clang-nolto,gcc,arm64-thinlto}.config
#          testdata/src/basic/blob-{x86-clang,x86-gcc,arm64-clang}.o_binary
#          testdata/src/modeset-like/nvkms-{x86-clang,x86-gcc,arm64-clang}.o_binary
# Build dir: ${DKWRAP_FIXTURE_BUILD:-/tmp/dkwrap-fixtures} (logs there).  It is a
# FIXED path on purpose: clang keeps the absolute source path in each
# bitcode module's source_filename, and ThinLTO derives the ".llvm.<hash>"
# suffix of promoted local symbols from a hash of the bitcode, so the bytes
# of the *-thinlto.ko fixtures depend on the build directory (exactly like
# DKMS, which always builds in /var/lib/dkms/<pkg>/<ver>/build).  All other
# paths are mapped away with -ffile-prefix-map.  Tools and the throwaway
# signing key: ${DKWRAP_KTREES:-<repo>/target/ktrees}/tools.
#
# The script fails unless the GNU-strip bug still reproduces on
# modeset-like-thinlto.ko (see verify_strip below).
set -euo pipefail
DK_SELF=fixtures
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=build
case ${1:-} in
    "") ;;
    --force) MODE=force ;;
    --check) MODE=check ;;
    --verify) MODE=verify ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) dk_die "unknown argument '$1' (see --help)" ;;
esac

T_START=$(dk_now)
SRC=$DK_REPO/testdata/src
MODS_OUT=$DK_REPO/testdata/modules
KCONF_OUT=$DK_REPO/testdata/kconfig
MODULES=(basic modeset-like)
FLAVOURS=(x86-clang x86-gcc arm64-clang)
GNU_STRIP_XZ=$DK_REPO/../shared/tools/gnu-strip-2.43.1.xz
DEB_STRIP=/usr/bin/strip
READELF=llvm-readelf-19
ELFCHECK=(python3 "$DK_REPO/scripts/elfcheck.py")
SIG_MAGIC='~Module signature appended~'
BUILD_ROOT=${DKWRAP_FIXTURE_BUILD:-/tmp/dkwrap-fixtures}
TOOLS=$DK_CACHE/tools
STAMP=$DK_CACHE/fixtures.stamp

flavour_of_tree() {
    case $1 in
        thinlto|clang-nolto) echo x86-clang ;;
        gcc) echo x86-gcc ;;
        arm64-thinlto) echo arm64-clang ;;
    esac
}
# tree whose kbuild flags compile a flavour's blobs
tree_of_flavour() {
    case $1 in
        x86-clang) echo clang-nolto ;;
        x86-gcc) echo gcc ;;
        arm64-clang) echo arm64-thinlto ;;
    esac
}

# Paths of this machine that must never reach a committed file are mapped to
# fixed, machine-independent ones.
prefix_maps() { # TREE BUILD_DIR MAPPED_NAME
    local o; o=$(ktree_dir "$1")
    printf -- '-ffile-prefix-map=%s=%s ' \
        "$2" "/usr/src/$3" \
        "$DK_KSRC" /usr/src/linux-source-6.1 \
        "$o" "/usr/src/linux-headers-6.1.192-$1"
}

run_logged() { # LOG CMD...
    local log=$1; shift
    if ! "$@" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        dk_die "failed: $* (log: $log)"
    fi
}

# ---------------------------------------------------------------------------
# prebuilt blobs
# ---------------------------------------------------------------------------

# C blob (basic): kbuild single-target compile with the tree's flags, minus
# LTO (-> native ELF, never bitcode) and ftrace flags; objtool skipped (it
# runs later on the whole module under LTO, as for nv-kernel.o_binary).
build_c_blob() { # FLAVOUR OUTDIR
    local fl=$1 out=$2 tree; tree=$(tree_of_flavour "$fl")
    local d=$WORK/blobs/$fl/c
    rm -rf "$d"; mkdir -p "$d"
    cp "$SRC/basic/blob-src/blob.c" "$d/blob.c"
    cat >"$d/Kbuild" <<'EOF'
ccflags-remove-y += $(CC_FLAGS_LTO) $(CC_FLAGS_FTRACE)
OBJECT_FILES_NON_STANDARD := y
$(obj)/blob.o: part-of-module := y
EOF
    # shellcheck disable=SC2046
    run_logged "$d/build.log" make -s -C "$(ktree_dir "$tree")" $(ktree_make_args "$tree") \
        M="$d" KCFLAGS="$(prefix_maps "$tree" "$d" basic-1.0/blob-src)" blob.o
    if head -c 4 "$d/blob.o" | od -An -tx1 | grep -q 'de c0 17 0b\|42 43 c0 de'; then
        dk_die "$fl C blob is LLVM bitcode"
    fi
    cp "$d/blob.o" "$out/blob-$fl.o_binary"
}

# C++ blob (modeset-like): two TUs compiled like nvidia-modeset's C++ core,
# then `ld -r` into one relocatable object.
build_cxx_blob() { # FLAVOUR OUTDIR
    local fl=$1 out=$2 tree; tree=$(tree_of_flavour "$fl")
    local d=$WORK/blobs/$fl/cxx cxx ld
    rm -rf "$d"; mkdir -p "$d"
    cp "$SRC/modeset-like/cxx-src/"* "$d/"
    local flags=(-O2 -g -gdwarf-5 -std=gnu++17 -fno-rtti -fno-exceptions -ffreestanding
        -nostdinc -fno-pic -fno-common -fno-threadsafe-statics -fno-asynchronous-unwind-tables
        -fno-stack-protector -fno-strict-aliasing -Wall -Werror
        "-ffile-prefix-map=$d=/usr/src/modeset-like-1.0/cxx-src")
    case $fl in
        x86-clang)
            cxx=clang++$DK_LLVM; ld=ld.lld$DK_LLVM
            flags+=(--target=x86_64-linux-gnu -mcmodel=kernel -mno-red-zone -mno-sse -mno-mmx
                -mno-sse2 -mno-3dnow -mno-avx -mno-80387 -mno-fp-ret-in-387 -mskip-rax-setup
                -fcf-protection=branch -mretpoline-external-thunk -mindirect-branch-cs-prefix
                -mfunction-return=thunk-extern -fno-jump-tables) ;;
        x86-gcc)
            cxx=g++; ld=ld.bfd
            flags+=(-mcmodel=kernel -mno-red-zone -mno-sse -mno-mmx -mno-sse2 -mno-3dnow
                -mno-avx -mno-80387 -mno-fp-ret-in-387 -mskip-rax-setup -fcf-protection=branch
                -mindirect-branch=thunk-extern -mindirect-branch-register
                -mindirect-branch-cs-prefix -mfunction-return=thunk-extern -fno-jump-tables) ;;
        arm64-clang)
            cxx=clang++$DK_LLVM; ld=ld.lld$DK_LLVM
            flags+=(--target=aarch64-linux-gnu -mlittle-endian -mgeneral-regs-only
                -mbranch-protection=pac-ret+leaf+bti -fno-omit-frame-pointer) ;;
    esac
    local tu
    for tu in nvkms_a nvkms_b; do
        (cd "$d" && run_logged "$d/build.log" "$cxx" "${flags[@]}" -c "$tu.cpp" -o "$tu.o")
    done
    (cd "$d" && run_logged "$d/build.log" "$ld" -r -o nvkms.o nvkms_a.o nvkms_b.o)
    cp "$d/nvkms.o" "$out/nvkms-$fl.o_binary"
    echo "$cxx ${flags[*]}" | sed "s|$d|<builddir>|g" >"$d/flags.txt"
}

build_blobs() { # OUTDIR
    local fl
    for fl in "${FLAVOURS[@]}"; do
        build_c_blob "$fl" "$1"
        build_cxx_blob "$fl" "$1"
    done
}

# copy DST only if bytes differ (keeps mtimes and git quiet)
install_file() { cmp -s "$1" "$2" || cp "$1" "$2"; }

# ---------------------------------------------------------------------------
# modules
# ---------------------------------------------------------------------------

build_module() { # TREE MODULE BLOBDIR OUTDIR
    local tree=$1 mod=$2 blobs=$3 out=$4
    local b=$WORK/$tree/$mod fl; fl=$(flavour_of_tree "$tree")
    rm -rf "$b"; mkdir -p "$b"
    cp -a "$SRC/$mod/." "$b/"
    case $mod in
        basic) cp "$blobs/blob-$fl.o_binary" "$b/" ;;
        modeset-like) cp "$blobs/nvkms-$fl.o_binary" "$b/" ;;
    esac
    local log=$WORK/$tree/$mod.log t0; t0=$(dk_now)
    : >"$log"
    # shellcheck disable=SC2046
    if ! make -C "$(ktree_dir "$tree")" $(ktree_make_args "$tree") M="$b" -j"$DK_JOBS" \
            KCFLAGS="$(prefix_maps "$tree" "$b" "$mod-1.0")" modules >>"$log" 2>&1; then
        local undef
        undef=$(sed -n 's/.*modpost: "\([^"]*\)".* undefined!.*/\1/p' "$log" | sort -u | tr '\n' ' ')
        [ -z "$undef" ] || dk_log "add to testdata/src/kernel-symbols.txt: $undef"
        tail -n 30 "$log" >&2
        dk_die "$mod on $tree failed (log: $log)"
    fi
    grep -i 'warning' "$log" | sed "s|^|[$tree/$mod] |" >&2 || true
    cp "$b/$mod.ko" "$out/$mod-$tree.ko"
    dk_log "built $mod-$tree.ko ($(stat -c %s "$b/$mod.ko") bytes, $(dk_elapsed "$t0")s)"
    if [ "$tree/$mod" = thinlto/basic ]; then
        build_bitcode "$tree" "$b" "$out/bitcode-thinlto.o"
    fi
}

# The unlinked bitcode fixture: basic_main.o, compiled with the exact command
# kbuild recorded in .basic_main.o.cmd, but run from the module directory
# with relative, fixed-length paths (.k/src, .k/obj are symlinks to the
# kernel source and output trees): the IR keeps the main file name verbatim
# in source_filename (-ffile-prefix-map does not apply to it), and inline-asm
# !srcloc offsets grow with the length of the -include paths, so kbuild's own
# basic_main.o depends on where the build machine keeps its trees.
build_bitcode() { # TREE BUILD_DIR OUT
    local tree=$1 b=$2 out=$3 o; o=$(ktree_dir "$tree")
    local cmd
    cmd=$(sed -n "s|^cmd_$b/basic_main\\.o := ||p" "$b/.basic_main.o.cmd")
    [ -n "$cmd" ] || dk_die "no compile command in $b/.basic_main.o.cmd"
    mkdir -p "$b/.k"
    ln -sfn "$DK_KSRC" "$b/.k/src"
    ln -sfn "$o" "$b/.k/obj"
    cmd=${cmd//"-Wp,-MMD,$b/.basic_main.o.d"/}
    cmd=${cmd//"-o $b/basic_main.o"/"-o bitcode-thinlto.o"}
    cmd=${cmd//"$b/basic_main.c"/basic_main.c}
    cmd=${cmd//"$DK_KSRC"/.k/src}
    cmd=${cmd//"$o"/.k/obj}
    cmd=${cmd//" -I./"/" -I.k/obj/"}
    (cd "$b" && eval "$cmd") || dk_die "bitcode compile failed"
    head -c 4 "$b/bitcode-thinlto.o" | od -An -tx1 | grep -q '42 43 c0 de' ||
        dk_die "bitcode-thinlto.o is not LLVM bitcode"
    cp "$b/bitcode-thinlto.o" "$out"
}

build_sign_file() {
    local d=$TOOLS
    mkdir -p "$d"
    if [ ! -x "$d/sign-file" ]; then
        gcc -O2 -Wno-deprecated-declarations -o "$d/sign-file" \
            "$DK_KSRC/scripts/sign-file.c" -lcrypto ||
            dk_die "cannot build scripts/sign-file.c (libssl-dev?)"
    fi
    # throwaway key, never committed
    if [ ! -f "$d/signing_key.pem" ]; then
        cat >"$d/x509.genkey" <<'EOF'
[ req ]
default_bits = 2048
distinguished_name = req_distinguished_name
prompt = no
string_mask = utf8only
x509_extensions = myexts

[ req_distinguished_name ]
O = dkwrap test fixtures
CN = dkwrap throwaway fixture signing key

[ myexts ]
basicConstraints=critical,CA:FALSE
keyUsage=digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
        openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 \
            -config "$d/x509.genkey" -outform PEM -out "$d/signing_key.pem" \
            -keyout "$d/signing_key.pem" >/dev/null 2>&1 || dk_die "openssl req failed"
    fi
}

# sign OUT/MOD-thinlto.ko -> .signed.ko unless the committed signed copy
# already wraps exactly this unsigned module (keeps re-runs byte-stable)
sign_module() { # KO SIGNED
    local ko=$1 signed=$2 size; size=$(stat -c %s "$ko")
    if [ -f "$signed" ] && cmp -s -n "$size" "$ko" "$signed" &&
       [ "$(tail -c 28 "$signed")" = "$SIG_MAGIC" ]; then
        return 0
    fi
    "$TOOLS/sign-file" sha256 "$TOOLS/signing_key.pem" \
        "$TOOLS/signing_key.pem" "$ko" "$signed.tmp"
    mv "$signed.tmp" "$signed"
}

compress_copies() { # DIR
    local d=$1
    zstd -q -19 -f -c "$d/basic-thinlto.ko" >"$d/basic-thinlto.ko.zst.tmp"
    xz --check=crc32 --lzma2=dict=1MiB -T1 -c "$d/basic-thinlto.ko" >"$d/basic-thinlto.ko.xz.tmp"
    gzip -9 -n -c "$d/basic-thinlto.ko" >"$d/basic-thinlto.ko.gz.tmp"
    zstd -q -19 -f -c "$d/modeset-like-thinlto.ko" >"$d/modeset-like-thinlto.ko.zst.tmp"
    local f
    for f in basic-thinlto.ko.zst basic-thinlto.ko.xz basic-thinlto.ko.gz modeset-like-thinlto.ko.zst; do
        install_file "$d/$f.tmp" "$d/$f"; rm -f "$d/$f.tmp"
    done
}

cc_of_tree() { # "clang 19.1.7" / "gcc 12.2.0"
    local text; text=$(ktree_cc_text "$1")
    case $text in
        *clang*) echo "clang $(echo "$text" | sed -n 's/.*clang version \([0-9.]*\).*/\1/p') (ld.lld-19)" ;;
        *) echo "gcc $(echo "$text" | sed -n 's/.*) \([0-9.]*\)$/\1/p') (GNU ld $(ld --version | head -1 | awk '{print $NF}'))" ;;
    esac
}

write_manifest() {
    local f tree cc how m
    {
        printf '# file\tsha256\ttree\tcompiler\thow built\n'
        printf '# generated by scripts/fixtures.sh from testdata/src; Linux %s; KBUILD_BUILD_TIMESTAMP=%s\n' \
            "$(cat "$(ktree_dir thinlto)/include/config/kernel.release")" "$KBUILD_BUILD_TIMESTAMP"
        for f in "$MODS_OUT"/*; do
            f=${f##*/}
            [ "$f" = MANIFEST ] && continue
            m=${f%%.*}          # basic-thinlto / bitcode-thinlto
            tree=
            for t in "${DK_TREES[@]}"; do
                case $m in *-"$t") tree=$t ;; esac
            done
            [ -n "$tree" ] || tree=-
            if [ "$tree" = - ]; then cc=-; else cc=$(cc_of_tree "$tree"); fi
            case $f in
                bitcode-thinlto.o) how="basic_main.o of basic built on thinlto (-flto=thin): unlinked LLVM bitcode, NOT a module" ;;
                *.signed.ko) how="${f%.signed.ko}.ko signed with the tree's scripts/sign-file (sha256, throwaway openssl key, not committed)" ;;
                *.ko.zst) how="zstd -19 of ${f%.zst}" ;;
                *.ko.xz) how="xz --check=crc32 --lzma2=dict=1MiB of ${f%.xz}" ;;
                *.ko.gz) how="gzip -9 -n of ${f%.gz}" ;;
                modeset-like-*.ko) how="make M=testdata/src/modeset-like modules (C + prebuilt C++ nvkms-$(flavour_of_tree "$tree").o_binary with COMDAT groups), unsigned, not stripped" ;;
                basic-*.ko) how="make M=testdata/src/basic modules (C + prebuilt native blob-$(flavour_of_tree "$tree").o_binary), unsigned, not stripped" ;;
                *) how='?' ;;
            esac
            printf '%s\t%s\t%s\t%s\t%s\n' "$f" "$(sha256sum "$MODS_OUT/$f" | cut -d' ' -f1)" \
                "$tree" "$cc" "$how"
        done
    } >"$WORK/MANIFEST.tmp"
    install_file "$WORK/MANIFEST.tmp" "$MODS_OUT/MANIFEST"
}

input_hash() {
    {
        echo "$BUILD_ROOT"
        (cd "$DK_REPO" && find testdata/src scripts/fixtures.sh scripts/lib.sh -type f \
            ! -name '*.o_binary' -print0 | sort -z | xargs -0 sha256sum)
        for t in "${DK_TREES[@]}"; do
            cat "$(ktree_dir "$t")/.dkwrap-stamp-prepare"
            sha256sum <"$(ktree_dir "$t")/Module.symvers"
        done
    } | sha256sum | cut -c1-32
}

all_outputs() {
    local m t
    for m in "${MODULES[@]}"; do for t in "${DK_TREES[@]}"; do echo "$m-$t.ko"; done; done
    echo basic-thinlto.signed.ko modeset-like-thinlto.signed.ko
    echo basic-thinlto.ko.zst basic-thinlto.ko.xz basic-thinlto.ko.gz modeset-like-thinlto.ko.zst
    echo bitcode-thinlto.o MANIFEST
}

# build everything into OUT (modules) using blobs in BLOBDIR
build_all() { # BLOBDIR OUTDIR
    local t m
    for t in "${DK_TREES[@]}"; do
        for m in "${MODULES[@]}"; do
            build_module "$t" "$m" "$1" "$2"
        done
    done
}

# ---------------------------------------------------------------------------
# verification
# ---------------------------------------------------------------------------
FAILS=0
fail() { dk_log "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { dk_log "ok: $*"; }

verify_groups() { # KO
    local ko=$1 out
    out=$("${ELFCHECK[@]}" groups "$ko") || { fail "$(basename "$ko"): no shared group member / multi-rela target"; echo "$out" >&2; return; }
    local ng shared multi
    ng=$(sed -n 's/^groups=//p' <<<"$out")
    shared=$(grep -m1 '^shared_member=' <<<"$out" | sed 's/shared_member=//')
    multi=$(grep -m1 '^multi_rela_target=' <<<"$out" | sed 's/multi_rela_target=//')
    pass "$(basename "$ko"): $ng section groups; member $shared; target $multi"
}

verify_module() { # KO TREE
    local ko=$1 tree=$2 name; name=$(basename "$ko")
    local rel; rel=$(cat "$(ktree_dir "$tree")/include/config/kernel.release")
    local vm; vm=$(modinfo -F vermagic "$ko" 2>/dev/null || true)
    case $vm in
        "$rel "*) ;;
        *) fail "$name: vermagic '$vm' does not start with '$rel '" ;;
    esac
    local vsize
    vsize=$($READELF -S --wide "$ko" | sed 's/^ *\[ *[0-9]*\] *//' | awk '$1=="__versions"{print $5}')
    if [ -z "$vsize" ] || [ $((16#$vsize)) -eq 0 ]; then
        fail "$name: __versions missing or empty"
    elif ! $READELF -x __versions "$ko" | grep -q 'module_l'; then
        fail "$name: __versions lacks module_layout"
    fi
    local arch=x86_64 machine; [ "$tree" = arm64-thinlto ] && arch=aarch64
    machine=$($READELF -h "$ko" | sed -n 's/^ *Machine: *//p')
    case $arch:$machine in
        x86_64:*X86-64*|aarch64:*AArch64*) ;;
        *) fail "$name: machine '$machine' (expected $arch)" ;;
    esac
    [ "$(modinfo -F license "$ko")" = GPL ] || fail "$name: license"
    [ "$(modinfo -F version "$ko")" = 1.0 ] || fail "$name: version"
    [ "$(modinfo -F parm "$ko" | wc -l)" -ge 3 ] || fail "$name: module parameters missing"
    local secs; secs=$($READELF -S --wide "$ko" | sed -n 's/^ *\[ *[0-9]*\] *\([^ ]*\).*/\1/p')
    grep -qx __jump_table <<<"$secs" || fail "$name: no __jump_table (static key)"
    grep -qx __ksymtab_gpl <<<"$secs" || fail "$name: no __ksymtab_gpl (EXPORT_SYMBOL_GPL)"
    if grep -aqF -e "$DK_REPO" -e "$DK_CACHE" -e "$BUILD_ROOT" "$ko"; then
        fail "$name: contains a build-machine path"
    fi
    local ngroups; ngroups=$($READELF -S --wide "$ko" | grep -c ' GROUP ' || true)
    pass "$name: vermagic '$vm', __versions $((16#${vsize:-0} / 64)) entries, $ngroups groups, $(stat -c %s "$ko") bytes"
}

reloc_changes() { # ORIG STRIPPED -> prints changed count
    "${ELFCHECK[@]}" relocdiff "$1" "$2" | sed -n 's/^changed=\([0-9]*\).*/\1/p'
}
reloc_detail() { # ORIG STRIPPED -> "lost=N gained=M"
    "${ELFCHECK[@]}" relocdiff "$1" "$2" | sed -n '1s/^.* lost=/lost=/p'
}

STRIP_SUMMARY=
verify_strip() { # DIR (with modeset-like-thinlto.ko, *-arm64-thinlto.ko)
    local d=$1 ko=$1/modeset-like-thinlto.ko tmp
    tmp=$(mktemp -d)
    local total; total=$("${ELFCHECK[@]}" relocdiff "$ko" "$ko" | sed -n 's/.*total=\([0-9]*\).*/\1/p')

    # 1. Debian's GNU strip 2.40
    local rc=0 err n=
    "$DEB_STRIP" -g -o "$tmp/deb.ko" "$ko" 2>"$tmp/deb.err" || rc=$?
    err=$(tr '\n' ' ' <"$tmp/deb.err" | sed "s|$tmp/||g; s|$d/||g" | cut -c1-300)
    [ -f "$tmp/deb.ko" ] && [ $rc -eq 0 ] && n=$(reloc_changes "$ko" "$tmp/deb.ko")
    if [ $rc -ne 0 ] || grep -qiE 'assertion fail|invalid entry' "$tmp/deb.err" || [ "${n:-0}" -gt 0 ]; then
        pass "strip 2.40 -g on modeset-like-thinlto.ko: rc=$rc, changed relocs=${n:-n/a}/$total, stderr: ${err:-<none>}"
        STRIP_SUMMARY+="strip-2.40: rc=$rc changed=${n:-n/a}/$total stderr=[${err}]"$'\n'
    else
        fail "/usr/bin/strip -g handled modeset-like-thinlto.ko correctly (bug no longer reproduces)"
    fi

    # 2. GNU strip 2.43.1 from ../shared
    if [ -f "$GNU_STRIP_XZ" ]; then
        local gs=$TOOLS/gnu-strip-2.43.1
        if [ ! -x "$gs" ] || [ "$GNU_STRIP_XZ" -nt "$gs" ]; then
            mkdir -p "$TOOLS"
            xz -dc "$GNU_STRIP_XZ" >"$gs.tmp" && chmod +x "$gs.tmp" && mv "$gs.tmp" "$gs"
        fi
        rc=0
        "$gs" -g -o "$tmp/gnu.ko" "$ko" 2>"$tmp/gnu.err" || rc=$?
        err=$(tr '\n' ' ' <"$tmp/gnu.err" | sed "s|$tmp/||g; s|$d/||g; s|$gs|strip|g" | cut -c1-300)
        n=$([ -f "$tmp/gnu.ko" ] && reloc_changes "$ko" "$tmp/gnu.ko" || echo n/a)
        if [ $rc -eq 0 ] && grep -qi 'assertion fail' "$tmp/gnu.err" && [ "$n" != n/a ] && [ "$n" -gt 0 ]; then
            pass "GNU strip 2.43.1 -g: rc=0, assertion printed, $n/$total non-debug relocations changed meaning ($(reloc_detail "$ko" "$tmp/gnu.ko"))"
            "${ELFCHECK[@]}" relocdiff "$ko" "$tmp/gnu.ko" |
                awk '/lost:/ && l < 2 {print; l++} /gained:/ && g < 2 {print; g++}' >&2
        else
            fail "GNU strip 2.43.1 -g: expected rc=0 + assertion + changed relocs; got rc=$rc changed=$n stderr: $err"
        fi
        local detail nassert ninval
        detail=$(reloc_detail "$ko" "$tmp/gnu.ko" 2>/dev/null || true)
        nassert=$(grep -c 'assertion fail' "$tmp/gnu.err" || true)
        ninval=$(grep -c 'invalid entry' "$tmp/gnu.err" || true)
        STRIP_SUMMARY+="strip-2.43.1: rc=$rc changed=$n/$total ($detail), $nassert 'assertion fail' + $ninval 'invalid entry' lines"$'\n'
    else
        dk_log "skip: $GNU_STRIP_XZ not present, GNU strip 2.43.1 assertions not run"
        STRIP_SUMMARY+="strip-2.43.1: skipped (no ../shared/tools/gnu-strip-2.43.1.xz)"$'\n'
    fi

    # 3. llvm-strip-19 keeps every non-debug relocation
    rc=0
    llvm-strip-19 -g -o "$tmp/llvm.ko" "$ko" 2>"$tmp/llvm.err" || rc=$?
    n=$([ $rc -eq 0 ] && reloc_changes "$ko" "$tmp/llvm.ko" || echo n/a)
    if [ $rc -eq 0 ] && [ "$n" = 0 ]; then
        pass "llvm-strip-19 -g: rc=0, 0/$total relocations changed ($(stat -c %s "$ko") -> $(stat -c %s "$tmp/llvm.ko") bytes)"
    else
        fail "llvm-strip-19 -g: rc=$rc changed=$n"
    fi
    STRIP_SUMMARY+="llvm-strip-19: rc=$rc changed=$n/$total"$'\n'

    # 4. binutils built for x86 only cannot read arm64 modules
    local m
    for m in basic modeset-like; do
        rc=0
        "$DEB_STRIP" -g -o "$tmp/a.ko" "$d/$m-arm64-thinlto.ko" 2>"$tmp/arm.err" || rc=$?
        if [ $rc -ne 0 ] && grep -qE 'Unable to recognise the format|file format not recognized' "$tmp/arm.err"; then
            pass "/usr/bin/strip refuses $m-arm64-thinlto.ko ($(grep -oE 'Unable to recognise the format|file format not recognized' "$tmp/arm.err" | head -1))"
        else
            fail "/usr/bin/strip on $m-arm64-thinlto.ko: rc=$rc $(cat "$tmp/arm.err")"
        fi
    done
    rm -rf "$tmp"
}

verify_dir() { # DIR: the properties every (committed) fixture set must have
    local d=$1 m t
    for m in "${MODULES[@]}"; do
        for t in "${DK_TREES[@]}"; do
            [ -f "$d/$m-$t.ko" ] || { fail "missing $m-$t.ko"; continue; }
            verify_module "$d/$m-$t.ko" "$t"
        done
    done
    verify_groups "$d/modeset-like-thinlto.ko"
    verify_groups "$d/modeset-like-arm64-thinlto.ko"
    for m in basic modeset-like; do
        local s=$d/$m-thinlto.signed.ko
        if [ "$(tail -c 28 "$s")" = "$SIG_MAGIC" ] &&
           cmp -s -n "$(stat -c %s "$d/$m-thinlto.ko")" "$d/$m-thinlto.ko" "$s"; then
            pass "$m-thinlto.signed.ko = $m-thinlto.ko + signature ($(( $(stat -c %s "$s") - $(stat -c %s "$d/$m-thinlto.ko") )) bytes) + trailer"
        else
            fail "$m-thinlto.signed.ko: no signature trailer or not a signed copy of $m-thinlto.ko"
        fi
    done
    local c
    for c in "zstd -dc:basic-thinlto.ko.zst" "xz -dc:basic-thinlto.ko.xz" \
             "gzip -dc:basic-thinlto.ko.gz" "zstd -dc:modeset-like-thinlto.ko.zst"; do
        local tool=${c%%:*} f=${c#*:}
        if $tool "$d/$f" | cmp -s - "$d/${f%.*}"; then pass "$f decompresses to ${f%.*}"; else fail "$f does not decompress to ${f%.*}"; fi
    done
    if xz --robot --list "$d/basic-thinlto.ko.xz" | grep -q 'CRC32'; then :; else fail "basic-thinlto.ko.xz: check is not CRC32"; fi
    if head -c 4 "$d/bitcode-thinlto.o" | od -An -tx1 | grep -q '42 43 c0 de'; then
        pass "bitcode-thinlto.o starts with BC C0 DE"
    else
        fail "bitcode-thinlto.o is not LLVM bitcode"
    fi
    # no build-machine path in anything committed
    local mine=("$SRC" "$MODS_OUT" "$KCONF_OUT")
    if grep -rlaF -e "$DK_REPO" -e "$DK_CACHE" -e "$BUILD_ROOT" "${mine[@]}" >/dev/null 2>&1; then
        fail "build-machine paths in: $(grep -rlaF -e "$DK_REPO" -e "$DK_CACHE" -e "$BUILD_ROOT" "${mine[@]}" | tr '\n' ' ')"
    else
        pass "no '$DK_REPO', '$DK_CACHE' or '$BUILD_ROOT' path in testdata/"
    fi
    if [ -f "$d/MANIFEST" ]; then
        local bad
        bad=$(grep -v '^#' "$d/MANIFEST" | while IFS=$'\t' read -r f sum _; do
            [ "$(sha256sum "$d/$f" 2>/dev/null | cut -d' ' -f1)" = "$sum" ] || echo "$f"; done)
        if [ -z "$bad" ]; then pass "MANIFEST sha256 sums match"; else fail "MANIFEST mismatch: $bad"; fi
    fi
    verify_strip "$d"
}

# ---------------------------------------------------------------------------

ktree_ensure >/dev/null
mkdir -p "$BUILD_ROOT"
exec 8>"$BUILD_ROOT/.lock"
flock 8
WORK=$BUILD_ROOT

case $MODE in
    build|force)
        mkdir -p "$WORK" "$MODS_OUT" "$KCONF_OUT"
        hash=$(input_hash)
        absent=
        for f in $(all_outputs); do [ -f "$MODS_OUT/$f" ] || absent+=" $f"; done
        if [ "$MODE" = build ] && [ -z "$absent" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$hash" ]; then
            dk_log "inputs unchanged (hash $hash): skipping the build, verifying"
        else
            rm -f "$STAMP"
            t0=$(dk_now)
            mkdir -p "$WORK/blobs/out"
            dk_step blobs build_blobs "$WORK/blobs/out"
            for f in "$WORK"/blobs/out/*.o_binary; do
                case $(basename "$f") in
                    blob-*) install_file "$f" "$SRC/basic/$(basename "$f")" ;;
                    nvkms-*) install_file "$f" "$SRC/modeset-like/$(basename "$f")" ;;
                esac
            done
            dk_step modules build_all "$WORK/blobs/out" "$MODS_OUT"
            build_sign_file
            sign_module "$MODS_OUT/basic-thinlto.ko" "$MODS_OUT/basic-thinlto.signed.ko"
            sign_module "$MODS_OUT/modeset-like-thinlto.ko" "$MODS_OUT/modeset-like-thinlto.signed.ko"
            compress_copies "$MODS_OUT"
            for t in "${DK_TREES[@]}"; do install_file "$(ktree_dir "$t")/.config" "$KCONF_OUT/$t.config"; done
            write_manifest
            echo "$hash" >"$STAMP"
            dk_log "fixtures built in $(dk_elapsed "$t0")s"
        fi
        verify_dir "$MODS_OUT"
        ;;
    verify)
        verify_dir "$MODS_OUT"
        ;;
    check)
        CHK=$(mktemp -d "${TMPDIR:-/tmp}/dkwrap-fixtures-check.XXXXXX")
        trap 'rm -rf "$CHK"' EXIT
        mkdir -p "$CHK/blobs" "$CHK/out"
        dk_log "rebuilding in $WORK into $CHK"
        dk_step blobs build_blobs "$CHK/blobs"
        dk_step modules build_all "$CHK/blobs" "$CHK/out"
        compress_copies "$CHK/out"
        verify_dir "$MODS_OUT"
        same=() differ=()
        for f in "$CHK"/out/*; do
            f=${f##*/}
            [ -f "$MODS_OUT/$f" ] || continue
            if cmp -s "$CHK/out/$f" "$MODS_OUT/$f"; then same+=("$f"); else differ+=("$f"); fi
        done
        for f in "$CHK"/blobs/*.o_binary; do
            b=$(basename "$f"); case $b in blob-*) c=$SRC/basic/$b ;; *) c=$SRC/modeset-like/$b ;; esac
            if cmp -s "$f" "$c"; then same+=("src:$b"); else differ+=("src:$b"); fi
        done
        for t in "${DK_TREES[@]}"; do
            if cmp -s "$(ktree_dir "$t")/.config" "$KCONF_OUT/$t.config"; then same+=("kconfig:$t"); else differ+=("kconfig:$t"); fi
        done
        dk_log "byte-identical to the rebuild (${#same[@]}): ${same[*]:-none}"
        if [ ${#differ[@]} -gt 0 ]; then
            dk_log "NOT reproducible (${#differ[@]}): ${differ[*]}"
            if [ "${DKWRAP_REQUIRE_REPRODUCIBLE:-1}" = 1 ]; then
                fail "fixtures are not byte-reproducible (set DKWRAP_REQUIRE_REPRODUCIBLE=0 to only report)"
            fi
        fi
        ;;
esac

if [ -n "$STRIP_SUMMARY" ]; then
    printf '%s' "$STRIP_SUMMARY" | sed 's/^/[fixtures] strip summary: /' >&2
fi
dk_log "wall time $(dk_elapsed "$T_START")s, failures: $FAILS"
[ "$FAILS" -eq 0 ]
