#!/usr/bin/env bash
# scripts/package.sh - builds the Debian, Arch and RPM packages of dkwrap from this checkout,
# then lints them.
#
# Usage: scripts/package.sh [--out DIR] [deb|arch|rpm]...   (default: all three, into
#                                                            target/package/out)
#
# 1. Installs what it needs with apt (debhelper, lintian, makepkg, pacman-package-manager,
#    libarchive-tools, rpm, rpmlint; skipped when present).
# 2. Checks that packaging/ names the version of Cargo.toml (debian/changelog, PKGBUILD, spec).
# 3. Stages the release binary, man pages and completions once (scripts/stage.sh: one
#    `cargo build --release --locked`, a no-op when target/release is fresh); every format
#    packages that one binary, and the script checks that all of them hold the same bytes.
# 4. Makes the source tarball dkwrap-VERSION.tar.gz with `git archive HEAD` (the PKGBUILD's
#    and the spec's Source; uncommitted changes are in the binary but not in it: a warning).
# 5. deb: dpkg-buildpackage -b with packaging/debian (dh, compat 13), then lintian.
#    arch: makepkg as the unprivileged user dkwrap-build (created when missing; makepkg refuses
#    root) in a directory under /tmp, then namcap if installed (bookworm has none).
#    rpm: rpmbuild -bb --nodeps (the build machine is Debian: no rpm database), then rpmlint.
# Lint findings of severity error (lintian E:, rpmlint E:) fail the script; everything the
# linters print is shown. Ends with a table: package, size, linter, result, time.
set -euo pipefail
DK_SELF=package
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DK_APT_PACKAGES=() # only what packaging needs, not the kernel-build set of lib.sh

OUT=$DK_REPO/target/package/out
FORMATS=()
while [ $# -gt 0 ]; do
    case $1 in
        --out) OUT=$2; shift 2 ;;
        deb|arch|rpm) FORMATS+=("$1"); shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) dk_die "unknown argument '$1' (--out DIR, deb, arch, rpm)" ;;
    esac
done
[ ${#FORMATS[@]} -gt 0 ] || FORMATS=(deb arch rpm)
wants() { local f; for f in "${FORMATS[@]}"; do [ "$f" = "$1" ] && return 0; done; return 1; }

T0=$(dk_now)
need=(git gzip zstd)
wants deb && need+=(dpkg-dev debhelper lintian)
wants arch && need+=(makepkg pacman-package-manager libarchive-tools fakeroot)
wants rpm && need+=(rpm rpmlint)
dk_ensure_packages "${need[@]}"

cd "$DK_REPO"
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$VERSION" ] || dk_die "no version in Cargo.toml"
check_version() { # FILE FOUND
    [ "$2" = "$VERSION" ] || dk_die "$1 says version '$2', Cargo.toml '$VERSION': update packaging/"
}
check_version packaging/debian/changelog "$(sed -n '1s/^dkwrap (\([^)-]*\).*/\1/p' packaging/debian/changelog)"
check_version packaging/arch/PKGBUILD "$(sed -n 's/^pkgver=//p' packaging/arch/PKGBUILD)"
check_version packaging/rpm/dkwrap.spec "$(sed -n 's/^Version: *//p' packaging/rpm/dkwrap.spec)"

# The release build runs in the environment of a plain `cargo build --release` (lib.sh's
# SOURCE_DATE_EPOCH=0 would make the C parts of zstd/liblzma rebuild), so that it reuses
# that build; build.rs finds the git revision itself. The archives get the commit's time.
COMMIT_EPOCH=$(git log -1 --format=%ct HEAD)
unset SOURCE_DATE_EPOCH
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
    dk_log "WARNING: uncommitted changes: the binary has them, the source tarball (HEAD) does not"

W=$DK_REPO/target/package
STAGE=$W/stage
TARBALL=$W/dkwrap-$VERSION.tar.gz
mkdir -p "$W" "$OUT"
dk_step stage scripts/stage.sh "$STAGE"
export SOURCE_DATE_EPOCH=$COMMIT_EPOCH
git archive --format=tar --prefix="dkwrap-$VERSION/" HEAD | gzip -n >"$TARBALL"

SUMMARY=()
LINT_ERRORS=0
# note FILE LINTER RESULT SECONDS
note() { SUMMARY+=("$(printf '%-44s %9s  %-8s %-40s %5ss' "$(basename "$1")" "$(stat -c %s "$1")" "$2" "$3" "$4")"); }

# lint_count LOG PATTERN: how many lines of LOG match PATTERN
lint_count() { grep -Ec "$2" "$1" || true; }

build_deb() {
    local t0 dir=$W/deb/dkwrap-$VERSION deb log
    t0=$(dk_now)
    rm -rf "$W/deb"
    mkdir -p "$dir"
    cp -r packaging/debian "$dir/debian"
    cp README.md "$dir/"
    (cd "$dir" && DKWRAP_STAGE=$STAGE dpkg-buildpackage -b -us -uc) >"$W/deb.log" 2>&1 ||
        { cat "$W/deb.log"; dk_die "dpkg-buildpackage failed"; }
    deb=$(ls "$W"/deb/dkwrap_"$VERSION"_*.deb)
    cp "$deb" "$OUT/"
    deb=$OUT/$(basename "$deb")
    BUILT+=("$deb")
    log=$W/lintian.log
    lintian --info --display-info --pedantic --tag-display-limit 0 "$deb" >"$log" 2>&1 || true
    sed 's/^/    lintian| /' "$log" >&2
    local e w i
    e=$(lint_count "$log" '^E: ') w=$(lint_count "$log" '^W: ') i=$(lint_count "$log" '^[IP]: ')
    LINT_ERRORS=$((LINT_ERRORS + e))
    note "$deb" lintian "$e errors, $w warnings, $i info/pedantic" "$(dk_elapsed "$t0")"
}

build_arch() {
    local t0 user=dkwrap-build dir pkg
    t0=$(dk_now)
    dir=$(mktemp -d /tmp/dkwrap-makepkg.XXXXXX)
    cp packaging/arch/PKGBUILD packaging/arch/dkwrap.install "$TARBALL" "$dir/"
    cp -r "$STAGE" "$dir/stage"
    local run=()
    if [ "$(id -u)" -eq 0 ]; then
        id "$user" >/dev/null 2>&1 ||
            useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
        chown -R "$user:" "$dir"
        run=(runuser -u "$user" --)
    fi
    (cd "$dir" && "${run[@]}" env DKWRAP_STAGE="$dir/stage" PKGEXT=.pkg.tar.zst \
        makepkg --nodeps --noconfirm --force) >"$W/makepkg.log" 2>&1 ||
        { cat "$W/makepkg.log"; rm -rf "$dir"; dk_die "makepkg failed"; }
    pkg=$(ls "$dir"/dkwrap-"$VERSION"-*.pkg.tar.zst)
    cp "$pkg" "$OUT/"
    rm -rf "$dir"
    pkg=$OUT/$(basename "$pkg")
    BUILT+=("$pkg")
    if command -v namcap >/dev/null; then
        namcap "$pkg" packaging/arch/PKGBUILD >"$W/namcap.log" 2>&1 || true
        sed 's/^/    namcap| /' "$W/namcap.log" >&2
        note "$pkg" namcap "$(wc -l <"$W/namcap.log") findings" "$(dk_elapsed "$t0")"
    else
        note "$pkg" - "namcap not installed (not in bookworm)" "$(dk_elapsed "$t0")"
    fi
}

build_rpm() {
    local t0 top=$W/rpm rpmfile log
    t0=$(dk_now)
    rm -rf "$top"
    mkdir -p "$top/SOURCES"
    cp "$TARBALL" "$top/SOURCES/"
    rpmbuild -bb --nodeps --define "_topdir $top" --define "dkwrap_stage $STAGE" \
        packaging/rpm/dkwrap.spec >"$W/rpmbuild.log" 2>&1 ||
        { cat "$W/rpmbuild.log"; dk_die "rpmbuild failed"; }
    rpmfile=$(ls "$top"/RPMS/*/dkwrap-"$VERSION"-*.rpm)
    cp "$rpmfile" "$OUT/"
    rpmfile=$OUT/$(basename "$rpmfile")
    BUILT+=("$rpmfile")
    log=$W/rpmlint.log
    rpmlint -c packaging/rpm/rpmlint.toml packaging/rpm/dkwrap.spec "$rpmfile" >"$log" 2>&1 || true
    sed 's/^/    rpmlint| /' "$log" >&2
    local e w
    e=$(lint_count "$log" ': E: ') w=$(lint_count "$log" ': W: ')
    LINT_ERRORS=$((LINT_ERRORS + e))
    note "$rpmfile" rpmlint "$e errors, $w warnings" "$(dk_elapsed "$t0")"
}

# The /usr/bin/dkwrap each package holds (on stdout).
packaged_binary() { # FILE
    case $1 in
        *.deb) dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./usr/bin/dkwrap ;;
        *.pkg.tar.zst) bsdtar -xOf "$1" usr/bin/dkwrap ;;
        *.rpm) rpm2cpio "$1" | (cd "$(mktemp -d "$W/cpio.XXXXXX")" && cpio -idm --quiet ./usr/bin/dkwrap && cat usr/bin/dkwrap) ;;
    esac
}

BUILT=()
for f in "${FORMATS[@]}"; do
    dk_step "$f" "build_$f"
done
staged_sum=$(sha256sum <"$STAGE/dkwrap" | cut -d' ' -f1)
for p in "${BUILT[@]}"; do
    sum=$(packaged_binary "$p" | sha256sum | cut -d' ' -f1)
    [ "$sum" = "$staged_sum" ] ||
        dk_die "$(basename "$p"): /usr/bin/dkwrap differs from the staged binary ($sum, staged $staged_sum)"
done
dk_log "all ${#BUILT[@]} packages hold the staged binary (sha256 ${staged_sum:0:16})"
rm -rf "$W"/cpio.*

{
    printf '%-44s %9s  %-8s %-40s %6s\n' package bytes linter result time
    printf '%s\n' "${SUMMARY[@]}"
    printf 'version: %s; total %ss; packages in %s\n' "$("$STAGE/dkwrap" --version)" "$(dk_elapsed "$T0")" "$OUT"
} >&2
[ "$LINT_ERRORS" -eq 0 ] || dk_die "$LINT_ERRORS lint errors (see above)"
