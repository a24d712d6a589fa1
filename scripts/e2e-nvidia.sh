#!/usr/bin/env bash
# scripts/e2e-nvidia.sh - NVIDIA's real open GPU kernel modules (open-gpu-kernel-modules
# 595.45.04) through dkwrap, for two kernels in one command.
#
# Usage: scripts/e2e-nvidia.sh        (DKWRAP=/path/to/dkwrap to skip the release build)
#
# Needs ../shared/tools/nvidia-open-595.45.04.tar.xz (relative to the repo); without it the
# script prints SKIP and exits 0. GNU strip 2.43.1 comes from ../shared/tools/gnu-strip-2.43.1.xz
# (its step SKIPs without it).
#
# Steps (each prints PASS:/FAIL:/SKIP:/INFO: lines; exit 1 on any FAIL):
#   1. Unpack the tarball into target/nvidia/ (once; reused while the tarball is unchanged).
#   2. Complete the kernel trees' Module.symvers. NVIDIA's conftest decides what the kernel
#      offers by looking symbols up in the tree's Module.symvers, and modpost needs every
#      export the modules use; the trees of scripts/ktrees.sh carry a synthetic one with a
#      few exports. Debian's linux-headers-<abi>-amd64 (the same 6.1 base, fetched with
#      `apt-get download`, unpacked with `dpkg -x`, cached in target/nvidia/debian/) has the
#      real one. Copies of the thinlto and gcc trees (a few MB each: `source` is a link)
#      get the tree's own entries plus Debian's for every symbol the tree lacks.
#   3. `dkwrap matrix` with both trees at once builds the five modules (nvidia, nvidia-uvm,
#      nvidia-modeset, nvidia-drm, nvidia-peermem) per kernel, in parallel under one job
#      budget (-j$(nproc), shared through make's jobserver), strips and verifies each.
#   4. Unstripped copies by a second link in each build directory (the objects are reused:
#      only modpost and the .ko link run again), through `dkwrap make --strategy skip`.
#   5. Every stripped module proven against its unstripped build, by `dkwrap verify
#      --against` and by the independent scripts/elfcheck.py (relocations by meaning).
#   6. GNU strip 2.40 (the system's) and 2.43.1 on the ThinLTO nvidia-modeset.ko: both exit
#      0 and both are caught by `dkwrap verify --against`.
#   7. real dkms, upstream 3.4.3 (built from ../shared/tools) and Debian's 3.0.10, each with
#      NVIDIA's own kernel-open/dkms.conf and dkwrap's zero-edit integration, for the thinlto
#      tree, in the package layout of NVIDIA's .run installer: kernel-open/ with the
#      OS-agnostic objects prebuilt, here those of step 3 (so the two dkms builds only build
#      kernel-open/ again); the installed modules are verified. E2E_NVIDIA_DKMS="3.4.3:source"
#      (or any list of VERSION:LAYOUT) runs the whole-source Arch layout instead: a full build.
# Prints a summary table and the wall time. E2E_NVIDIA_REUSE=1 reuses the matrix build (and
# the stripped copies) of an earlier run and redoes steps 4-7 (for work on those steps);
# E2E_NVIDIA_DKMS_ONLY=1 runs steps 1, 2 and 7 only (the run layout needs an earlier
# matrix build).
set -uo pipefail
DK_SELF=e2e-nvidia
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NV_VERSION=595.45.04
TARBALL=$DK_REPO/../shared/tools/nvidia-open-$NV_VERSION.tar.xz
STRIP_2431_XZ=$DK_REPO/../shared/tools/gnu-strip-2.43.1.xz
CACHE=$DK_REPO/target/nvidia
MODULES=(nvidia nvidia-uvm nvidia-modeset nvidia-drm nvidia-peermem)
KERNELS=(thinlto gcc)
PASSES=0 FAILS=0 SKIPS=0
ROWS=()
START=$SECONDS

pass() { printf 'PASS: %s\n' "$*"; PASSES=$((PASSES + 1)); }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
skip() { printf 'SKIP: %s\n' "$*"; SKIPS=$((SKIPS + 1)); }
info() { printf 'INFO: %s\n' "$*"; }
row() { ROWS+=("$(printf '%-44s %-8s %s' "$1" "$2" "$3")"); }
step_start() { STEP_T0=$SECONDS; printf '\n=== %s\n' "$*"; }
# GNU strip 2.43.1 from ../shared/tools, unpacked into the cache once; prints its path, or
# nothing when ../shared/tools has none (steps 6 and 7 use it).
gnu_strip_2431() {
    local gs=$CACHE/gnu-strip-2.43.1
    [ -f "$STRIP_2431_XZ" ] || return 0
    [ -x "$gs" ] || { xz -dc "$STRIP_2431_XZ" >"$gs" && chmod +x "$gs"; } || return 0
    echo "$gs"
}
step_time() { echo "$((SECONDS - STEP_T0))s"; }

if [ ! -f "$TARBALL" ]; then
    echo "SKIP: $TARBALL is absent: NVIDIA end-to-end test not run"
    exit 0
fi
dk_ensure_packages
if [ -z "${DKWRAP:-}" ]; then
    dk_log "building dkwrap (cargo build --release)"
    (cd "$DK_REPO" && cargo build --release --quiet) || dk_die "cargo build --release failed"
    DKWRAP=$DK_REPO/target/release/dkwrap
fi
DKWRAP=$(readlink -f "$DKWRAP")
[ -x "$DKWRAP" ] || dk_die "DKWRAP=$DKWRAP is not executable"
JOBS=$(nproc)
mkdir -p "$CACHE"

# ---------------------------------------------------------------------------
step_start "1. unpack $(basename "$TARBALL")"
SRC=$CACHE/open-gpu-kernel-modules-$NV_VERSION
stamp=$(stat -c '%s-%Y' "$TARBALL")
if [ "$(cat "$SRC/.e2e-unpacked" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$SRC"
    tar -xJf "$TARBALL" -C "$CACHE" || dk_die "cannot unpack $TARBALL"
    echo "$stamp" >"$SRC/.e2e-unpacked"
fi
[ -f "$SRC/kernel-open/Makefile" ] || dk_die "$SRC has no kernel-open/Makefile"
row "unpack" ok "$(step_time)"

# ---------------------------------------------------------------------------
step_start "2. complete the trees' Module.symvers from Debian's linux-headers"
abi_pkg=$(apt-cache depends linux-headers-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-headers-[0-9.]*-[0-9]*-amd64\)$/\1/p' | head -n1)
[ -n "$abi_pkg" ] || dk_die "apt-cache knows no linux-headers-amd64 (run apt-get update)"
symvers=$CACHE/debian/$abi_pkg.Module.symvers
if [ ! -s "$symvers" ]; then
    mkdir -p "$CACHE/debian" && rm -rf "$CACHE/debian/x"
    (cd "$CACHE/debian" && apt-get download "$abi_pkg" >/dev/null 2>&1) ||
        dk_die "apt-get download $abi_pkg failed"
    dpkg -x "$CACHE"/debian/"$abi_pkg"_*.deb "$CACHE/debian/x" || dk_die "dpkg -x failed"
    cp "$CACHE/debian/x/usr/src/$abi_pkg/Module.symvers" "$symvers" || dk_die "no Module.symvers in $abi_pkg"
    rm -rf "$CACHE/debian/x"
fi
info "Debian $abi_pkg: $(wc -l <"$symvers") exports"
declare -A TREE
for k in "${KERNELS[@]}"; do
    orig=$("$DK_REPO/scripts/ktrees.sh" --print "$k") || dk_die "no $k tree (scripts/ktrees.sh)"
    TREE[$k]=$CACHE/trees/$k
    rm -rf "${TREE[$k]}" && mkdir -p "$CACHE/trees"
    cp -a "$orig" "${TREE[$k]}" || dk_die "cannot copy $orig"
    rm -f "${TREE[$k]}/Module.symvers"
    # The tree's own entries (its CRCs) first, then Debian's for the symbols it lacks.
    awk -F'\t' '!seen[$2]++' "$orig/Module.symvers" "$symvers" >"${TREE[$k]}/Module.symvers"
    info "$k: Module.symvers $(wc -l <"$orig/Module.symvers") -> $(wc -l <"${TREE[$k]}/Module.symvers") exports"
done
row "Module.symvers completed ($abi_pkg)" ok "$(step_time)"

# Steps 3-6 (E2E_NVIDIA_DKMS_ONLY=1 skips them and runs step 7 alone).
matrix_steps() {
# ---------------------------------------------------------------------------
step_start "3. dkwrap matrix: ${KERNELS[*]} at once, -j$JOBS shared"
BUILD_ROOT=$CACHE/matrix
OUT=$CACHE/out
mkdir -p "$OUT"
kernel_args=()
for k in "${KERNELS[@]}"; do kernel_args+=(--kernel-dir "${TREE[$k]}"); done
if [ "${E2E_NVIDIA_REUSE:-}" = 1 ] && [ -s "$OUT/matrix.json" ]; then
    info "reusing the matrix build of an earlier run (E2E_NVIDIA_REUSE=1)"
    rc=$(cat "$OUT/matrix.rc")
else
    (cd "$SRC" && "$DKWRAP" matrix "${kernel_args[@]}" --build-root "$BUILD_ROOT" --json \
        -- make -j"$JOBS" modules) >"$OUT/matrix.json" 2>"$OUT/matrix.err"
    rc=$?
    echo "$rc" >"$OUT/matrix.rc"
fi
sed 's/^/    | /' "$OUT/matrix.err"
matrix_time=$(step_time)
python3 - "$OUT/matrix.json" "${MODULES[@]}" <<'EOF' >"$OUT/matrix.table"
import json, sys
doc = json.load(open(sys.argv[1]))
want = sys.argv[2:]
print(f"{'KERNEL':8} {'MODULE':34} {'OUTCOME':8} {'SIZE':>24}  TOOL")
for c in doc["cells"]:
    r = c["record"] or {}
    size = f"{r.get('size_before') or 0:>11,} -> {r.get('size_after') or 0:>9,}" if r else ""
    tool = (r.get("tool") or r.get("strategy") or "") if r else (c["error"] or {}).get("message", "")
    print(f"{c['kernel']:8} {str(c['module']):34} {c['outcome']:8} {size:>24}  {tool}")
names = sorted((c["kernel"], (c["module"] or "").rsplit("/", 1)[-1]) for c in doc["cells"] if c["ok"])
missing = [(k, m) for k in {c["kernel"] for c in doc["cells"]} for m in want if (k, m + ".ko") not in names]
print(f"cells={len(doc['cells'])} ok={sum(c['ok'] for c in doc['cells'])} missing={missing}")
sys.exit(0 if not missing and all(c["ok"] for c in doc["cells"]) else 1)
EOF
table_rc=$?
sed 's/^/    | /' "$OUT/matrix.table"
if [ "$rc" = 0 ] && [ "$table_rc" = 0 ]; then
    pass "dkwrap matrix built, stripped and verified ${#MODULES[@]} modules for each of ${KERNELS[*]}"
    row "matrix build (${KERNELS[*]}, -j$JOBS)" PASS "$matrix_time"
else
    fail "dkwrap matrix exited $rc (table check $table_rc); logs: $BUILD_ROOT/*.make.log"
    row "matrix build (${KERNELS[*]}, -j$JOBS)" FAIL "$matrix_time"
fi
for k in "${KERNELS[@]}"; do
    log=$BUILD_ROOT/$k.make.log
    [ -f "$log" ] || continue
    info "$k: $(grep -c "Failed CC version check" "$log") CC version check lines, $(grep -c "objtool:" "$log") objtool warnings, $(wc -l <"$log") log lines"
done

# ---------------------------------------------------------------------------
step_start "4. unstripped copies: a second link with --strategy skip"
for k in "${KERNELS[@]}"; do
    kdir=$BUILD_ROOT/$k/kernel-open
    mkdir -p "$OUT/$k/stripped" "$OUT/$k/unstripped"
    for m in "${MODULES[@]}"; do
        # A reused run's stripped copies are already aside (the build dir has the relinked ones).
        if [ "${E2E_NVIDIA_REUSE:-}" != 1 ] || [ ! -f "$OUT/$k/stripped/$m.ko" ]; then
            cp "$kdir/$m.ko" "$OUT/$k/stripped/" 2>/dev/null
        fi
        rm -f "$kdir/$m.ko"
    done
    t0=$SECONDS
    (cd "$BUILD_ROOT/$k" && "$DKWRAP" -q make --kernel-dir "${TREE[$k]}" --strategy skip \
        -- make -j"$JOBS" modules) >"$OUT/$k/relink.log" 2>&1
    rc=$?
    for m in "${MODULES[@]}"; do cp "$kdir/$m.ko" "$OUT/$k/unstripped/" 2>/dev/null; done
    if [ "$rc" = 0 ]; then
        pass "$k: second link, modules left unstripped ($((SECONDS - t0))s)"
        row "$k: second link (unstripped)" PASS "$((SECONDS - t0))s"
    else
        tail -n 20 "$OUT/$k/relink.log" | sed 's/^/    | /'
        fail "$k: second link exited $rc"
        row "$k: second link (unstripped)" FAIL "$((SECONDS - t0))s"
    fi
done

# ---------------------------------------------------------------------------
step_start "5. every stripped module proven against its unstripped build"
# The proof is per module (--against), with the tree's configuration; the symbol checks
# need the five together (nvidia-uvm, -modeset and -drm import from nvidia and -modeset), so
# they run once over the set, with the tree's Module.symvers.
for k in "${KERNELS[@]}"; do
    t0=$SECONDS ok=0
    mapfile -t set < <(for m in "${MODULES[@]}"; do echo "$OUT/$k/stripped/$m.ko"; done)
    if "$DKWRAP" -q verify --kernel-dir "${TREE[$k]}" "${set[@]}" >"$OUT/$k/set.verify" 2>&1; then
        pass "$k: the five stripped modules pass dkwrap verify together, with the tree's Module.symvers"
    else
        sed 's/^/    | /' "$OUT/$k/set.verify"
        fail "$k: dkwrap verify of the five stripped modules with the tree's symbols failed"
    fi
    for m in "${MODULES[@]}"; do
        s=$OUT/$k/stripped/$m.ko u=$OUT/$k/unstripped/$m.ko
        if [ ! -f "$s" ] || [ ! -f "$u" ]; then fail "$k/$m.ko: missing"; continue; fi
        if "$DKWRAP" -q verify --config "${TREE[$k]}/.config" --against "$u" "$s" >"$OUT/$k/$m.verify" 2>&1; then
            d=$(python3 "$DK_REPO/scripts/elfcheck.py" relocdiff "$u" "$s")
            if [[ "$d" == changed=0\ * ]]; then
                ok=$((ok + 1))
                info "$k/$m.ko: dkwrap verify --against OK; elfcheck $d"
            else
                fail "$k/$m.ko: elfcheck.py relocdiff: $d"
            fi
        else
            sed 's/^/    | /' "$OUT/$k/$m.verify"
            fail "$k/$m.ko: dkwrap verify --against the unstripped build failed"
        fi
    done
    if [ "$ok" = "${#MODULES[@]}" ]; then
        pass "$k: all ${#MODULES[@]} stripped modules equal their unstripped builds (dkwrap and elfcheck.py)"
        row "$k: stripped == unstripped - debug ($ok/${#MODULES[@]})" PASS "$((SECONDS - t0))s"
    else
        row "$k: stripped == unstripped - debug ($ok/${#MODULES[@]})" FAIL "$((SECONDS - t0))s"
    fi
done

# ---------------------------------------------------------------------------
step_start "6. GNU strip on the ThinLTO nvidia-modeset.ko, caught by dkwrap verify --against"
orig=$OUT/thinlto/unstripped/nvidia-modeset.ko
for tool in strip "$(gnu_strip_2431)"; do
    [ -n "$tool" ] || { skip "GNU strip 2.43.1: $STRIP_2431_XZ is absent"; continue; }
    [ -f "$orig" ] || { fail "no unstripped nvidia-modeset.ko"; break; }
    ver=$("$tool" --version | head -n1 | awk '{print $NF}')
    t0=$SECONDS
    out=$OUT/thinlto/nvidia-modeset.gnu-strip-$ver.ko
    "$tool" -g -o "$out" "$orig" 2>"$out.stderr"
    strip_rc=$?
    asserts=$(grep -c "assertion fail" "$out.stderr")
    "$DKWRAP" verify --kernel-dir "${TREE[thinlto]}" --against "$orig" "$out" >"$out.verify" 2>&1
    verify_rc=$?
    d=$(python3 "$DK_REPO/scripts/elfcheck.py" relocdiff "$orig" "$out" 2>/dev/null)
    info "GNU strip $ver: exit $strip_rc, $asserts BFD assertions, elfcheck $d; dkwrap verify --against exit $verify_rc"
    grep -m3 -E "NOT|FAIL|differ" "$out.verify" | sed 's/^/    | /'
    if [ "$verify_rc" -ne 0 ]; then
        pass "GNU strip $ver (exit $strip_rc) on nvidia-modeset.ko caught by dkwrap verify --against (exit $verify_rc)"
        row "GNU strip $ver caught (strip exit $strip_rc, $asserts asserts)" PASS "$((SECONDS - t0))s"
    else
        fail "GNU strip $ver output passed dkwrap verify --against"
        row "GNU strip $ver caught" FAIL "$((SECONDS - t0))s"
    fi
done

}
[ "${E2E_NVIDIA_DKMS_ONLY:-}" = 1 ] || matrix_steps

# ---------------------------------------------------------------------------
# Real dkms with NVIDIA's own kernel-open/dkms.conf, its placeholders filled the way packages
# fill them (version, jobs, no excluded module, the five modules), and dkwrap's zero-edit
# integration (no edit of that dkms.conf: a framework.conf.d drop-in for dkms >= 3.3, the
# wrapper found first on root's PATH for older ones), building for the completed thinlto
# tree. GNU strip 2.43.1 is first on PATH, as on the seed's machines. In a private mount
# namespace: /etc/dkms is the integration's, /lib/modules holds only <release>/build -> the
# tree (NVIDIA's Makefile finds the kernel there from KERNEL_UNAME; dkms installs there). The
# installed modules must be stripped and pass `dkwrap verify` with the tree's symbols (all
# five together, so nvidia-modeset resolves against nvidia).
#
# Two package layouts, both real:
#   source: Arch's nvidia-open-dkms: the whole source in /usr/src/nvidia-<version>, NVIDIA's
#           dkms.conf at the top, BUILT_MODULE_LOCATION kernel-open/ (the top Makefile builds
#           the OS-agnostic objects under src/, then kernel-open/): a full build.
#   run:    what NVIDIA's .run installer (nvidia-installer --dkms) registers: kernel-open/ with
#           the OS-agnostic parts prebuilt as nvidia/nv-kernel.o_binary and
#           nvidia-modeset/nv-modeset-kernel.o_binary (kernel-open's `make clean`, which
#           dkms 3.0.10 runs first, keeps them). Here they are the objects the matrix step
#           built for the thinlto tree, so only kernel-open/ is built again: the build is
#           shared between the steps where dkms allows.
# dkms_step VERSION LAYOUT   (VERSION 3.4.3: built from ../shared/tools; 3.0.10: Debian's)
dkms_step() {
    local version=$1 layout=$2 t0=$SECONDS
    local label="dkms $version, NVIDIA's dkms.conf ($layout layout)"
    step_start "7. real $label, zero-edit integration"
    local w=$CACHE/dkms-$version-$layout dkms etc_src
    rm -rf "$w" && mkdir -p "$w/integ/etc" "$w/lib-modules" "$w/tree" "$w/source" "$w/bin"
    case $version in
        3.4.3)
            local tar=$DK_REPO/../shared/tools/dkms-3.4.3.tar.gz
            if [ ! -f "$tar" ]; then skip "$label: $tar is absent"; row "$label" SKIP "-"; return; fi
            mkdir -p "$w/src"
            if ! { tar -xzf "$tar" -C "$w/src" &&
                make -C "$w/src/dkms-3.4.3" install DESTDIR="$w/dkms" >"$w/dkms-install.log" 2>&1; }; then
                fail "dkms 3.4.3: make install failed (log $w/dkms-install.log)"; row "$label" FAIL "-"; return
            fi
            dkms=$w/dkms/usr/sbin/dkms etc_src=$w/dkms/etc/dkms ;;
        *)
            # Debian's own; the real one when an installed dkwrap package diverts it.
            dkms=$(dpkg-divert --truename /usr/sbin/dkms 2>/dev/null || echo /usr/sbin/dkms) etc_src=/etc/dkms
            if ! "$dkms" --version 2>/dev/null | grep -q "$version"; then
                skip "$label: $dkms is $("$dkms" --version 2>/dev/null | head -n1), not $version"
                row "$label" SKIP "-"; return
            fi ;;
    esac
    cp -a "$etc_src" "$w/integ/etc/dkms"
    "$DKWRAP" dkms install-integration --prefix "$w/integ" --dkms "$dkms" >"$w/integ.log" 2>&1 ||
        { fail "install-integration exited $?"; sed 's/^/    | /' "$w/integ.log"; row "$label" FAIL "-"; return; }
    sed 's/^/    | /' "$w/integ.log"
    # dkms < 3.3: the integration is a wrapper, called by name as root's PATH finds it.
    local dkms_cmd=$dkms
    if [ -x "$w/integ/usr/local/sbin/dkms" ]; then
        ln -s "$w/integ/usr/local/sbin/dkms" "$w/bin/dkms" && dkms_cmd=dkms
    fi
    local kver pkg=$w/source/nvidia-$NV_VERSION
    kver=$(cat "${TREE[thinlto]}/include/config/kernel.release")
    mkdir -p "$w/lib-modules/$kver" && ln -s "${TREE[thinlto]}" "$w/lib-modules/$kver/build"
    make_package "$layout" "$pkg" || { row "$label" FAIL "-"; return; }
    info "dkms.conf as packaged:"; sed 's/^/    | /' "$pkg/dkms.conf"
    local gs; gs=$(gnu_strip_2431)
    if [ -n "$gs" ]; then ln -sf "$gs" "$w/bin/strip"; else info "GNU strip 2.43.1 absent: the system's strip is on PATH"; fi
    local opts=(-m nvidia -v "$NV_VERSION" --dkmstree "$w/tree" --sourcetree "$w/source")
    # A mount point for the private /lib/modules (this machine may have none; removed after).
    local made_lib_modules=
    [ -d /lib/modules ] || { mkdir -p /lib/modules && made_lib_modules=1; }
    unshare -m --propagation private bash -c '
        mount --bind "$1" /etc/dkms && mount --bind "$2" /lib/modules || exit 97
        shift 2; "$@"' in_ns "$w/integ/etc/dkms" "$w/lib-modules" \
        env PATH="$w/bin:$PATH" bash -c '"$1" add "${@:3}" >/dev/null && "$1" install -k "$2" "${@:3}"' \
        dkms "$dkms_cmd" "$kver" "${opts[@]}" >"$w/dkms.out" 2>&1
    local rc=$? log
    [ -n "$made_lib_modules" ] && rmdir /lib/modules
    log=$(find "$w/tree/nvidia" -name make.log | head -n1)
    sed 's/^/    | /' "$w/dkms.out" | tail -n 25
    mapfile -t installed < <(find "$w/lib-modules/$kver" -name '*.ko*' -type f | sort)
    info "dkms install exit $rc in $((SECONDS - t0))s; ${#installed[@]} modules installed; make.log: ${log:-none}"
    local stripped_lines; stripped_lines=$(grep -c "dkwrap: .*proven: OK\|stripped with" "$log" "$w/dkms.out" 2>/dev/null | awk -F: '{s+=$NF} END {print s+0}')
    if [ "$rc" -ne 0 ] || [ "${#installed[@]}" -ne "${#MODULES[@]}" ]; then
        [ -n "$log" ] && tail -n 30 "$log" | sed 's/^/    | /'
        fail "$label: exit $rc, ${#installed[@]}/${#MODULES[@]} modules installed"
        row "$label" FAIL "$((SECONDS - t0))s"; return
    fi
    local debug=0 f
    for f in "${installed[@]}"; do
        llvm-readelf-19 -S "$f" 2>/dev/null | grep -q '\.debug_info' && debug=$((debug + 1))
    done
    if "$DKWRAP" verify --kernel-dir "${TREE[thinlto]}" "${installed[@]}" >"$w/verify.out" 2>&1 &&
        [ "$debug" = 0 ] && [ "$stripped_lines" -ge "${#MODULES[@]}" ]; then
        pass "$label installed all ${#MODULES[@]} modules, none with debug information, all pass dkwrap verify with the tree's symbols: $(tail -n1 "$w/verify.out") ($stripped_lines dkwrap strip lines in dkms's output and make.log)"
        row "$label" PASS "$((SECONDS - t0))s"
    else
        sed 's/^/    | /' "$w/verify.out"
        fail "$label: $debug installed modules with debug information, $stripped_lines dkwrap strip lines; dkwrap verify: $(tail -n1 "$w/verify.out")"
        row "$label" FAIL "$((SECONDS - t0))s"
    fi
}

# make_package LAYOUT DIR: the package's source as dkms finds it in /usr/src/nvidia-<version>
# (see dkms_step), with NVIDIA's dkms.conf filled.
make_package() {
    local layout=$1 pkg=$2 location modules_conf="" i=0 m
    case $layout in
        source)
            cp -a "$SRC" "$pkg" && rm -f "$pkg/kernel-open/dkms.conf" || return 1
            location=kernel-open/ ;;
        run)
            local built=$CACHE/matrix/thinlto
            local nv=$built/src/nvidia/_out/Linux_x86_64/nv-kernel.o
            local nvkms=$built/src/nvidia-modeset/_out/Linux_x86_64/nv-modeset-kernel.o
            if [ ! -f "$nv" ] || [ ! -f "$nvkms" ]; then
                fail "run layout: no OS-agnostic objects of the matrix's thinlto build in $built (run without E2E_NVIDIA_DKMS_ONLY first)"
                return 1
            fi
            cp -a "$SRC/kernel-open" "$pkg" && rm -f "$pkg/dkms.conf" || return 1
            rm -f "$pkg/nvidia/nv-kernel.o_binary" "$pkg/nvidia-modeset/nv-modeset-kernel.o_binary"
            cp "$nv" "$pkg/nvidia/nv-kernel.o_binary" &&
                cp "$nvkms" "$pkg/nvidia-modeset/nv-modeset-kernel.o_binary" || return 1
            info "run layout: kernel-open/ with the OS-agnostic objects of the matrix's thinlto build ($(du -sh "$pkg/nvidia/nv-kernel.o_binary" | cut -f1) nv-kernel.o_binary)"
            location= ;;
    esac
    for m in "${MODULES[@]}"; do
        modules_conf+="BUILT_MODULE_NAME[$i]=\"$m\"\n"
        [ -n "$location" ] && modules_conf+="BUILT_MODULE_LOCATION[$i]=\"$location\"\n"
        modules_conf+="DEST_MODULE_LOCATION[$i]=\"/kernel/drivers/video\"\n"
        i=$((i + 1))
    done
    sed -e "s/__VERSION_STRING/$NV_VERSION/" -e "s/__JOBS/$JOBS/" -e "s/__EXCLUDE_MODULES//" \
        -e "s|__DKMS_MODULES|$modules_conf|" "$SRC/kernel-open/dkms.conf" >"$pkg/dkms.conf"
}

# Which dkms runs which layout (E2E_NVIDIA_DKMS: "VERSION:LAYOUT ..."). By default each
# dkms builds the .run layout, whose OS-agnostic objects come from the matrix step (a
# full NVIDIA build per dkms would not fit CI's budget on 2 cores); "3.4.3:source" is the
# whole-source Arch case, a full build.
for cell in ${E2E_NVIDIA_DKMS:-3.4.3:run 3.0.10:run}; do
    dkms_step "${cell%%:*}" "${cell#*:}"
done

# ---------------------------------------------------------------------------
printf '\n=== summary (%s, %d CPUs, dkwrap %s)\n' "open-gpu-kernel-modules $NV_VERSION" "$JOBS" "$("$DKWRAP" --version | awk '{print $2}')"
printf '%-44s %-8s %s\n' STEP RESULT TIME
printf '%s\n' "${ROWS[@]}"
printf 'wall time: %ds; %d passed, %d failed, %d skipped\n' $((SECONDS - START)) "$PASSES" "$FAILS" "$SKIPS"
[ "$FAILS" -eq 0 ]
