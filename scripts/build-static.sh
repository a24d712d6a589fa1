#!/bin/bash
# scripts/build-static.sh - build dkwrap as a static-pie executable and print its path.
#
# glibc, libgcc and libm are linked in; the binary is still position independent, so the
# kernel still places it at a random address. What it saves is the dynamic loading at every
# start (about 0.5 ms a run here), which is most of the difference to GNU strip when dkms or
# Kbuild start dkwrap once per small module
# (issue 17; scripts/bench.sh's corpus section shows both builds side by side when
# DKWRAP_STATIC names this binary).
#
# The packages ship the default, dynamic build: a static glibc gets no security update until
# dkwrap is rebuilt, and lintian and rpmlint report static binaries as errors.
#
# Usage: scripts/build-static.sh      (prints target/static/<host>/release/dkwrap)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
host=$(rustc -vV | sed -n 's/^host: //p')
case $host in
*-linux-gnu) ;;
*) echo "build-static: static-pie needs a *-linux-gnu Rust host, this is $host" >&2; exit 1 ;;
esac
# An explicit --target keeps crt-static off the build scripts and proc-macros, which must stay
# dynamic libraries of the compiler.
(cd "$repo" && CARGO_TARGET_DIR=$repo/target/static \
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked --quiet --target "$host")
bin=$repo/target/static/$host/release/dkwrap
if readelf -d "$bin" | grep -q NEEDED; then
    echo "build-static: $bin still needs shared libraries:" >&2
    readelf -d "$bin" | grep NEEDED >&2
    exit 1
fi
echo "$bin"
