#!/usr/bin/env bash
# scripts/boot-kernel.sh - a real Debian kernel for `dkwrap verify --boot` tests: the newest
# linux-image-6.1.0-<N>-amd64 the mirror has, downloaded with apt-get and unpacked with
# dpkg -x (nothing installed), plus qemu-system-x86 and busybox-static.
#
# Prints the unpacked root (ROOT/boot/vmlinuz-<release>, ROOT/lib/modules/<release>/).
# Cache: ${DKWRAP_BOOT_CACHE:-<repo>/target/boot-kernel}; a second run reuses it.
set -euo pipefail
DK_SELF=boot-kernel
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cache=${DKWRAP_BOOT_CACHE:-$DK_REPO/target/boot-kernel}
mkdir -p "$cache"
dk_ensure_packages qemu-system-x86 busybox-static >&2
if [ -f "$cache/root/.done" ]; then
    echo "$cache/root"
    exit 0
fi
pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -n 1)
[ -n "$pkg" ] || dk_die "no linux-image-6.1.0-<N>-amd64 package on this mirror"
dk_log "downloading $pkg"
rm -rf "$cache/dl" "$cache/root"
mkdir -p "$cache/dl"
# apt-get download writes into the current directory; _apt may not read it (harmless warning).
(cd "$cache/dl" && apt-get download -q "$pkg" >&2 2>&1 | grep -v 'unsandboxed' >&2 || true)
deb=$(ls "$cache"/dl/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || dk_die "apt-get download $pkg gave no .deb"
dpkg -x "$deb" "$cache/root"
touch "$cache/root/.done"
echo "$cache/root"
