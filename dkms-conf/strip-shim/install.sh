#!/bin/sh
# Installs the strip shim: a directory with `strip` and `llvm-strip` symlinks to dkwrap
# (dkwrap invoked as *strip is `dkwrap strip`), the `dkms` wrapper that puts it first
# on dkms's PATH, and (with --framework-conf) the framework.conf fragment for dkms
# versions that source framework.conf in their own shell.
#
#   install.sh [--destdir DIR] [--dkwrap /usr/bin/dkwrap] [--real-dkms /usr/sbin/dkms]
#              [--shim-dir /usr/lib/dkwrap/strip-shim] [--wrapper /usr/local/sbin/dkms]
#              [--framework-conf]
#
# --destdir installs under DIR (a staging root; the paths written into the files stay
# the final ones), as scripts/e2e-dkms.sh does.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
destdir= dkwrap=/usr/bin/dkwrap real=/usr/sbin/dkms shim=/usr/lib/dkwrap/strip-shim
wrapper=/usr/local/sbin/dkms framework=
while [ $# -gt 0 ]; do
    case $1 in
        --destdir) destdir=$2; shift 2 ;;
        --dkwrap) dkwrap=$2; shift 2 ;;
        --real-dkms) real=$2; shift 2 ;;
        --shim-dir) shim=$2; shift 2 ;;
        --wrapper) wrapper=$2; shift 2 ;;
        --framework-conf) framework=1; shift ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$destdir$dkwrap" ] || [ -x "$dkwrap" ] || { echo "install.sh: $dkwrap is not executable" >&2; exit 1; }
mkdir -p "$destdir$shim" "$destdir$(dirname "$wrapper")"
ln -sfn "$dkwrap" "$destdir$shim/strip"
ln -sfn "$dkwrap" "$destdir$shim/llvm-strip"
sed -e "s|@SHIM_DIR@|$shim|g" -e "s|@REAL_DKMS@|$real|g" "$here/dkms" >"$destdir$wrapper"
chmod 755 "$destdir$wrapper"
if [ -n "$framework" ]; then
    mkdir -p "$destdir/etc/dkms/framework.conf.d"
    sed -e "s|@SHIM_DIR@|$shim|g" "$here/framework.conf" >"$destdir/etc/dkms/framework.conf.d/dkwrap-strip.conf"
fi
echo "installed: $destdir$shim/{strip,llvm-strip} -> $dkwrap, $destdir$wrapper"
