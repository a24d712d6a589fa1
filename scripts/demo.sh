#!/usr/bin/env bash
# The main job on a bundled example, from a fresh machine: install what dkwrap uses
# (llvm-19 for llvm-strip-19; GNU binutils is already there), build dkwrap, then strip the
# committed modeset-like module built against a clang-19 ThinLTO 6.1 kernel — first with
# GNU strip as dkms would (and let dkwrap judge the result), then with dkwrap.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
missing=()
for p in llvm-19 binutils; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cargo build --release --quiet
dkwrap=target/release/dkwrap
config=testdata/kconfig/thinlto.config
module=testdata/modules/modeset-like-thinlto.ko
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step dkwrap detect --config "$config"
"$dkwrap" detect --config "$config"

cp "$module" "$work/by-gnu-strip.ko"
step strip -g by-gnu-strip.ko "   # what dkms runs"
strip -g "$work/by-gnu-strip.ko" && echo "(GNU strip exit status 0)" || echo "(GNU strip exit status $?)"
step dkwrap verify --against "$module" by-gnu-strip.ko
"$dkwrap" verify --against "$module" "$work/by-gnu-strip.ko" | grep -v ': note: ' || true

# GNU strip 2.43.1 (from ../shared when present) is the kind that exits 0 after corrupting.
if [ -f ../shared/tools/gnu-strip-2.43.1.xz ]; then
    xz -dc ../shared/tools/gnu-strip-2.43.1.xz > "$work/strip-2.43.1" && chmod +x "$work/strip-2.43.1"
    cp "$module" "$work/by-gnu-strip-2.43.1.ko"
    step "strip-2.43.1 -g by-gnu-strip-2.43.1.ko"
    "$work/strip-2.43.1" -g "$work/by-gnu-strip-2.43.1.ko" 2>&1 | sort | uniq -c || true
    echo "(GNU strip 2.43.1 exit status ${PIPESTATUS[0]})"
    step dkwrap verify --against "$module" by-gnu-strip-2.43.1.ko
    "$dkwrap" verify --against "$module" "$work/by-gnu-strip-2.43.1.ko" | grep -v ': note: ' | tail -8 || true
fi

cp "$module" "$work/by-dkwrap.ko"
step dkwrap strip -g --config "$config" by-dkwrap.ko
"$dkwrap" strip -g --config "$config" "$work/by-dkwrap.ko"
step dkwrap verify --config "$config" --against "$module" by-dkwrap.ko
"$dkwrap" verify --config "$config" --against "$module" "$work/by-dkwrap.ko" | grep -v ': note: '

step dkwrap doctor --root testdata/doctor/seed "   # a machine after an unattended kernel update"
"$dkwrap" doctor --root testdata/doctor/seed || true
