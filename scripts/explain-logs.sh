#!/usr/bin/env bash
# scripts/explain-logs.sh - capture what GNU strip prints on the ThinLTO fixtures, for the
# tests of `dkwrap explain`.
#
# Usage:
#   scripts/explain-logs.sh           write testdata/explain/*.log (only files whose bytes change)
#   scripts/explain-logs.sh --check   capture into a temp dir and compare with the committed
#                                     logs (exit 1 on any difference)
#
# For each fixture in FIXTURES and each GNU strip (the system's binutils 2.40, and 2.43.1
# unpacked from ../shared/tools/gnu-strip-2.43.1.xz, skipped with a message when absent),
# the fixture is copied into a fresh temporary directory under its own name and
# `strip -g -o out.ko NAME.ko` runs there with that strip first on PATH, so that the
# messages read `strip: NAME.ko: ...` as in a dkms build: no path of this machine. The log
# is strip's stdout and stderr; the exit status goes into testdata/explain/STATUS. The bytes
# depend only on the fixture and the strip binary.
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh's dk_log
DK_SELF=explain-logs
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

FIXTURES=(modeset-like-thinlto modeset-like-arm64-thinlto basic-arm64-thinlto)
OUT_DIR=$DK_REPO/testdata/explain
SHARED_STRIP_XZ=$DK_REPO/../shared/tools/gnu-strip-2.43.1.xz

check=0
case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) dk_die "usage: $0 [--check]" ;;
esac

dk_ensure_packages
work=$(mktemp -d /tmp/dkwrap-explain-logs.XXXXXX)
trap 'rm -rf "$work"' EXIT

# bin/<version>/strip: one directory per GNU strip, put first on PATH in turn.
declare -a versions=()
mkdir -p "$work/bin/2.40"
ln -s /usr/bin/strip "$work/bin/2.40/strip"
/usr/bin/strip --version | head -n1 | grep -q ' 2\.40$' ||
    dk_die "/usr/bin/strip is not binutils 2.40: $(/usr/bin/strip --version | head -n1)"
versions+=(2.40)
if [ -f "$SHARED_STRIP_XZ" ]; then
    mkdir -p "$work/bin/2.43.1"
    xz -dc "$SHARED_STRIP_XZ" >"$work/bin/2.43.1/strip"
    chmod +x "$work/bin/2.43.1/strip"
    versions+=(2.43.1)
else
    dk_log "skipping GNU strip 2.43.1: $SHARED_STRIP_XZ is absent"
fi

dest=$OUT_DIR
[ "$check" -eq 1 ] && dest=$work/out
mkdir -p "$dest"
status=$dest/STATUS.new
: >"$status"
for v in "${versions[@]}"; do
    for f in "${FIXTURES[@]}"; do
        run=$work/run-$v-$f
        mkdir -p "$run"
        cp "$DK_REPO/testdata/modules/$f.ko" "$run/$f.ko"
        rc=0
        (cd "$run" && PATH="$work/bin/$v:$PATH" strip -g -o out.ko "$f.ko") >"$run/log" 2>&1 || rc=$?
        log=$dest/gnu-strip-$v-$f.log
        cmp -s "$run/log" "$log" 2>/dev/null || cp "$run/log" "$log"
        printf '%s\t%s\t%s\n' "gnu-strip-$v-$f.log" "$rc" "$(wc -l <"$run/log")" >>"$status"
        dk_log "GNU strip $v on $f.ko: exit $rc, $(wc -l <"$run/log") lines"
    done
done
cmp -s "$status" "$dest/STATUS" 2>/dev/null || cp "$status" "$dest/STATUS"
rm -f "$status"

if [ "$check" -eq 1 ]; then
    bad=0
    # Line by line for STATUS: without ../shared only the 2.40 rows are made.
    while IFS= read -r row; do
        grep -qxF "$row" "$OUT_DIR/STATUS" || { dk_log "STATUS row differs: $row"; bad=1; }
    done <"$dest/STATUS"
    for f in "$dest"/*.log; do
        name=$(basename "$f")
        if ! cmp -s "$f" "$OUT_DIR/$name"; then
            dk_log "differs from the committed file: testdata/explain/$name"
            bad=1
        fi
    done
    [ "$bad" -eq 0 ] || exit 1
    dk_log "all $(find "$dest" -name '*.log' | wc -l) logs and their STATUS rows identical to the committed ones"
fi
