#!/usr/bin/env bash
# scripts/e2e-package.sh - the Debian package end to end, installed into this machine
# (Debian bookworm, as root), the way a user installs it.
#
# Usage: scripts/e2e-package.sh [DEB]      (default: target/package/out/dkwrap_*.deb, built
#                                           with `scripts/package.sh deb` when missing)
#        E2E_PACKAGE_DKMS=1 scripts/e2e-package.sh   also runs step 4
#
#   0. Before: dkwrap must not be installed (a leftover one is purged first, with a note).
#      Records what dkms is (`command -v dkms`, `dkms --version`), which files under /etc,
#      /usr, /opt and /var/lib name dkwrap or mention it in /etc/dkms, and builds the plain
#      package testdata/dkms/modeset-like (no dkwrap) with dkms on the GCC tree.
#   1. `apt-get install ./dkwrap_*.deb`: the package is installed, `/usr/bin/dkwrap
#      --version` names the package's version and a git revision; `--reinstall` runs the
#      postinst (install-integration) a second time. Where the binary has
#      `dkwrap dkms install-integration`, the integration files must exist after install.
#   2. `man dkwrap` and `man dkwrap-strip` render, with the EXIT STATUS table.
#   3. bash completion, loaded the way bash-completion loads it (`_completion_loader`):
#      `complete -p dkwrap`, then what it offers after `dkwrap `, `dkwrap ver`,
#      `dkwrap strip --strategy `; zsh and fish files are where those shells look.
#   3b. The installed package at work, in a private mount namespace (private /var/lib/dkms
#      without a MOK pair, /usr/src, /lib/modules/<release>/build -> the ThinLTO tree; the
#      rest is this machine): NVIDIA's unmodified dkms.conf (dkms.conf.nvidia), `dkms add` +
#      `dkms install` by name from root's PATH, GNU strip 2.43.1 first on it. On Debian 12
#      that dkms is the package's wrapper in place of the diverted /usr/sbin/dkms, running
#      Debian's dkms 3.0.10 with /usr/bin/dkwrap's shim. dkms generates its MOK pair and signs
#      with Debian's sign-file (linux-kbuild-6.1, installed when missing). Checked: make.log
#      (dkwrap make, LLVM=-19, stripped and verified), the signature (`dkwrap verify --cert
#      /var/lib/dkms/mok.pub`), no debug information, `verify --against` an unstripped
#      reference built the same way with --strategy skip, scripts/elfcheck.py relocdiff, and
#      the post-transaction check's output after the install.
#   4. (E2E_PACKAGE_DKMS=1) `DKWRAP=/usr/bin/dkwrap scripts/e2e-dkms.sh` (E2E_SECTIONS and
#      E2E_MATRIX_TREES pass through): the whole dkms matrix with the installed binary. Its
#      cells run the real dkms (dpkg-divert --truename), so its baselines stay baselines.
#   5. `apt-get purge dkwrap`: no file of the package is left, no new file naming dkwrap
#      (dkms framework drop-ins, shim directories, a dkms wrapper), dkms is the same
#      program as before and builds the plain package into the same module bytes.
#
# Prints PASS:/FAIL:/SKIP:/INFO: lines and ends with "N passed, N failed"; exit 1 on any FAIL.
# E2E_KEEP=1 keeps the work directory.
set -uo pipefail
DK_SELF=e2e-package
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PASSES=0 FAILS=0 SKIPS=0
pass() { printf 'PASS: %s\n' "$*"; PASSES=$((PASSES + 1)); }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
skip() { printf 'SKIP: %s\n' "$*"; SKIPS=$((SKIPS + 1)); }
info() { printf 'INFO: %s\n' "$*"; }
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
show() { sed 's/^/    | /' "$1"; }

[ "$(id -u)" -eq 0 ] || dk_die "run as root: it installs and purges a package"
dk_ensure_packages man-db bash-completion

DEB=${1:-}
if [ -z "$DEB" ]; then
    newest_deb() { find "$DK_REPO/target/package/out" -name 'dkwrap_*.deb' 2>/dev/null | sort -V | tail -n1; }
    DEB=$(newest_deb)
    if [ -z "$DEB" ]; then
        "$DK_REPO/scripts/package.sh" deb || dk_die "scripts/package.sh deb failed"
        DEB=$(newest_deb)
    fi
fi
[ -f "$DEB" ] || dk_die "no package $DEB"
DEB=$(readlink -f "$DEB")
DEB_VERSION=$(dpkg-deb -f "$DEB" Version)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkwrap-e2e-package.XXXXXX")
cleanup() {
    if [ "${E2E_KEEP:-}" = 1 ] || [ "$FAILS" -gt 0 ]; then dk_log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
    # mount points this run created on the real system
    [ "${CREATED_LIB_MODULES:-}" = 1 ] && rmdir /lib/modules 2>/dev/null
    [ "${CREATED_VAR_LIB_DKMS:-}" = 1 ] && rmdir /var/lib/dkms 2>/dev/null
    return 0
}
trap cleanup EXIT
# apt-get, waiting up to 10 minutes for a dpkg lock another apt run holds.
apt_q() { DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600 "$@" >"$WORK/apt.out" 2>&1; }

# Files that name dkwrap, or mention it under /etc/dkms, outside this checkout.
dkwrap_traces() {
    {
        find /etc /usr /opt /var/lib -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt \
            -o -path "$DK_REPO" -o -path "$DK_CACHE" \) -prune -o -name '*dkwrap*' -print 2>/dev/null
        grep -rl dkwrap /etc/dkms /usr/local/sbin 2>/dev/null
    } | sort -u
}

# Kernel trees of scripts/ktrees.sh (built on first use).
tree_of() { # NAME -> its O= directory
    local dir; dir=$(ktree_dir "$1")
    [ -f "$dir/include/config/kernel.release" ] || ktree_ensure "$1" >/dev/null || dk_die "no $1 tree"
    echo "$dir"
}
GCCT=$(tree_of gcc)
KVER=$(cat "$GCCT/include/config/kernel.release")

# plain_dkms_build NAME TREE: dkms, called by name as a user would, builds the plain package
# testdata/dkms/modeset-like (its dkms.conf names no dkwrap) in a private dkms tree; the module
# is copied to $WORK/NAME.ko, make.log to $WORK/NAME.make.log. dkms signs nothing (no
# sign-file), so the bytes depend only on the sources, the tree and the tools. One directory
# for every build: its path ends up in the module's debug information.
plain_dkms_build() {
    local name=$1 ktree=$2 run=$WORK/dkms-plain pkg=dkwrap-modeset-like ver=1.0
    rm -rf "$run"
    mkdir -p "$run/tree" "$run/source" "$run/install"
    cp -rL "$DK_REPO/testdata/dkms/modeset-like" "$run/source/$pkg-$ver"
    mv "$run/source/$pkg-$ver/dkms.conf.plain" "$run/source/$pkg-$ver/dkms.conf"
    local opts=(--dkmstree "$run/tree" --sourcetree "$run/source" --installtree "$run/install")
    local rc=0
    (
        export sign_file=$WORK/no-sign-file mok_signing_key=$WORK/mok.key mok_certificate=$WORK/mok.pub
        dkms add -m "$pkg" -v "$ver" "${opts[@]}" &&
            dkms build -m "$pkg" -v "$ver" -k "$KVER" --kernelsourcedir "$ktree" "${opts[@]}"
    ) >"$WORK/$name.dkms.out" 2>&1 || rc=$?
    local base=$run/tree/$pkg/$ver
    cp "$base/$KVER/$(uname -m)/log/make.log" "$WORK/$name.make.log" 2>/dev/null ||
        cp "$base/build/make.log" "$WORK/$name.make.log" 2>/dev/null || : >"$WORK/$name.make.log"
    if [ "$rc" -ne 0 ] || ! cp "$base/$KVER/$(uname -m)/module/modeset-like.ko" "$WORK/$name.ko" 2>/dev/null; then
        show "$WORK/$name.dkms.out"
        return 1
    fi
}
# (grep -c reads all its input: with grep -q, pipefail would see llvm-readelf's SIGPIPE)
no_debug_info() { [ "$(llvm-readelf-19 -S "$1" | grep -c '\.debug_')" -eq 0 ]; }
module_sum() { sha256sum <"$WORK/$1.ko" | cut -d' ' -f1; }

# ---------------------------------------------------------------------------
# 0. before
# ---------------------------------------------------------------------------
if dpkg-query -W -f '${Status}' dkwrap 2>/dev/null | grep -q 'install ok'; then
    info "dkwrap is installed already: purging it first"
    apt_q purge dkwrap || { show "$WORK/apt.out"; dk_die "could not purge the installed dkwrap"; }
fi
DKMS_BEFORE=$(command -v dkms)
DKMS_VERSION_BEFORE=$(dkms --version 2>&1 | head -n1)
dkwrap_traces >"$WORK/traces.before"
info "package: $DEB ($DEB_VERSION); dkms: $DKMS_BEFORE, $DKMS_VERSION_BEFORE; kernel tree: $GCCT ($KVER)"
if plain_dkms_build before "$GCCT"; then
    pass "before: dkms builds the plain package on the GCC tree (module sha256 $(module_sum before | cut -c1-16))"
else
    fail "before: dkms builds the plain package on the GCC tree"
fi

# ---------------------------------------------------------------------------
# 1. install
# ---------------------------------------------------------------------------
if apt_q install "$DEB"; then
    pass "apt-get install $(basename "$DEB")"
else
    fail "apt-get install $(basename "$DEB")"; show "$WORK/apt.out"
    printf '%d passed, %d failed, %d skipped\n' "$PASSES" "$FAILS" "$SKIPS"
    exit 1
fi
grep -i 'dkwrap:' "$WORK/apt.out" | sed 's/^/INFO: maintainer script: /'
check "dpkg: dkwrap $DEB_VERSION installed" \
    test "$(dpkg-query -W -f '${Status} ${Version}' dkwrap 2>/dev/null)" = "install ok installed $DEB_VERSION"
dpkg -L dkwrap >"$WORK/files" 2>/dev/null
VERSION_LINE=$(/usr/bin/dkwrap --version 2>&1)
info "/usr/bin/dkwrap --version: $VERSION_LINE"
check "--version names the package version and a git revision" \
    grep -Eq "^dkwrap ${DEB_VERSION%%-*} \(git [0-9a-f]{7,}\)$" <<<"$VERSION_LINE"

# The dkms integration postinst enabled: new files that name dkwrap (or mention it in
# /etc/dkms, /usr/local/sbin) besides the package's own; step 5 checks they are gone again.
if /usr/bin/dkwrap dkms install-integration --help >/dev/null 2>&1; then
    dkwrap_traces | grep -vxF -f "$WORK/files" >"$WORK/traces.installed"
    INTEGRATION=$(comm -13 "$WORK/traces.before" "$WORK/traces.installed")
    check "postinst enabled the dkms integration ($(wc -l <<<"$INTEGRATION") files outside the package)" \
        test -n "$INTEGRATION"
    [ -z "$INTEGRATION" ] || sed 's/^/    | /' <<<"$INTEGRATION"
    /usr/bin/dkwrap dkms status 2>&1 | sed 's/^/INFO: dkwrap dkms status: /'
else
    skip "dkms integration files (this dkwrap has no 'dkms install-integration')"
fi

# Installing again runs postinst again: install-integration must be idempotent.
if apt_q install --reinstall "$DEB"; then
    pass "apt-get install --reinstall (postinst a second time)"
else
    fail "apt-get install --reinstall"; show "$WORK/apt.out"
fi

# ---------------------------------------------------------------------------
# 2. man pages
# ---------------------------------------------------------------------------
for page in dkwrap dkwrap-strip; do
    if MANWIDTH=100 man -P cat "$page" >"$WORK/man.$page" 2>"$WORK/man.err"; then
        check "man $page renders ($(man -w "$page"))" grep -q '^EXIT STATUS' "$WORK/man.$page"
    else
        fail "man $page"; show "$WORK/man.err"
    fi
done
check "man dkwrap-strip documents --strategy" grep -q -- '--strategy' "$WORK/man.dkwrap-strip"
check "man dkwrap-strip lists exit code 7" grep -Eq '^ +7 SIGNED_MODULE$' "$WORK/man.dkwrap-strip"

# ---------------------------------------------------------------------------
# 3. completions
# ---------------------------------------------------------------------------
# bash_offers WORDS...: what bash completion offers for `dkwrap WORDS` (the last word is the
# one being completed), in a bash that loads the installed script as bash-completion does.
bash_offers() {
    local line="dkwrap $*"
    bash -c '
        . /usr/share/bash-completion/bash_completion
        _completion_loader dkwrap
        read -r -a COMP_WORDS <<<"$1"
        [[ $1 == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$1 COMP_POINT=${#1}
        n=$COMP_CWORD
        $(complete -p dkwrap | sed -n "s/.*-F \([^ ]*\) .*/\1/p") dkwrap "${COMP_WORDS[n]}" "${COMP_WORDS[n-1]}"
        printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "
    ' bash "$line"
}
REGISTERED=$(bash -c '. /usr/share/bash-completion/bash_completion; _completion_loader dkwrap; complete -p dkwrap' 2>&1)
info "complete -p dkwrap: $REGISTERED"
check "bash-completion loads /usr/share/bash-completion/completions/dkwrap" \
    grep -q -- '-F _dkwrap .*dkwrap$' <<<"$REGISTERED"
OFFERS=$(bash_offers "")
info "dkwrap <TAB>: $OFFERS"
offers_all() { local w; for w in "$@"; do grep -qw -- "$w" <<<"$OFFERS" || return 1; done; }
check "bash completes the subcommands" offers_all detect strip verify make doctor completions
offers_none() { ! grep -qw -- "$1" <<<"$OFFERS"; }
check "bash does not offer the hidden man" offers_none man
check "bash completes 'dkwrap ver' to verify" test "$(bash_offers ver)" = "verify "
check "bash completes --strategy values" test "$(bash_offers strip --strategy "")" = "auto gnu llvm native skip "
check "zsh completion in vendor-completions" grep -q '^#compdef dkwrap' /usr/share/zsh/vendor-completions/_dkwrap
check "fish completion in vendor_completions.d" grep -q 'complete -c dkwrap' /usr/share/fish/vendor_completions.d/dkwrap.fish

# ---------------------------------------------------------------------------
# 3b. the installed package at work: NVIDIA's dkms.conf, stripped, proven, signed, checked
# ---------------------------------------------------------------------------
# A user's machine, in a private mount namespace: /var/lib/dkms (no MOK pair yet), /usr/src
# and /lib/modules (<release>/build -> the ThinLTO tree) are private directories of this run;
# everything else is this machine: /usr/bin/dkwrap and the integration the package's postinst
# installed (on dkms < 3.3 the diverted /usr/sbin/dkms, i.e. the wrapper), Debian's dkms, its
# /etc/dkms, Debian's sign-file (/usr/lib/linux-kbuild-6.1, what linux-headers depends on).
# GNU strip 2.43.1 (../shared/tools) first on PATH when present. Nothing is edited by hand:
# dkms is called by name from root's PATH with NVIDIA's unmodified dkms.conf.
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PKG=dkwrap-modeset-like PKGVER=1.0
pkg_ns() { # CMD...: in the private namespace, with root's PATH (GNU strip 2.43.1 first)
    unshare -m --propagation private bash -c '
        mount --bind "$1/var-lib-dkms" /var/lib/dkms && mount --bind "$1/usr-src" /usr/src &&
            mount --bind "$1/lib-modules" /lib/modules || exit 97
        PATH=$2; shift 2; exec "$@"' pkg_ns "$WORK/sys" "$PKG_PATH" "$@"
}
# pkg_source CONF: /usr/src/PKG-VER holding the package with CONF as its dkms.conf
pkg_source() {
    rm -rf "$WORK/sys/usr-src/$PKG-$PKGVER"
    cp -rL "$DK_REPO/testdata/dkms/modeset-like" "$WORK/sys/usr-src/$PKG-$PKGVER"
    rm -f "$WORK/sys/usr-src/$PKG-$PKGVER"/dkms.conf*
    cp "$1" "$WORK/sys/usr-src/$PKG-$PKGVER/dkms.conf"
}
if [ -n "${INTEGRATION:-}" ]; then
    T3B=$(dk_now)
    dk_ensure_packages linux-kbuild-6.1
    THIN=$(tree_of thinlto)
    TKVER=$(cat "$THIN/include/config/kernel.release")
    PKG_PATH=$SYS_PATH
    if [ -f "$DK_REPO/../shared/tools/gnu-strip-2.43.1.xz" ]; then
        mkdir -p "$WORK/gnu-2.43.1"
        xz -dc "$DK_REPO/../shared/tools/gnu-strip-2.43.1.xz" >"$WORK/gnu-2.43.1/strip"
        chmod +x "$WORK/gnu-2.43.1/strip"
        PKG_PATH=$WORK/gnu-2.43.1:$PKG_PATH
    fi
    mkdir -p "$WORK/sys/var-lib-dkms" "$WORK/sys/usr-src" "$WORK/sys/lib-modules/$TKVER"
    [ -d /lib/modules ] || { mkdir /lib/modules && CREATED_LIB_MODULES=1; }
    [ -d /var/lib/dkms ] || { mkdir -p /var/lib/dkms && CREATED_VAR_LIB_DKMS=1; }
    ln -s "$THIN" "$WORK/sys/lib-modules/$TKVER/build"
    info "dkms by name: $(PATH=$PKG_PATH command -v dkms) ($(dpkg-divert --list /usr/sbin/dkms || echo 'not diverted')); strip by name: $(PATH=$PKG_PATH command -v strip)"

    # The unstripped reference: the same package and build directory, built by `dkwrap make
    # --strategy skip` (STRIP no), not signed (no sign-file), then removed again.
    sed 's/--strategy auto/--strategy skip/' "$DK_REPO/testdata/dkms/modeset-like/dkms.conf" >"$WORK/ref.conf"
    pkg_source "$WORK/ref.conf"
    pkg_ns env sign_file=/nonexistent sh -c 'dkms add -m "$1" -v "$2" && dkms build -m "$1" -v "$2" -k "$3"' \
        ref "$PKG" "$PKGVER" "$TKVER" >"$WORK/ref.dkms.out" 2>&1
    if cp "$WORK/sys/var-lib-dkms/$PKG/$PKGVER/$TKVER/$(uname -m)/module/modeset-like.ko" "$WORK/ref.ko" 2>/dev/null &&
       ! no_debug_info "$WORK/ref.ko"; then
        pass "the unstripped reference: dkms build with dkwrap make --strategy skip"
    else
        fail "the unstripped reference"; show "$WORK/ref.dkms.out"
    fi
    pkg_ns dkms remove -m "$PKG" -v "$PKGVER" --all >/dev/null 2>&1
    rm -rf "${WORK:?}/sys/var-lib-dkms/"* "$WORK/sys/usr-src/$PKG-$PKGVER"

    # The user's commands, as a module package's postinst runs them.
    pkg_source "$DK_REPO/testdata/dkms/modeset-like/dkms.conf.nvidia"
    pkg_ns sh -c 'dkms add -m "$1" -v "$2" && dkms install -m "$1" -v "$2" -k "$3"' \
        user "$PKG" "$PKGVER" "$TKVER" >"$WORK/nvidia.dkms.out" 2>&1
    rc=$?
    info "dkms add + dkms install (NVIDIA's dkms.conf, ThinLTO tree $TKVER) exit $rc:"
    show "$WORK/nvidia.dkms.out"
    KO=$WORK/sys/lib-modules/$TKVER/updates/dkms/modeset-like.ko
    MAKELOG=$WORK/sys/var-lib-dkms/$PKG/$PKGVER/$TKVER/$(uname -m)/log/make.log
    check "dkms installed the module (exit 0, $KO)" test "$rc" -eq 0 -a -f "$KO"
    check "make.log: dkwrap make built it with the kernel's toolchain (LLVM=-19)" \
        grep -q '^dkwrap make: running: .* LLVM=-19' "$MAKELOG"
    check "make.log: dkwrap make stripped and verified the module" \
        grep -Eq '^dkwrap make: .*modeset-like\.ko: stripped .*, verified: OK$' "$MAKELOG"
    grep '^dkwrap make: ' "$MAKELOG" | sed 's/^/    | /'
    check "dkms generated its MOK pair (/var/lib/dkms/mok.key, mok.pub)" \
        test -s "$WORK/sys/var-lib-dkms/mok.key" -a -s "$WORK/sys/var-lib-dkms/mok.pub"
    check "dkms signed the module with Debian's sign-file" grep -q '^Signing module .*modeset-like.ko' "$WORK/nvidia.dkms.out"
    check "the module has no debug information left" no_debug_info "$KO"
    if pkg_ns /usr/bin/dkwrap verify --cert /var/lib/dkms/mok.pub "/lib/modules/$TKVER/updates/dkms/modeset-like.ko" >"$WORK/cert.out" 2>&1; then
        pass "dkwrap verify --cert /var/lib/dkms/mok.pub: the signature is valid for the installed bytes"
    else
        fail "dkwrap verify --cert of the installed module"
    fi
    show "$WORK/cert.out"
    if /usr/bin/dkwrap verify --against "$WORK/ref.ko" "$KO" >"$WORK/against.out" 2>&1; then
        pass "dkwrap verify --against the unstripped reference: equal minus debug information"
    else
        fail "dkwrap verify --against the unstripped reference"; show "$WORK/against.out"
    fi
    rd=$(python3 "$DK_REPO/scripts/elfcheck.py" relocdiff "$WORK/ref.ko" "$KO" 2>&1)
    check "scripts/elfcheck.py relocdiff (independent of dkwrap): $rd" grep -q 'changed=0 ' <<<"$rd"
    # After the transaction: the wrapper (dkms < 3.3) prints the check into dkms's output;
    # dkms >= 3.3 runs post_transaction and writes /var/lib/dkms/post_transaction.log.
    PTLOG=$WORK/nvidia.dkms.out
    [ -f "$WORK/sys/var-lib-dkms/post_transaction.log" ] && PTLOG=$WORK/sys/var-lib-dkms/post_transaction.log
    if grep -q "^dkwrap: post-transaction: verifying the out-of-tree modules installed for $TKVER" "$PTLOG" &&
       grep -q '^1 module: 1 OK, 0 FAILED' "$PTLOG"; then
        pass "after dkms install the post-transaction check verified what was installed ($(basename "$PTLOG"))"
    else
        fail "the post-transaction check after dkms install ($PTLOG)"
    fi
    pkg_ns dkms remove -m "$PKG" -v "$PKGVER" --all >"$WORK/remove.out" 2>&1 ||
        { fail "dkms remove"; show "$WORK/remove.out"; }
    info "3b took $(dk_elapsed "$T3B")s"
else
    skip "a dkms build through the installed integration (no integration installed)"
fi

# ---------------------------------------------------------------------------
# 4. dkms end to end against the installed package (switched on after the dkms merge)
# ---------------------------------------------------------------------------
if [ "${E2E_PACKAGE_DKMS:-0}" = 1 ]; then
    if DKWRAP=/usr/bin/dkwrap "$DK_REPO/scripts/e2e-dkms.sh" >"$WORK/e2e-dkms.out" 2>&1; then
        pass "scripts/e2e-dkms.sh with DKWRAP=/usr/bin/dkwrap ($(grep -c '^PASS' "$WORK/e2e-dkms.out") PASS)"
    else
        fail "scripts/e2e-dkms.sh with DKWRAP=/usr/bin/dkwrap"; grep -E '^(FAIL|SKIP)' "$WORK/e2e-dkms.out"
    fi
else
    skip "dkms end to end against /usr/bin/dkwrap (E2E_PACKAGE_DKMS=1 switches it on)"
fi

# ---------------------------------------------------------------------------
# 5. purge: nothing left, dkms as before
# ---------------------------------------------------------------------------
if apt_q purge dkwrap; then pass "apt-get purge dkwrap"; else fail "apt-get purge dkwrap"; show "$WORK/apt.out"; fi
grep -i 'dkwrap:' "$WORK/apt.out" | sed 's/^/INFO: maintainer script: /'
check "dpkg no longer knows dkwrap" test -z "$(dpkg-query -W -f '${Status}' dkwrap 2>/dev/null | grep -v not-installed)"
left=()
while read -r f; do
    [ -e "$f" ] && [ ! -d "$f" ] && left+=("$f")
done <"$WORK/files"
check "no file of the package is left (${#left[@]} of $(wc -l <"$WORK/files") paths)" test ${#left[@]} -eq 0
dkwrap_traces >"$WORK/traces.after"
NEW=$(comm -13 "$WORK/traces.before" "$WORK/traces.after")
check "no new file names or (in /etc/dkms, /usr/local/sbin) mentions dkwrap" test -z "$NEW"
[ -z "$NEW" ] || sed 's/^/    | /' <<<"$NEW"
check "dkms is the same program ($DKMS_BEFORE)" test "$(command -v dkms)" = "$DKMS_BEFORE"
check "dkms --version unchanged" test "$(dkms --version 2>&1 | head -n1)" = "$DKMS_VERSION_BEFORE"
check "dkms status runs" dkms status
if plain_dkms_build after "$GCCT"; then
    check "after: dkms builds the plain package into the same module bytes" \
        test "$(module_sum after)" = "$(module_sum before 2>/dev/null)"
else
    fail "after: dkms builds the plain package on the GCC tree"
fi

printf '%d passed, %d failed, %d skipped\n' "$PASSES" "$FAILS" "$SKIPS"
[ "$FAILS" -eq 0 ]
