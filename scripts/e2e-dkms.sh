#!/usr/bin/env bash
# scripts/e2e-dkms.sh - real end-to-end test of `dkwrap make` with Debian's dkms.
#
# Usage: scripts/e2e-dkms.sh            (DKWRAP=/path/to/dkwrap to skip the release build)
#
# What it runs (every step prints PASS:/FAIL:/SKIP:/INFO: lines; exit 1 on any FAIL):
#   1. The dkms package testdata/dkms/modeset-like (an NVIDIA-shaped package: a C++
#      core built by its own Makefile with `?=` tool defaults, then Kbuild) with its
#      dkwrap dkms.conf, `dkms add` + `dkms build -k <release> --kernelsourcedir <tree>`
#      on the clang ThinLTO tree and on the GCC tree. The built module must pass
#      `dkwrap verify` and `dkwrap verify --against` an unstripped build of the same
#      package (the same dkms.conf with --strategy skip).
#   2. The same package with a plain dkms.conf (no dkwrap) on the ThinLTO tree: as
#      installed (Debian names only clang-19/ld.lld-19), with clang/ld.lld made
#      available (GNU strip 2.40), and with GNU strip 2.43.1 first on PATH. Records
#      what dkms runs and prints; asserts that with 2.43.1 dkms reports success while
#      the module fails `dkwrap verify --against` the unstripped build.
#   3. The strip shim (dkms-conf/strip-shim): the plain package again, with dkms run
#      through the `dkms` wrapper, so dkms's own `strip -g` is dkwrap; and the
#      framework.conf fragment, which dkms 3.0.10 ignores (measured in a private mount
#      namespace, so /etc is not touched).
#   4. `dkwrap make -- make -C <tree> M=<dir> modules` on the fixture sources
#      testdata/src/{basic,modeset-like} for every tree of scripts/ktrees.sh.
#   5. Bad input: make missing, make failing, kernel tree missing, no module built, a
#      module that fails verification (directly and through dkms), a package Makefile
#      that runs GNU strip 2.43.1 itself.
#
# Nothing is installed into the system: every dkms call uses a private
# --dkmstree/--sourcetree/--installtree under a temporary directory, dkms's signing key
# and sign-file are private too, and `dkms install` is never run. dkms itself is
# installed with apt when missing (scripts/lib.sh dk_ensure_packages). Kernel trees
# come from scripts/ktrees.sh (built on first use). GNU strip 2.43.1 comes from
# ../shared/tools/gnu-strip-2.43.1.xz; the steps that need it SKIP without it.
# E2E_KEEP=1 keeps the work directory.
set -uo pipefail
DK_SELF=e2e-dkms
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKG=dkwrap-modeset-like
PKGVER=1.0
MODNAME=modeset-like
PASSES=0 FAILS=0 SKIPS=0

pass() { printf 'PASS: %s\n' "$*"; PASSES=$((PASSES + 1)); }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
skip() { printf 'SKIP: %s\n' "$*"; SKIPS=$((SKIPS + 1)); }
info() { printf 'INFO: %s\n' "$*"; }
# check DESC CMD...: PASS when CMD succeeds
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# indent a file's content into the log
show() { sed 's/^/    | /' "$1"; }

# ---------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------
dk_ensure_packages
command -v dkms >/dev/null || dk_die "dkms is not installed"
DKMS_VERSION=$(dkms --version 2>/dev/null | head -n1)

if [ -z "${DKWRAP:-}" ]; then
    dk_log "building dkwrap (cargo build --release)"
    (cd "$DK_REPO" && cargo build --release --quiet) || dk_die "cargo build --release failed"
    DKWRAP=$DK_REPO/target/release/dkwrap
fi
[ -x "$DKWRAP" ] || dk_die "DKWRAP=$DKWRAP is not executable"
DKWRAP=$(readlink -f "$DKWRAP")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkwrap-e2e.XXXXXX")
cleanup() {
    if [ "${E2E_KEEP:-}" = 1 ] || [ "$FAILS" -gt 0 ]; then
        dk_log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

tree() { "$DK_REPO/scripts/ktrees.sh" --print "$1"; }
THIN=$(tree thinlto) || dk_die "no thinlto tree"
GCCT=$(tree gcc) || dk_die "no gcc tree"
KVER=$(cat "$THIN/include/config/kernel.release")
ARCH_DIR=$(uname -m)

# dkwrap on PATH (the dkms.conf files call it by name)
mkdir -p "$WORK/bin"
ln -s "$DKWRAP" "$WORK/bin/dkwrap"
# "clang/ld.lld made available": what users do after `make: clang: No such file`
mkdir -p "$WORK/llvm-alias"
ln -s "$(command -v clang-19)" "$WORK/llvm-alias/clang"
ln -s "$(command -v ld.lld-19)" "$WORK/llvm-alias/ld.lld"
# GNU strip 2.43.1 (exits 0 after corrupting ThinLTO modules)
GNU243=
if [ -f "$DK_REPO/../shared/tools/gnu-strip-2.43.1.xz" ]; then
    mkdir -p "$WORK/gnu-2.43.1"
    xz -dc "$DK_REPO/../shared/tools/gnu-strip-2.43.1.xz" >"$WORK/gnu-2.43.1/strip"
    chmod +x "$WORK/gnu-2.43.1/strip"
    GNU243=$WORK/gnu-2.43.1
else
    info "../shared/tools/gnu-strip-2.43.1.xz absent: the GNU strip 2.43.1 steps SKIP"
fi
# dkms signs with a private sign-file and key (dkms generates the key in $WORK);
# without a sign-file it signs nothing. Never /var/lib/dkms/mok.*.
export mok_signing_key=$WORK/mok.key mok_certificate=$WORK/mok.pub
if gcc -O2 -w -o "$WORK/sign-file" "$DK_CACHE/src/linux-source-6.1/scripts/sign-file.c" -lcrypto 2>/dev/null; then
    export sign_file=$WORK/sign-file
else
    export sign_file=$WORK/no-sign-file
    info "could not build scripts/sign-file (libssl-dev?): dkms will not sign"
fi

info "dkms: $DKMS_VERSION; dkwrap: $("$DKWRAP" --version); kernel $KVER"
info "GNU strip on PATH: $(strip --version | head -n1)"
[ -n "$GNU243" ] && info "GNU strip 2.43.1: $("$GNU243/strip" --version | head -n1)"

# A package source tree: testdata/dkms/modeset-like with links dereferenced and CONF
# as its dkms.conf.
# Files named in EXTRA_FILES (SRC:NAME) are added to the package.
EXTRA_FILES=()
make_source() { # DEST CONF
    rm -rf "$1"
    cp -rL "$DK_REPO/testdata/dkms/modeset-like" "$1"
    rm -f "$1/dkms.conf" "$1/dkms.conf.plain"
    cp "$2" "$1/dkms.conf"
    local f
    for f in "${EXTRA_FILES[@]}"; do cp "${f%%:*}" "$1/${f##*:}"; done
}

# run_dkms NAME SLOT TREE CONF [PATH_PREFIX] [DKMS_COMMAND]: `dkms add` + `dkms build`
# in the private dkms tree $WORK/dkms/SLOT, emptied first. Runs that are compared with
# the equivalence proof share a SLOT: the build directory's path ends up in the debug
# information, and under ThinLTO in the names of promoted symbols (.llvm.<module hash>),
# so only builds in the same directory can be equal minus debug information.
# Sets DKMS_RC, DKMS_OUT (dkms's output), MAKE_LOG and BUILT (the module dkms kept, or
# ""), all copied to $WORK/logs/NAME.* so the next run in the slot cannot change them.
run_dkms() {
    local name=$1 slot=$2 ktree=$3 conf=$4 pre=${5:-} dkms_cmd=${6:-dkms}
    local run=$WORK/dkms/$slot
    rm -rf "$run"
    mkdir -p "$run/tree" "$run/source" "$run/install" "$WORK/logs"
    make_source "$run/source/$PKG-$PKGVER" "$conf"
    local opts=(--dkmstree "$run/tree" --sourcetree "$run/source" --installtree "$run/install")
    DKMS_OUT=$WORK/logs/$name.dkms.out
    (
        export PATH="${pre:+$pre:}$WORK/bin:$PATH"
        $dkms_cmd add -m "$PKG" -v "$PKGVER" "${opts[@]}" >/dev/null &&
            $dkms_cmd build -m "$PKG" -v "$PKGVER" -k "$KVER" --kernelsourcedir "$ktree" "${opts[@]}"
    ) >"$DKMS_OUT" 2>&1
    DKMS_RC=$?
    local base=$run/tree/$PKG/$PKGVER log=$run/tree/$PKG/$PKGVER/$KVER/$ARCH_DIR/log/make.log
    [ -f "$log" ] || log=$base/build/make.log
    MAKE_LOG=$WORK/logs/$name.make.log
    cp "$log" "$MAKE_LOG" 2>/dev/null || : >"$MAKE_LOG"
    BUILT=
    if [ -f "$base/$KVER/$ARCH_DIR/module/$MODNAME.ko" ]; then
        BUILT=$WORK/logs/$name.ko
        cp "$base/$KVER/$ARCH_DIR/module/$MODNAME.ko" "$BUILT"
    fi
    info "[$name] dkms build exit status $DKMS_RC; dkms output:"
    show "$DKMS_OUT"
}

# A variant of a dkms.conf made with sed; fails the run if the edit did not apply.
conf_variant() { # SRC DEST SED-EXPR
    sed -e "$3" "$1" >"$2"
    cmp -s "$1" "$2" && dk_die "conf_variant: '$3' changed nothing in $1"
    return 0
}

verify_ok() { "$DKWRAP" verify "$@" >"$WORK/verify.out" 2>&1; }
# (grep -c reads all of its input: with grep -q, pipefail would see llvm-readelf's SIGPIPE)
has_debug_info() { [ "$(llvm-readelf-19 -S "$1" | grep -c '\.debug_info')" -gt 0 ]; }
no_debug_info() { ! has_debug_info "$1"; }
lacks() { [ "$(grep -Ec -- "$1" "$2")" -eq 0 ]; }

DKWRAP_CONF=$DK_REPO/testdata/dkms/modeset-like/dkms.conf
PLAIN_CONF=$DK_REPO/testdata/dkms/modeset-like/dkms.conf.plain
conf_variant "$DKWRAP_CONF" "$WORK/dkwrap-skip.conf" 's/--strategy auto/--strategy skip/'
cp "$PLAIN_CONF" "$WORK/plain-nostrip.conf" && echo 'STRIP[0]="no"' >>"$WORK/plain-nostrip.conf"

# ---------------------------------------------------------------------------
# 1. through dkwrap: ThinLTO and GCC trees
# ---------------------------------------------------------------------------
for t in thinlto gcc; do
    ktree=$THIN; [ "$t" = gcc ] && ktree=$GCCT
    run_dkms "dkwrap-$t-skip" "dkwrap-$t" "$ktree" "$WORK/dkwrap-skip.conf"
    ref=$WORK/ref-dkwrap-$t.ko
    if [ "$DKMS_RC" -eq 0 ] && [ -n "$BUILT" ]; then
        cp "$BUILT" "$ref"
        pass "[$t] unstripped reference built through dkms + dkwrap make --strategy skip"
    else
        fail "[$t] unstripped reference build (dkms exit $DKMS_RC)"; show "$MAKE_LOG"
        continue
    fi
    # With GNU strip 2.43.1 first on PATH: dkwrap must not be fooled by it.
    run_dkms "dkwrap-$t" "dkwrap-$t" "$ktree" "$DKWRAP_CONF" "$GNU243"
    if [ "$DKMS_RC" -ne 0 ] || [ -z "$BUILT" ]; then
        fail "[$t] dkms build through dkwrap (exit $DKMS_RC)"; show "$MAKE_LOG"
        continue
    fi
    pass "[$t] dkms build through dkwrap succeeded${GNU243:+ (GNU strip 2.43.1 first on PATH)}"
    info "[$t] make.log:"; show "$MAKE_LOG"
    check "[$t] dkms ran the build through dkwrap make" grep -q '^dkwrap make: running: make ' "$MAKE_LOG"
    if [ "$t" = thinlto ]; then
        check "[$t] dkms's CC=clang was rewritten to the installed clang 19" grep -q 'rewrote CC=clang to CC=.*clang-19' "$MAKE_LOG"
        check "[$t] dkms's LD=ld.lld was rewritten to the installed ld.lld 19" grep -q 'rewrote LD=ld.lld to LD=.*ld.lld-19' "$MAKE_LOG"
        check "[$t] LLVM=-19 was passed" grep -q '^dkwrap make: running: .* LLVM=-19' "$MAKE_LOG"
        check "[$t] the package's C++ core was compiled by clang++-19" grep -Eq '^[^ ]*clang\+\+-19 ' "$MAKE_LOG"
    else
        check "[$t] the GCC kernel's command was left alone" lacks 'LLVM=|rewrote' "$MAKE_LOG"
    fi
    check "[$t] built module passes dkwrap verify --kernel-dir" verify_ok --kernel-dir "$ktree" "$BUILT"
    [ -s "$WORK/verify.out" ] && show "$WORK/verify.out"
    check "[$t] built module passes the equivalence proof against the unstripped build" \
        verify_ok --against "$ref" "$BUILT"
    show "$WORK/verify.out"
    check "[$t] built module has no debug information left" no_debug_info "$BUILT"
    info "[$t] sizes: unstripped $(stat -c %s "$ref"), through dkwrap $(stat -c %s "$BUILT")"
done

# ---------------------------------------------------------------------------
# 2. the plain dkms.conf on the ThinLTO tree: what dkms does unprotected
# ---------------------------------------------------------------------------
run_dkms plain-as-installed plain "$THIN" "$PLAIN_CONF"
if [ "$DKMS_RC" -ne 0 ] && grep -Eq '(clang|ld\.lld): No such file or directory' "$MAKE_LOG"; then
    pass "[plain] as installed, dkms's appended CC=clang/LD=ld.lld fail: $(grep -Em1 '(clang|ld\.lld): No such file' "$MAKE_LOG")"
else
    fail "[plain] expected 'clang/ld.lld: No such file or directory' (dkms exit $DKMS_RC)"
fi
info "[plain-as-installed] make.log:"; show "$MAKE_LOG"

run_dkms plain-reference plain "$THIN" "$WORK/plain-nostrip.conf" "$WORK/llvm-alias"
REF_PLAIN=$WORK/ref-plain.ko
if [ "$DKMS_RC" -eq 0 ] && [ -n "$BUILT" ]; then
    cp "$BUILT" "$REF_PLAIN"
    pass "[plain] unstripped reference (clang/ld.lld available, STRIP[0]=no)"
else
    fail "[plain] unstripped reference build (dkms exit $DKMS_RC)"; REF_PLAIN=
fi

run_dkms plain-gnu-2.40 plain "$THIN" "$PLAIN_CONF" "$WORK/llvm-alias"
if [ "$DKMS_RC" -eq 0 ] && [ -n "$BUILT" ]; then
    pass "[plain] with binutils $(strip --version | head -n1 | awk '{print $NF}') strip: dkms reports success (exit 0)"
    check "[plain] ... after strip printed 'file format not recognized'" grep -q 'strip: .*: file format not recognized' "$DKMS_OUT"
    check "[plain] ... and kept the module unstripped (debug information still there)" has_debug_info "$BUILT"
    if [ -n "$REF_PLAIN" ]; then
        check "[plain] ... byte for byte the unstripped build (signed the same way)" cmp -s "$REF_PLAIN" "$BUILT"
    fi
else
    info "[plain-gnu-2.40] dkms exit status $DKMS_RC"
fi

if [ -n "$GNU243" ]; then
    run_dkms plain-gnu-2.43.1 plain "$THIN" "$PLAIN_CONF" "$GNU243:$WORK/llvm-alias"
    if [ "$DKMS_RC" -eq 0 ] && [ -n "$BUILT" ]; then
        pass "[plain] with GNU strip 2.43.1 first on PATH: dkms reports success (exit 0)"
        check "[plain] ... after strip printed 'invalid entry ... in group'" grep -q 'invalid entry (0x[0-9a-f]*) in group' "$DKMS_OUT"
        check "[plain] ... and 'BFD (GNU Binutils) 2.43.1 assertion fail'" grep -q 'BFD (GNU Binutils) 2.43.1 assertion fail' "$DKMS_OUT"
        if [ -n "$REF_PLAIN" ]; then
            if verify_ok --against "$REF_PLAIN" "$BUILT"; then r=0; else r=$?; fi
            info "[plain-gnu-2.43.1] dkwrap verify --against the unstripped build: exit $r"; show "$WORK/verify.out"
            if [ "$r" -ne 0 ]; then
                pass "[plain] the module dkms signed and kept FAILS the equivalence proof (exit $r): the failure dkwrap prevents"
            else
                fail "[plain] expected the GNU-strip-2.43.1 module to fail the equivalence proof"
            fi
        fi
    else
        fail "[plain] with GNU strip 2.43.1: expected dkms to report success (exit $DKMS_RC)"
    fi
else
    skip "[plain] GNU strip 2.43.1 run (no ../shared)"
fi

# ---------------------------------------------------------------------------
# 3. strip shim: dkms's own `strip -g` is dkwrap
# ---------------------------------------------------------------------------
"$DK_REPO/dkms-conf/strip-shim/install.sh" --dkwrap "$DKWRAP" --real-dkms "$(command -v dkms)" \
    --shim-dir "$WORK/shim" --wrapper "$WORK/sbin/dkms" >/dev/null
if [ -n "$GNU243" ] && [ -n "$REF_PLAIN" ]; then
    run_dkms shim-wrapper plain "$THIN" "$PLAIN_CONF" "$GNU243:$WORK/llvm-alias" "$WORK/sbin/dkms"
    if [ "$DKMS_RC" -eq 0 ] && [ -n "$BUILT" ]; then
        pass "[shim] plain dkms.conf through the dkms wrapper: dkms reports success"
        check "[shim] strip printed no BFD assertion" lacks 'assertion fail' "$DKMS_OUT"
        check "[shim] the module passes the equivalence proof (strip -g was dkwrap)" verify_ok --against "$REF_PLAIN" "$BUILT"
        check "[shim] and has no debug information left" no_debug_info "$BUILT"
    else
        fail "[shim] dkms build through the wrapper (exit $DKMS_RC)"; show "$MAKE_LOG"
    fi
    # framework.conf fragment, in a private mount namespace (the real /etc is untouched)
    mkdir -p "$WORK/etc-dkms/framework.conf.d"
    cp /etc/dkms/framework.conf "$WORK/etc-dkms/" 2>/dev/null || true
    sed -e "s|@SHIM_DIR@|$WORK/shim|g" "$DK_REPO/dkms-conf/strip-shim/framework.conf" \
        >"$WORK/etc-dkms/framework.conf.d/dkwrap-strip.conf"
    cat >"$WORK/dkms-ns" <<EOF
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount --bind "$WORK/etc-dkms" /etc/dkms && exec dkms "\$@"' dkms "\$@"
EOF
    chmod +x "$WORK/dkms-ns"
    if unshare -m --propagation private true 2>/dev/null; then
        run_dkms shim-framework-conf plain "$THIN" "$PLAIN_CONF" "$GNU243:$WORK/llvm-alias" "$WORK/dkms-ns"
        if grep -q 'assertion fail' "$DKMS_OUT"; then
            pass "[shim] framework.conf's PATH is ignored by $DKMS_VERSION (GNU strip still ran), as dkms-conf/README.md says"
        else
            info "[shim] framework.conf's PATH took effect on $DKMS_VERSION: update dkms-conf/README.md"
        fi
    else
        skip "[shim] framework.conf measurement (unshare -m not permitted)"
    fi
else
    skip "[shim] needs GNU strip 2.43.1 and the plain reference build"
fi

# ---------------------------------------------------------------------------
# 4. dkwrap make directly on the fixture sources, every tree
# ---------------------------------------------------------------------------
fresh() { rm -rf "$2"; mkdir -p "$(dirname "$2")"; cp -r "$DK_REPO/testdata/src/$1" "$2"; } # SRC DIR
for t in thinlto clang-nolto gcc arm64-thinlto; do
    ktree=$(tree "$t") || { fail "[direct $t] no tree"; continue; }
    for src in basic modeset-like; do
        d=$WORK/direct/$t/$src
        fresh "$src" "$d"
        if ! "$DKWRAP" make --strategy skip -- make -C "$ktree" M="$d" modules >"$WORK/direct.out" 2>&1; then
            fail "[direct $t $src] unstripped build"; show "$WORK/direct.out"; continue
        fi
        cp "$d/$src.ko" "$WORK/direct-ref.ko"
        fresh "$src" "$d"
        if "$DKWRAP" make -- make -C "$ktree" M="$d" modules >"$WORK/direct.out" 2>&1; then
            pass "[direct $t $src] dkwrap make -- make -C <tree> M=<dir> modules"
        else
            fail "[direct $t $src] dkwrap make (exit $?)"; show "$WORK/direct.out"; continue
        fi
        grep '^dkwrap make: ' "$WORK/direct.out" | sed 's/^/    | /'
        check "[direct $t $src] module passes dkwrap verify --kernel-dir" verify_ok --kernel-dir "$ktree" "$d/$src.ko"
        check "[direct $t $src] module passes the equivalence proof" verify_ok --against "$WORK/direct-ref.ko" "$d/$src.ko"
    done
done

# ---------------------------------------------------------------------------
# 5. bad input
# ---------------------------------------------------------------------------
expect_rc() { # WANT DESC OUTFILE PATTERN CMD...
    local want=$1 desc=$2 out=$3 pat=$4; shift 4
    "$@" >"$out" 2>&1
    local rc=$?
    if [ "$rc" -eq "$want" ] && grep -Eq -- "$pat" "$out"; then
        pass "$desc (exit $rc)"
    else
        fail "$desc: wanted exit $want and /$pat/, got exit $rc"; show "$out"
    fi
}
B=$WORK/bad
mkdir -p "$B"

# make missing: PATH holds the LLVM tools and dkwrap, no make
mkdir -p "$B/nomake-bin"
for tool in clang clang++ ld.lld llvm-ar llvm-nm llvm-objcopy llvm-objdump llvm-readelf llvm-strip; do
    ln -s "$(command -v "$tool-19")" "$B/nomake-bin/$tool-19"
done
cp -r "$DK_REPO/testdata/src/basic" "$B/basic"
expect_rc 10 "[bad] make missing" "$B/nomake.out" 'make not found' \
    env PATH="$B/nomake-bin" "$DKWRAP" make -- make -C "$THIN" M="$B/basic" modules

# make failing: a module calling a function nothing exports
mkdir -p "$B/undef"
printf '%s\n' '#include <linux/module.h>' 'extern void dkwrap_e2e_nowhere(void);' \
    'static int __init u_init(void) { dkwrap_e2e_nowhere(); return 0; }' 'module_init(u_init);' \
    'MODULE_LICENSE("GPL");' >"$B/undef/undef.c"
echo 'obj-m := undef.o' >"$B/undef/Kbuild"
expect_rc 2 "[bad] make failing: status passed through, modpost diagnosis printed" "$B/undef.out" \
    'diagnosis \[modpost-undefined\]' "$DKWRAP" make -- make -C "$THIN" M="$B/undef" modules
show "$B/undef.out"

# kernel tree missing
expect_rc 9 "[bad] --kernel-dir that does not exist" "$B/nokdir.out" 'does not exist' \
    "$DKWRAP" make --kernel-dir "$B/no-such-tree" -- make -C "$B/no-such-tree" M="$B/basic" modules
expect_rc 9 "[bad] KERNELDIR= that does not exist" "$B/nokdir2.out" 'from KERNELDIR=' \
    "$DKWRAP" make -- make KERNELDIR="$B/no-such-tree" modules

# no module produced: a Kbuild without obj-m
mkdir -p "$B/empty" && echo '# nothing' >"$B/empty/Kbuild"
expect_rc 12 "[bad] make succeeds but builds no module" "$B/empty.out" 'built no module' \
    "$DKWRAP" make -- make -C "$THIN" M="$B/empty" modules

# a module that fails verification, through dkms: the package truncates its module
cat >"$B/corrupt.mk" <<'EOF'
include Makefile
.PHONY: e2e-corrupt
e2e-corrupt: modules
	head -c 4096 kernel-open/modeset-like.ko >kernel-open/modeset-like.ko.tmp
	mv kernel-open/modeset-like.ko.tmp kernel-open/modeset-like.ko
EOF
conf_variant "$DKWRAP_CONF" "$B/corrupt.conf" "s/'make' /'make' -f Makefile.e2e-corrupt /; s/ modules\"/ e2e-corrupt\"/"
EXTRA_FILES=("$B/corrupt.mk:Makefile.e2e-corrupt")
run_dkms bad-corrupt bad-corrupt "$THIN" "$B/corrupt.conf"
EXTRA_FILES=()
if [ "$DKMS_RC" -ne 0 ] && grep -q 'Bad return status' "$DKMS_OUT" &&
   grep -q 'FAILED (module-rejected)' "$MAKE_LOG" && [ -z "$BUILT" ]; then
    pass "[bad] a module that fails verification: dkwrap exits 12, dkms reports 'Bad return status' and keeps nothing"
else
    fail "[bad] module failing verification through dkms"; show "$MAKE_LOG"
fi
grep -E '^dkwrap make: |^  error: ' "$MAKE_LOG" | sed 's/^/    | /'

# a package Makefile that runs GNU strip 2.43.1 itself: exit 0 from make is not trusted
if [ -n "$GNU243" ]; then
    make_source "$B/selfstrip" "$DKWRAP_CONF"
    cat >"$B/selfstrip/Makefile.e2e-strip" <<EOF
include Makefile
.PHONY: e2e-strip
e2e-strip: modules
	$GNU243/strip -g kernel-open/modeset-like.ko
EOF
    expect_rc 12 "[bad] package Makefile runs GNU strip 2.43.1 itself (make exits 0)" \
        "$B/selfstrip.out" 'diagnosis \[gnu-bfd-assertion\]' \
        "$DKWRAP" make --kernel-dir "$THIN" -- make -C "$B/selfstrip" -f Makefile.e2e-strip SYSSRC="$THIN" e2e-strip
    grep -E '^dkwrap make: ' "$B/selfstrip.out" | sed 's/^/    | /'
else
    skip "[bad] package Makefile running GNU strip 2.43.1 (no ../shared)"
fi

# ---------------------------------------------------------------------------
printf '\ne2e-dkms: %d passed, %d failed, %d skipped (%s, %s)\n' "$PASSES" "$FAILS" "$SKIPS" "$DKMS_VERSION" "$KVER"
[ "$FAILS" -eq 0 ]
