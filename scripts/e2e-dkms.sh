#!/usr/bin/env bash
# scripts/e2e-dkms.sh - real end-to-end test of dkwrap with real dkms: Debian's 3.0.10 and
# upstream 3.4.3 (built once per run from ../shared/tools/dkms-3.4.3.tar.gz).
#
# Usage: scripts/e2e-dkms.sh     DKWRAP=/path/to/dkwrap tests that binary (e.g. an installed
#                                /usr/bin/dkwrap) instead of a fresh `cargo build --release`
#                                (with dkwrap's package installed, the cells still run the
#                                real dkms, not the package's wrapper);
#                                E2E_SECTIONS="3 5" runs only those sections;
#                                E2E_MATRIX_TREES="thinlto gcc" narrows the matrix;
#                                E2E_KEEP=1 keeps the work directory.
# Run as root, as users run dkms (private mount namespaces need it).
#
# What it runs (every step prints PASS:/FAIL:/SKIP:/INFO: lines; exit 1 on any FAIL):
#   1. The dkms package testdata/dkms/modeset-like (an NVIDIA-shaped package: a C++
#      core built by its own Makefile with `?=` tool defaults, then Kbuild) with its
#      dkwrap dkms.conf (`dkwrap make` in MAKE[0]), on the ThinLTO and GCC trees; the
#      module must pass `dkwrap verify` and `--against` an unstripped build.
#   2. (merged into 3: the baselines without dkwrap.)
#   3. The zero-edit integration, as a matrix: `dkwrap dkms install-integration` (into
#      a prefix per dkms version; idempotence, status, remove-integration leaving
#      nothing, exit 14 on a file it did not write), then NVIDIA's own dkms.conf
#      (testdata/dkms/modeset-like/dkms.conf.nvidia: 'make' ... KERNEL_UNAME=${kernelver}
#      modules, no STRIP line) through `dkms add` + `dkms install`, for dkms {3.0.10,
#      3.4.3} x tree {thinlto, clang-nolto, gcc, arm64-thinlto} x PATH {debian: versioned
#      LLVM tools only, arch: unversioned clang/ld.lld/llvm-* links}, GNU strip 2.43.1
#      first on PATH in every cell; each with the integration and without it (the
#      baseline). Each installed module must pass `dkwrap verify --against` an unstripped
#      reference and scripts/elfcheck.py relocdiff, and the post-transaction check (dkms
#      3.4.3: the drop-in's post_transaction, its post_transaction.log; 3.0.10: the wrapper,
#      dkms's output) must have verified it. In the thinlto/debian cells two damaged modules
#      are then put into updates/ (an arm64 module; an unsigned copy of basic-thinlto.ko with
#      a __versions CRC flipped) and `dkms autoinstall`, `uninstall`, `install` run: the
#      check must name both (3.4.3 runs no post_transaction after autoinstall: shown).
#      One signing run (MOK pair generated
#      by dkms, the kernel's sign-file): `verify --cert`, and a module signed before it
#      was stripped must fail it. Prints the table at the end.
#      Each cell runs in a private mount namespace: /etc/dkms is the cell's (with or
#      without dkwrap's drop-in), /lib/modules holds only <release>/build -> the tree and
#      receives the installed module; the real /etc, /lib/modules and trees are untouched.
#   4. `dkwrap make -- make -C <tree> M=<dir> modules` on the fixture sources
#      testdata/src/{basic,modeset-like} for every tree of scripts/ktrees.sh.
#   5. Bad input: make missing, make failing, kernel tree missing, no module built, a
#      module that fails verification (directly and through dkms), a package Makefile
#      that runs GNU strip 2.43.1 itself.
#
# Nothing is installed into the system: dkms calls use private --dkmstree/--sourcetree
# (and, outside section 3, --installtree) under a temporary directory; dkms's signing key
# and sign-file are private too. dkms 3.0.10 is installed with apt when missing
# (scripts/lib.sh dk_ensure_packages); /lib/modules is created as an empty mount point
# when absent and removed again. Kernel trees come from scripts/ktrees.sh (built on first
# use). GNU strip 2.43.1 comes from ../shared/tools/gnu-strip-2.43.1.xz; the steps that
# need it SKIP without it.
set -uo pipefail
DK_SELF=e2e-dkms
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKG=dkwrap-modeset-like
PKGVER=1.0
MODNAME=modeset-like
PASSES=0 FAILS=0 SKIPS=0

# E2E_SECTIONS="3 5" runs only those sections (default: all).
want_section() { [[ " ${E2E_SECTIONS:-1 3 4 5} " == *" $1 "* ]]; }
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
# The real dkms: where dkwrap's Debian package is installed on dkms < 3.3, /usr/sbin/dkms is
# its wrapper and Debian's dkms is /usr/sbin/dkms.distrib (dpkg-divert). Every cell runs the
# real one (baselines must not go through an installed integration); in the private
# namespaces the real one is also bound over /usr/sbin/dkms (UNDIVERT), for what calls dkms
# by name (the kernel hook) or by that path.
DKMS_SYS=$(command -v dkms)
DKMS_REAL=$(dpkg-divert --truename "$DKMS_SYS" 2>/dev/null || echo "$DKMS_SYS")
UNDIVERT=()
if [ "$DKMS_REAL" != "$DKMS_SYS" ]; then
    UNDIVERT=("$DKMS_REAL" "$DKMS_SYS")
fi
DKMS_VERSION=$("$DKMS_REAL" --version 2>/dev/null | head -n1)

if [ -z "${DKWRAP:-}" ]; then
    dk_log "building dkwrap (cargo build --release)"
    (cd "$DK_REPO" && cargo build --release --quiet) || dk_die "cargo build --release failed"
    DKWRAP=$DK_REPO/target/release/dkwrap
fi
[ -x "$DKWRAP" ] || dk_die "DKWRAP=$DKWRAP is not executable"
DKWRAP=$(readlink -f "$DKWRAP")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkwrap-e2e.XXXXXX")
mkdir -p "$WORK/logs"
cleanup() {
    if [ "${E2E_KEEP:-}" = 1 ] || [ "$FAILS" -gt 0 ]; then
        dk_log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    [ "${CREATED_LIB_MODULES:-}" = 1 ] && rmdir /lib/modules 2>/dev/null
    return 0
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

info "dkms: $DKMS_VERSION ($DKMS_REAL${UNDIVERT:+; $DKMS_SYS is diverted: the wrapper of an installed dkwrap package}); dkwrap: $DKWRAP, $("$DKWRAP" --version); kernel $KVER"
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
    local name=$1 slot=$2 ktree=$3 conf=$4 pre=${5:-} dkms_cmd=${6:-$DKMS_REAL}
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
lacks() { [ "$(grep -Ec -- "$1" "$2")" -eq 0 ]; }

DKWRAP_CONF=$DK_REPO/testdata/dkms/modeset-like/dkms.conf
conf_variant "$DKWRAP_CONF" "$WORK/dkwrap-skip.conf" 's/--strategy auto/--strategy skip/'

# ---------------------------------------------------------------------------
# 1. through dkwrap: ThinLTO and GCC trees
# ---------------------------------------------------------------------------
if want_section 1; then
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

fi # section 1
# ---------------------------------------------------------------------------
# 3. the zero-edit integration (dkwrap dkms install-integration), as a matrix:
if want_section 3; then
#    dkms {3.0.10, 3.4.3} x tree {thinlto, clang-nolto, gcc} x PATH {debian, arch},
#    NVIDIA's own dkms.conf (testdata/dkms/modeset-like/dkms.conf.nvidia), each cell
#    with dkwrap's integration and without it (the baseline)
# ---------------------------------------------------------------------------
NVIDIA_CONF=$DK_REPO/testdata/dkms/modeset-like/dkms.conf.nvidia
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
read -ra MATRIX_TREES <<<"${E2E_MATRIX_TREES:-thinlto clang-nolto gcc arm64-thinlto}"
TABLE=()
# Arch's PATH shape: unversioned LLVM tools (Debian has only clang-19, ld.lld-19, ...).
mkdir -p "$WORK/arch-bin"
for tool in clang clang++ ld.lld llvm-strip llvm-ar llvm-nm llvm-objcopy llvm-objdump llvm-readelf; do
    ln -s "$(command -v "$tool-19")" "$WORK/arch-bin/$tool"
done

# dkms 3.4.3, built once per run from ../shared/tools with its own `make install` into
# a DESTDIR (Debian's /usr/sbin/dkms and /etc/dkms stay as they are).
DKMS_BINS=("3.0.10:$DKMS_REAL")
cp -a /etc/dkms "$WORK/etc-3.0.10"
D343_TAR=$DK_REPO/../shared/tools/dkms-3.4.3.tar.gz
if [ -f "$D343_TAR" ]; then
    mkdir -p "$WORK/dkms-3.4.3-src"
    tar -xzf "$D343_TAR" -C "$WORK/dkms-3.4.3-src"
    if make -C "$WORK/dkms-3.4.3-src/dkms-3.4.3" install DESTDIR="$WORK/dkms-3.4.3" >"$WORK/logs/dkms-3.4.3.install.log" 2>&1; then
        DKMS_BINS+=("3.4.3:$WORK/dkms-3.4.3/usr/sbin/dkms")
        cp -a "$WORK/dkms-3.4.3/etc/dkms" "$WORK/etc-3.4.3"
        pass "[matrix] upstream dkms built and installed into a DESTDIR: $("$WORK/dkms-3.4.3/usr/sbin/dkms" --version)"
    else
        fail "[matrix] dkms 3.4.3: make install failed"; show "$WORK/logs/dkms-3.4.3.install.log"
    fi
else
    skip "[matrix] ../shared/tools/dkms-3.4.3.tar.gz absent: dkms 3.4.3 cells skipped"
fi

# The integration, into a prefix per dkms version (a copy of that dkms's /etc/dkms under
# it). The cells bind the prefix's etc/dkms over /etc/dkms in a private mount namespace.
tree_listing() { (cd "$1" && find . -printf '%p %y %l %m\n' | sort && find . -type f -exec sha256sum {} + | sort); }
for entry in "${DKMS_BINS[@]}"; do
    v=${entry%%:*} bin=${entry#*:} P=$WORK/integ-$v
    mkdir -p "$P/etc" && cp -a "$WORK/etc-$v" "$P/etc/dkms"
    tree_listing "$P" >"$WORK/integ-$v.before"
    if "$DKWRAP" dkms install-integration --prefix "$P" --dkms "$bin" >"$WORK/logs/integ-$v.out" 2>&1; then
        pass "[integration $v] install-integration: $(tail -n1 "$WORK/logs/integ-$v.out")"
    else
        fail "[integration $v] install-integration (exit $?)"; show "$WORK/logs/integ-$v.out"; continue
    fi
    show "$WORK/logs/integ-$v.out"
    tree_listing "$P" >"$WORK/integ-$v.after"
    "$DKWRAP" dkms install-integration --prefix "$P" --dkms "$bin" >"$WORK/logs/integ-$v.again" 2>&1
    tree_listing "$P" >"$WORK/integ-$v.again.listing"
    check "[integration $v] a second install changes nothing (same files, links, modes, hashes)" \
        cmp -s "$WORK/integ-$v.after" "$WORK/integ-$v.again.listing"
    check "[integration $v] ... and says so" grep -q 'already installed' "$WORK/logs/integ-$v.again"
    check "[integration $v] status: active" "$DKWRAP" dkms status --prefix "$P" --dkms "$bin"
done

# in_ns SRC DEST [SRC DEST ...] -- CMD...: CMD in a private mount namespace with each SRC
# bound over DEST (the real /etc/dkms, /lib/modules and kernel trees are not touched).
in_ns() {
    unshare -m --propagation private bash -c '
        while [ "$1" != -- ]; do
            case $1 in
                overlay:*) mount -t overlay overlay -o "lowerdir=$2,upperdir=${1#overlay:}/u,workdir=${1#overlay:}/w" "$2" ;;
                *) mount --bind "$1" "$2" ;;
            esac || exit 97
            shift 2
        done
        shift; exec "$@"' in_ns "$@"
}
# Debian's PATH shape: versioned LLVM tools only. Unversioned ones this machine has in
# /usr/bin (the `clang`/`lld` packages: clang 14 on Debian 12) are hidden from the cell by
# an overlay with whiteouts.
DEB_OV=$WORK/debian-usr-bin
mkdir -p "$DEB_OV/u" "$DEB_OV/w"
for f in /usr/bin/clang /usr/bin/clang++ /usr/bin/clang-cpp /usr/bin/ld.lld /usr/bin/lld /usr/bin/llvm-*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    [[ ${f##*/} =~ -[0-9]+$ ]] && continue
    mknod "$DEB_OV/u/${f##*/}" c 0 0
done
if ! in_ns "overlay:$DEB_OV" /usr/bin -- sh -c '! command -v clang >/dev/null' 2>/dev/null; then
    info "overlayfs unavailable or not hiding: the debian PATH shape is this machine's /usr/bin as is"
    DEB_OV=
fi
if [ -n "$DEB_OV" ]; then rm -rf "$DEB_OV/w"; mkdir -p "$DEB_OV/w"; fi
[ -d /lib/modules ] || { mkdir -p /lib/modules && CREATED_LIB_MODULES=1; }

# matrix_cell ID DKMS_VERSION TREE SHAPE WITH [sign]: `dkms add` + `dkms install` of the
# package with CELL_CONF (default NVIDIA's) in a private namespace where /etc/dkms is the
# cell's (WITH=dkwrap: with dkwrap's integration; baseline: without; ref: the dkwrap
# dkms.conf with --strategy skip) and /lib/modules holds only <release>/build -> the tree
# (NVIDIA's Makefile finds the kernel there; dkms installs there). Every cell of a tree
# shares one dkms tree path (see run_dkms). Sets CELL_RC, CELL_OUT, CELL_LOG, CELL_KO.
matrix_cell() {
    local id=$1 v=$2 t=$3 shape=$4 with=$5 sign=${6:-}
    local ktree; ktree=$(tree "$t")
    local slot=$WORK/m/$t
    rm -rf "$slot"
    mkdir -p "$slot/tree" "$slot/source" "$slot/lib-modules/$KVER"
    ln -s "$ktree" "$slot/lib-modules/$KVER/build"
    make_source "$slot/source/$PKG-$PKGVER" "${CELL_CONF:-$NVIDIA_CONF}"
    local path=$SYS_PATH etc=$WORK/etc-$v dkms_cmd
    [ "$shape" = arch ] && path=$WORK/arch-bin:$path
    [ -n "$GNU243" ] && path=$GNU243:$path
    dkms_cmd=$(for e in "${DKMS_BINS[@]}"; do [ "${e%%:*}" = "$v" ] && echo "${e#*:}"; done)
    case $with in
        dkwrap)
            etc=$WORK/integ-$v/etc/dkms
            # dkms < 3.3: the wrapper, found by name as root's PATH finds it
            if [ -x "$WORK/integ-$v/usr/local/sbin/dkms" ]; then
                path=$WORK/integ-$v/usr/local/sbin:$path dkms_cmd=dkms
            fi ;;
        ref) path=$WORK/bin:$path ;;
    esac
    local binds=("$etc" /etc/dkms "$slot/lib-modules" /lib/modules "${UNDIVERT[@]}")
    [ "$shape" = debian ] && [ -n "$DEB_OV" ] && binds+=("overlay:$DEB_OV" /usr/bin)
    [ -n "$sign" ] && binds+=("$WORK/sign-$t.auto.conf" "$ktree/include/config/auto.conf"
        "$WORK/sign-$t.config" "$ktree/.config")
    local opts=(-m "$PKG" -v "$PKGVER" --dkmstree "$slot/tree" --sourcetree "$slot/source")
    CELL_OUT=$WORK/logs/$id.dkms.out
    local t0; t0=$(dk_now)
    # The first post_transaction.log (dkms >= 3.3) is kept before CELL_THEN's transactions.
    CELL_PT_LOG=$WORK/logs/$id.post_transaction.log
    rm -f "$CELL_PT_LOG"
    in_ns "${binds[@]}" -- env PATH="$path" try_sign_modules=true \
        PT_LOG="$slot/tree/post_transaction.log" PT_COPY="$CELL_PT_LOG" CELL_THEN="${CELL_THEN:-}" bash -c \
        '"$1" add "${@:3}" >/dev/null && "$1" install -k "$2" "${@:3}"; rc=$?
         cp "$PT_LOG" "$PT_COPY" 2>/dev/null
         [ -z "$CELL_THEN" ] || bash "$CELL_THEN" "$@"
         exit $rc' cell "$dkms_cmd" "$KVER" "${opts[@]}" \
        >"$CELL_OUT" 2>&1
    CELL_RC=$?
    CELL_LOG=$WORK/logs/$id.make.log
    local log=$slot/tree/$PKG/$PKGVER/$KVER/$ARCH_DIR/log/make.log
    [ -f "$log" ] || log=$slot/tree/$PKG/$PKGVER/build/make.log
    cp "$log" "$CELL_LOG" 2>/dev/null || : >"$CELL_LOG"
    CELL_KO=
    local ko; ko=$(find "$slot/lib-modules/$KVER" -name "$MODNAME.ko*" -type f | head -n1)
    if [ -n "$ko" ]; then CELL_KO=$WORK/logs/$id.ko; cp "$ko" "$CELL_KO"; fi
    info "[$id] dkms ($v, $t, $shape PATH, $with) exit $CELL_RC in $(dk_elapsed "$t0")s; installed: ${ko:-none}"
}

# What the post-transaction check said after the cell's install ("" when it passed): dkms
# >= 3.3 runs the drop-in's post_transaction and writes its output to post_transaction.log
# (its terminal shows "Executing post-transaction command... done."); dkms 3.0.10's wrapper
# runs the same check and its output is in dkms's own.
post_transaction_problem() { # V
    local log=$CELL_OUT
    if [ "$1" != 3.0.10 ]; then
        log=$CELL_PT_LOG
        [ -f "$log" ] || { echo "dkms ran no post_transaction"; return; }
        grep -Eq 'Executing post-transaction command\.* done\.' "$CELL_OUT" ||
            { echo "dkms did not report the post-transaction command done"; return; }
    fi
    grep -q "^dkwrap: post-transaction: verifying the out-of-tree modules installed for $KVER" "$log" ||
        { echo "no post-transaction check in the output"; return; }
    grep -Eq '^1 module: 1 OK, 0 FAILED' "$log" ||
        echo "post-transaction verify: $(grep -m1 -E 'FAILED|error' "$log")"
}

# The post-transaction check must report a module damaged after the install. damage-then.sh
# runs inside the thinlto/debian cell's namespace after its install (matrix_cell's
# CELL_THEN; arguments: DKMS KVER -m PKG -v VER --dkmstree T --sourcetree S): it puts two
# modules into /lib/modules/KVER/updates/, an arm64 one (testdata basic-arm64-thinlto.ko:
# a module for another kernel) and an unsigned copy of basic-thinlto.ko with one __versions
# CRC flipped (scripts/corpus_alter.py), then runs three transactions: `dkms autoinstall`
# (the module is installed already), `dkms uninstall`, `dkms install`, keeping each one's
# output (+ "exit N") and post_transaction.log (when dkms wrote one).
cat >"$WORK/damage-then.sh" <<EOF
set -u
dkms=\$1 kver=\$2; shift 2
pre=\${PT_COPY%.post_transaction.log}
upd=/lib/modules/\$kver/updates
mkdir -p "\$upd/dkms"
cp "$DK_REPO/testdata/modules/basic-arm64-thinlto.ko" "\$upd/basic-arm64.ko"
python3 "$DK_REPO/scripts/corpus_alter.py" crc "$DK_REPO/testdata/modules/basic-thinlto.ko" "\$upd/dkms/basic-crc.ko" >"\$pre.damage.txt"
transaction() { # NAME DKMS-ARGS...
    local name=\$1; shift
    rm -f "\$PT_LOG"
    "\$dkms" "\$@" >"\$pre.damage-\$name.out" 2>&1
    echo "exit \$?" >>"\$pre.damage-\$name.out"
    if [ -f "\$PT_LOG" ]; then cp "\$PT_LOG" "\$pre.damage-\$name.ptlog"; fi
}
transaction autoinstall autoinstall -k "\$kver" "\${@:5}"
transaction uninstall uninstall -k "\$kver" "\$@"
transaction install install -k "\$kver" "\$@"
EOF
# damage_report ID V: what the transactions of damage-then.sh showed.
damage_report() {
    local pre=$WORK/logs/$1 v=$2 n
    reports_both() {
        grep -Eq 'updates/basic-arm64\.ko: error: .*module is for aarch64' "$1" &&
            grep -Eq 'updates/dkms/basic-crc\.ko: error: .*disagrees about version of symbol' "$1"
    }
    info "[post-transaction $v] damaged after the install: $(cat "$pre.damage.txt")"
    if [ "$v" = 3.0.10 ]; then
        for n in autoinstall install; do
            if reports_both "$pre.damage-$n.out" && grep -q '^exit 0$' "$pre.damage-$n.out"; then
                pass "[post-transaction $v] after dkms $n the wrapper's check reports the arm64 module and the CRC-altered copy; dkms's exit status (0) is kept"
            else
                fail "[post-transaction $v] dkms $n through the wrapper: the damaged modules were not reported"
            fi
            grep -E '^dkwrap: post-transaction|FAILED|: error: |^dkms \(dkwrap' "$pre.damage-$n.out" | sed 's/^/    | /'
        done
        return
    fi
    if [ ! -f "$pre.damage-autoinstall.ptlog" ] && lacks 'post-transaction' "$pre.damage-autoinstall.out"; then
        pass "[post-transaction $v] dkms $v runs no post_transaction after autoinstall (installed_modules is local to autoinstall()), as the README says"
    else
        fail "[post-transaction $v] dkms $v ran post_transaction after autoinstall: the README's limitation is out of date"
    fi
    for n in uninstall install; do
        if [ -f "$pre.damage-$n.ptlog" ] && reports_both "$pre.damage-$n.ptlog" &&
           grep -q 'bad exit status: ' "$pre.damage-$n.out" && grep -q '^exit 0$' "$pre.damage-$n.out"; then
            pass "[post-transaction $v] after dkms $n, post_transaction reports the arm64 module and the CRC-altered copy (dkms: '$(grep -o 'bad exit status: [0-9]*' "$pre.damage-$n.out")', its own exit status 0)"
        else
            fail "[post-transaction $v] dkms $n: post_transaction did not report the damaged modules"; show "$pre.damage-$n.out"
        fi
        info "[post-transaction $v] dkms $n output:"; grep -v '^exit ' "$pre.damage-$n.out" | sed 's/^/    | /'
        info "[post-transaction $v] its post_transaction.log:"
        [ -f "$pre.damage-$n.ptlog" ] && show "$pre.damage-$n.ptlog"
    done
}

# Why a module is not acceptable ("" when it is): installed, no debug information left,
# proven equal to the reference minus debug information, relocations equal by meaning
# (scripts/elfcheck.py, llvm-readelf based, independent of dkwrap).
judge_module() { # KO REF
    [ -n "$1" ] || { echo "no module installed"; return; }
    if ! "$DKWRAP" verify --against "$2" "$1" >"$1.verify" 2>&1; then
        echo "proof FAILS ($(grep -c ': error: ' "$1.verify") differences; first: $(grep -m1 ': error: ' "$1.verify" | sed 's/^.*: error: //' | cut -c1-70))"
        return
    fi
    local rd; rd=$(python3 "$DK_REPO/scripts/elfcheck.py" relocdiff "$2" "$1" 2>&1)
    case $rd in *changed=0\ *) ;; *) echo "elfcheck relocdiff: $rd"; return ;; esac
    has_debug_info "$1" && { echo "debug information left"; return; }
    echo ""
}

# What the baseline did, in a few words.
baseline_outcome() {
    if [ "$CELL_RC" -ne 0 ] || [ -z "$CELL_KO" ]; then
        local why
        why=$(grep -m1 -E 'No such file|error:|unknown argument|unrecognized|not found' "$CELL_LOG" | sed 's/^ *//' | cut -c1-90)
        echo "build FAILS (dkms exit $CELL_RC): ${why:-see make.log}"
        return
    fi
    local notes="" j
    grep -q '^g++ ' "$CELL_LOG" && [ "$2" != gcc ] && notes="C++ core built by g++ (the package's CXX ?= g++); "
    grep -q 'assertion fail' "$CELL_OUT" && notes="${notes}strip printed 'BFD assertion fail' and exited 0; "
    grep -q 'file format not recognized' "$CELL_OUT" && notes="${notes}strip: file format not recognized; "
    j=$(judge_module "$CELL_KO" "$1")
    if [ -n "$j" ]; then echo "dkms exit 0, installed; ${notes}$j"
    else echo "dkms exit 0, installed; ${notes}module correct"; fi
}

for t in "${MATRIX_TREES[@]}"; do
    tree "$t" >/dev/null || { fail "[matrix $t] no tree"; continue; }
    # the unstripped reference: the same package built by dkwrap make --strategy skip
    CELL_CONF=$WORK/dkwrap-skip.conf matrix_cell "ref-$t" 3.0.10 "$t" debian ref
    REF=$WORK/ref-matrix-$t.ko
    if [ "$CELL_RC" -eq 0 ] && [ -n "$CELL_KO" ] && has_debug_info "$CELL_KO"; then
        cp "$CELL_KO" "$REF"
    else
        fail "[matrix $t] unstripped reference (exit $CELL_RC)"; show "$CELL_OUT"; show "$CELL_LOG"; continue
    fi
    for entry in "${DKMS_BINS[@]}"; do
        v=${entry%%:*}
        for shape in debian arch; do
            id=$v-$t-$shape
            damage=
            [ "$t" = thinlto ] && [ "$shape" = debian ] && damage=$WORK/damage-then.sh
            CELL_THEN=$damage matrix_cell "$id" "$v" "$t" "$shape" dkwrap
            why=$(judge_module "$CELL_KO" "$REF")
            pt=$(post_transaction_problem "$v")
            if [ -z "$pt" ]; then
                info "[matrix $id] post-transaction check after dkms install:"
                grep -h -A3 '^dkwrap: post-transaction' "$CELL_PT_LOG" "$CELL_OUT" 2>/dev/null | sed 's/^/    | /'
                after="verify OK"
            else
                after="FAIL"; why=${why:-$pt}
            fi
            if [ "$CELL_RC" -eq 0 ] && [ -z "$why" ] && grep -q '^dkwrap make: running: ' "$CELL_LOG" &&
               lacks 'assertion fail|invalid entry' "$CELL_OUT"; then
                how=$(grep -m1 -oE 'stripped \([^)]*\)' "$CELL_LOG" | sed -e 's|/usr/bin/||' -e "s|${GNU243:-/nonexistent}/strip|GNU strip 2.43.1|")
                with="OK: ${how:-stripped}, proven, elfcheck equal"
                pass "[matrix $id] NVIDIA's dkms.conf through dkwrap's integration: $with; post-transaction $after"
            else
                with="FAIL: ${why:-dkms exit $CELL_RC}"
                fail "[matrix $id] $with"; show "$CELL_OUT"; show "$CELL_LOG"
            fi
            if [ "$t" = thinlto ] && [ "$shape" = debian ]; then
                info "[matrix $id] make.log:"; show "$CELL_LOG"
            fi
            # dkms's own strip step (3.4.3: llvm-strip when $CC is exactly clang, else strip;
            # GNU strip 2.43.1 is first on PATH) reached dkwrap's shim: its one line is in
            # dkms's output.
            check "[matrix $id] dkms's strip step ran dkwrap's shim: $(grep -m1 -oE 'stripped with [^,]*, .*proven: OK' "$CELL_OUT")" \
                grep -Eq "^dkwrap: .*/$MODNAME\.ko: stripped .*proven: OK$" "$CELL_OUT"
            # What dkms appended for a clang kernel, rewritten to the tools of the kernel's
            # clang major where the unversioned names are missing (Debian), logged once.
            if [ "$t" != gcc ] && [ "$shape" = debian ]; then
                case $v in
                    3.0.10) rewrite='rewrote CC=clang to CC=.*clang-19' ;;
                    *) rewrite='rewrote LLVM=1 to LLVM=-19' ;;
                esac
                check "[matrix $id] make.log: '${rewrite%% to*}' (what dkms appended for a clang kernel) logged once" \
                    test "$(grep -c "^dkwrap make: $rewrite" "$CELL_LOG")" -eq 1
            fi
            matrix_cell "base-$id" "$v" "$t" "$shape" baseline
            base=$(baseline_outcome "$REF" "$t")
            info "[matrix base-$id] without dkwrap: $base"
            TABLE+=("$(printf '%-7s %-12s %-7s | %-58s | %-9s | %s' "$v" "$t" "$shape" "$with" "$after" "$base")")
            [ -n "$damage" ] && damage_report "$id" "$v"
        done
    done
done

# Debian's kernel hook with dkms 3.0.10 and the wrapper: the package is added the usual
# way (/usr/src/<pkg>-<ver>, /var/lib/dkms: private binds), then the kernel's postinst
# hook /etc/kernel/postinst.d/dkms runs dkms_autoinstaller, which runs `dkms autoinstall`
# by name: the wrapper (first in root's PATH) must be what it finds.
hook_cell() { # ID CONF WITH(dkwrap|ref)
    local id=$1 conf=$2 with=$3 ktree; ktree=$(tree thinlto)
    local h=$WORK/hook
    rm -rf "$h"; mkdir -p "$h/var-lib-dkms" "$h/usr-src" "$h/lib-modules/$KVER"
    ln -s "$ktree" "$h/lib-modules/$KVER/build"
    make_source "$h/usr-src/$PKG-$PKGVER" "$conf"
    local path=$SYS_PATH etc=$WORK/etc-3.0.10
    [ "$with" = dkwrap ] && path=$WORK/integ-3.0.10/usr/local/sbin:$path etc=$WORK/integ-3.0.10/etc/dkms
    [ "$with" = ref ] && path=$WORK/bin:$path
    [ -n "$GNU243" ] && path=$GNU243:$path
    CELL_OUT=$WORK/logs/$id.dkms.out
    in_ns "$etc" /etc/dkms "$h/lib-modules" /lib/modules "$h/var-lib-dkms" /var/lib/dkms \
        "$h/usr-src" /usr/src ${DEB_OV:+"overlay:$DEB_OV" /usr/bin} "${UNDIVERT[@]}" -- env PATH="$path" \
        sh -c 'dkms add -m "$1" -v "$2" >/dev/null && /etc/kernel/postinst.d/dkms "$3"' hook "$PKG" "$PKGVER" "$KVER" \
        >"$CELL_OUT" 2>&1
    CELL_RC=$?
    CELL_LOG=$WORK/logs/$id.make.log
    cp "$h/var-lib-dkms/$PKG/$PKGVER/$KVER/$ARCH_DIR/log/make.log" "$CELL_LOG" 2>/dev/null || : >"$CELL_LOG"
    CELL_KO=
    local ko; ko=$(find "$h/lib-modules/$KVER" -name "$MODNAME.ko*" -type f | head -n1)
    if [ -n "$ko" ]; then CELL_KO=$WORK/logs/$id.ko; cp "$ko" "$CELL_KO"; fi
    info "[$id] dkms add + kernel postinst hook exit $CELL_RC; installed: ${ko:-none}"
}
if [ -f "$WORK/integ-3.0.10/usr/local/sbin/dkms" ] && tree thinlto >/dev/null; then
    hook_cell hook-ref "$WORK/dkwrap-skip.conf" ref
    if [ -n "$CELL_KO" ] && has_debug_info "$CELL_KO"; then
        cp "$CELL_KO" "$WORK/ref-hook.ko"
        hook_cell hook-3.0.10 "$NVIDIA_CONF" dkwrap
        why=$(judge_module "$CELL_KO" "$WORK/ref-hook.ko")
        hook_after=FAIL
        [ -z "$(post_transaction_problem 3.0.10)" ] && hook_after="verify OK"
        check "[matrix hook] the wrapper verified what dkms autoinstall installed (post-transaction check)" test "$hook_after" = "verify OK"
        grep -A2 '^dkwrap: post-transaction' "$CELL_OUT" | sed 's/^/    | /'
        if [ -z "$why" ] && grep -q '^dkwrap make: running: ' "$CELL_LOG"; then
            pass "[matrix hook] Debian's kernel postinst hook (dkms_autoinstaller -> dkms autoinstall) went through the wrapper: module installed, proven, elfcheck equal"
            TABLE+=("$(printf '%-7s %-12s %-7s | %-58s | %-9s | %s' 3.0.10 thinlto debian "OK: stripped, proven, elfcheck equal" "$hook_after" "(kernel postinst hook: dkms autoinstall)")")
        else
            fail "[matrix hook] kernel postinst hook: ${why:-the build did not run through dkwrap make}"; show "$CELL_OUT"; show "$CELL_LOG"
        fi
    else
        fail "[matrix hook] unstripped reference through the hook"; show "$CELL_OUT"
    fi
fi

# One signing run: the ThinLTO tree seen with CONFIG_MODULE_SIG_HASH="sha512" (its
# auto.conf and .config bound over the real ones in the namespace), dkms 3.4.3 (else
# 3.0.10) with dkwrap's integration, a MOK pair dkms generates itself, the kernel's
# scripts/sign-file. dkms strips (dkwrap), then signs: the installed module must carry a
# signature that verifies with the MOK certificate over the stripped, proven bytes.
if [ -x "$sign_file" ] && [ -f "$WORK/ref-matrix-thinlto.ko" ]; then
    ktree=$(tree thinlto)
    for f in auto.conf:include/config/auto.conf config:.config; do
        { cat "$ktree/${f#*:}"; printf 'CONFIG_MODULE_SIG=y\nCONFIG_MODULE_SIG_HASH="sha512"\n'; } \
            >"$WORK/sign-thinlto.${f%%:*}"
    done
    sv=${DKMS_BINS[-1]%%:*}
    rm -f "$mok_signing_key" "$mok_certificate"
    matrix_cell "sign-$sv-thinlto" "$sv" thinlto debian dkwrap sign
    if [ "$CELL_RC" -eq 0 ] && [ -n "$CELL_KO" ] && grep -q 'Signing module' "$CELL_OUT"; then
        pass "[matrix sign $sv] dkms stripped through dkwrap and signed with the MOK pair it generated"
        check "[matrix sign] the module ends in a signature" \
            sh -c 'tail -c 28 "$1" | grep -q "~Module signature appended~"' sh "$CELL_KO"
        check "[matrix sign] dkwrap verify --cert: the signature is valid for the module's bytes" \
            verify_ok --cert "$mok_certificate" "$CELL_KO"
        show "$WORK/verify.out"
        check "[matrix sign] proven equal to the unstripped reference minus debug information" \
            verify_ok --against "$WORK/ref-matrix-thinlto.ko" "$CELL_KO"
        why=$(judge_module "$CELL_KO" "$WORK/ref-matrix-thinlto.ko")
        SIGN_ROW="$(printf '%-7s %-12s %-7s | %-58s | %-9s | %s' "$sv" thinlto debian "${why:-OK: stripped, proven, signed, verify --cert valid}" "$([ -z "$(post_transaction_problem "$sv")" ] && echo "verify OK" || echo FAIL)" "(signing run)")"
        TABLE+=("$SIGN_ROW")
        # A module signed BEFORE it was stripped (the signature of the unstripped bytes,
        # appended to the stripped ones): verify --cert must reject it.
        # (dkms 3.0.10 signed the reference with its own key: cut that signature off first)
        ref=$WORK/unsigned-ref.ko
        python3 -c 'import sys, struct
b = open(sys.argv[1], "rb").read(); m = b"~Module signature appended~\n"
if b.endswith(m):
    b = b[:-len(m) - 12 - struct.unpack(">I", b[-len(m) - 4:-len(m)])[0]]
open(sys.argv[2], "wb").write(b)' "$WORK/ref-matrix-thinlto.ko" "$ref"
        cp "$ref" "$WORK/signed-first.ko"
        "$sign_file" sha512 "$mok_signing_key" "$mok_certificate" "$WORK/signed-first.ko"
        "$DKWRAP" strip --strategy native -o "$WORK/stripped-after.ko" "$ref" >/dev/null 2>&1
        { cat "$WORK/stripped-after.ko"; tail -c +$(($(stat -c %s "$ref") + 1)) "$WORK/signed-first.ko"; } \
            >"$WORK/signed-then-stripped.ko"
        if verify_ok --cert "$mok_certificate" "$WORK/signed-then-stripped.ko"; then
            fail "[matrix sign] a module signed before it was stripped passed verify --cert"
        else
            pass "[matrix sign] a module signed before it was stripped fails verify --cert: $(grep -m1 -i 'signature' "$WORK/verify.out" | sed 's/^.*: error: //' | cut -c1-100)"
        fi
    else
        fail "[matrix sign $sv] signing run (dkms exit $CELL_RC)"; show "$CELL_OUT"
    fi
else
    skip "[matrix sign] no sign-file or no ThinLTO reference"
fi

# remove-integration leaves the prefix as it was; a file dkwrap did not write is never
# overwritten (exit 14, one line, nothing changed).
for entry in "${DKMS_BINS[@]}"; do
    v=${entry%%:*} bin=${entry#*:} P=$WORK/integ-$v
    [ -f "$WORK/integ-$v.before" ] || continue
    "$DKWRAP" dkms remove-integration --prefix "$P" >"$WORK/logs/integ-$v.remove" 2>&1
    tree_listing "$P" >"$WORK/integ-$v.removed"
    if cmp -s "$WORK/integ-$v.before" "$WORK/integ-$v.removed"; then
        pass "[integration $v] remove-integration leaves nothing of dkwrap behind"
    else
        fail "[integration $v] remove-integration left:"; diff "$WORK/integ-$v.before" "$WORK/integ-$v.removed" | sed 's/^/    | /'
    fi
    if [ "$v" = 3.0.10 ]; then user_file=$P/usr/local/sbin/dkms; else user_file=$P/etc/dkms/framework.conf.d/dkwrap.conf; fi
    mkdir -p "$(dirname "$user_file")" && echo '# the administrator'"'"'s own file' >"$user_file"
    tree_listing "$P" >"$WORK/integ-$v.user"
    expect_rc 14 "[integration $v] install-integration refuses to overwrite $(basename "$user_file") it did not write" \
        "$WORK/logs/integ-$v.refused" 'was not written by dkwrap' \
        "$DKWRAP" dkms install-integration --prefix "$P" --dkms "$bin"
    check "[integration $v] ... in one line" test "$(wc -l <"$WORK/logs/integ-$v.refused")" -eq 1
    tree_listing "$P" >"$WORK/integ-$v.user-after"
    check "[integration $v] ... and changes nothing" cmp -s "$WORK/integ-$v.user" "$WORK/integ-$v.user-after"
done
fi # section 3
# ---------------------------------------------------------------------------
# 4. dkwrap make directly on the fixture sources, every tree
# ---------------------------------------------------------------------------
if want_section 4; then
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

fi # section 4
# ---------------------------------------------------------------------------
# 5. bad input
# ---------------------------------------------------------------------------
if want_section 5; then
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
expect_rc 13 "[bad] make failing: its own exit code (13, make's status in the message), modpost diagnosis printed" "$B/undef.out" \
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

fi # section 5
# ---------------------------------------------------------------------------
if [ ${#TABLE[@]} -gt 0 ]; then
    printf '\nNVIDIA dkms.conf (unmodified), GNU strip 2.43.1 first on PATH:\n'
    printf '%-7s %-12s %-7s | %-58s | %-9s | %s\n' dkms tree PATH 'with dkwrap dkms install-integration' 'post-tx' 'baseline: without dkwrap'
    printf '%s\n' "${TABLE[@]}"
fi
printf '\ne2e-dkms: %d passed, %d failed, %d skipped (%s, %s)\n' "$PASSES" "$FAILS" "$SKIPS" "$DKMS_VERSION" "$KVER"
[ "$FAILS" -eq 0 ]
