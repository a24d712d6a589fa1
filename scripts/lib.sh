# shellcheck shell=bash
# scripts/lib.sh - helpers shared by scripts/ktrees.sh, scripts/fixtures.sh
# and scripts/huge.sh.  Source it; do not execute it.
#
#   . scripts/lib.sh
#   ktree_dir thinlto         -> prints the O= directory of a kernel tree
#   ktree_make_args thinlto   -> prints the make variables for that tree
#                                (ARCH=..., LLVM=-19, LOCALVERSION=)
#   ktree_ensure thinlto      -> runs scripts/ktrees.sh for that tree
#                                (no-op when it is already built)
#
# Environment:
#   DKWRAP_KTREES  cache directory (default: <repo>/target/ktrees)
#   DKWRAP_JOBS    make -j value  (default: $(nproc))

# shellcheck disable=SC2034  # used by the scripts that source this file
DK_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DK_CACHE=${DKWRAP_KTREES:-$DK_REPO/target/ktrees}
DK_JOBS=${DKWRAP_JOBS:-$(nproc)}
DK_LLVM=-19
DK_KSRC_TARBALL=/usr/src/linux-source-6.1.tar.xz
DK_KSRC=$DK_CACHE/src/linux-source-6.1
DK_TREES=(thinlto clang-nolto gcc arm64-thinlto)

# Reproducible build identity (kernel trees, modules, C++ blobs).
export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970'
export KBUILD_BUILD_USER=dkwrap
export KBUILD_BUILD_HOST=dkwrap
export SOURCE_DATE_EPOCH=0
export LC_ALL=C
export TZ=UTC

# Packages the scripts need on a fresh Debian bookworm machine.
DK_APT_PACKAGES=(make gcc g++ binutils clang-19 lld-19 llvm-19 bc flex bison
    libelf-dev libssl-dev dkms elfutils zstd xz-utils gzip kmod time openssl
    perl python3 cpio rsync linux-source-6.1 strace)

dk_log() { printf '[%s] %s\n' "${DK_SELF:-dkwrap}" "$*" >&2; }
dk_die() { printf '[%s] ERROR: %s\n' "${DK_SELF:-dkwrap}" "$*" >&2; exit 1; }

dk_now() { date +%s.%N; }
# dk_elapsed START -> seconds since START with one decimal
dk_elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}'; }

# dk_step NAME CMD... : run a step, print its wall time
dk_step() {
    local name=$1; shift
    local t0; t0=$(dk_now)
    "$@"
    local rc=$?
    dk_log "step '$name' took $(dk_elapsed "$t0")s (rc=$rc)"
    return $rc
}

dk_ensure_packages() {
    local missing=() p
    for p in "${DK_APT_PACKAGES[@]}" "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    dk_log "installing: ${missing[*]}"
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

ktree_valid() {
    local t
    for t in "${DK_TREES[@]}"; do [ "$t" = "$1" ] && return 0; done
    return 1
}

ktree_dir() { ktree_valid "$1" || dk_die "unknown tree '$1' (${DK_TREES[*]})"; echo "$DK_CACHE/$1"; }

# make variables (besides O= / -C) for a tree
ktree_make_args() {
    case $1 in
        thinlto|clang-nolto) echo "ARCH=x86_64 LLVM=$DK_LLVM LOCALVERSION=" ;;
        gcc)                 echo "ARCH=x86_64 LOCALVERSION=" ;;
        arm64-thinlto)       echo "ARCH=arm64 LLVM=$DK_LLVM LOCALVERSION=" ;;
        *) dk_die "unknown tree '$1'" ;;
    esac
}

# C / C++ compilers that match a tree (for the prebuilt .o_binary blobs)
ktree_cxx() {
    case $1 in
        gcc) echo g++ ;;
        *) echo "clang++$DK_LLVM" ;;
    esac
}

ktree_ensure() { "$DK_REPO/scripts/ktrees.sh" "$@" >&2; }

# Compiler description of a tree from its .config
ktree_cc_text() { sed -n 's/^CONFIG_CC_VERSION_TEXT="\(.*\)"$/\1/p' "$(ktree_dir "$1")/.config"; }
