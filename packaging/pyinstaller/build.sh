#!/usr/bin/env bash
# Build the app bundle with PyInstaller (icspa.spec beside this script) from a transfer set's wheels.
#   packaging/pyinstaller/build.sh SET OUT
# SET is a transfer set (packaging/make-transfer-set.sh); OUT/icspa-desktop/ becomes a folder holding the programs
# `icspa` and `icspa-desktop` with Python and every library they need, and OUT/icspa-desktop-VERSION-PLATFORM.tar
# that folder packed for the medium (it holds symbolic links, which FAT media cannot), with the tar's SHA-256 in
# OUT/icspa-desktop-VERSION-PLATFORM.tar.sha256. Needs the network once, for PyInstaller itself (pinned below);
# PYTHON as for make-transfer-set.sh.
set -euo pipefail
PYINSTALLER="pyinstaller==6.22.3"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$(dirname "$HERE")")
die() { echo "pyinstaller/build.sh: $*" >&2; exit 1; }
case "${1:-}" in ""|-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;; esac
[ $# -eq 2 ] || die "usage: $0 SET OUT"
SET=$(cd "$1" && pwd) OUT=$2
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then die "$OUT exists and is not empty"; fi
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY=python3
fi
(cd "$SET" && sha256sum --check --strict --quiet MANIFEST.sha256) || die "$SET does not match its MANIFEST.sha256"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" -m venv "$WORK/venv"
# The set's wheels, each with its hash, and nothing else from an index; then PyInstaller.
PIP_CONFIG_FILE=/dev/null "$WORK/venv/bin/python" -m pip install --quiet --no-index --find-links "$SET/wheels" \
  --require-hashes --only-binary=:all: -r "$SET/requirements.txt"
"$WORK/venv/bin/python" -m pip install --quiet "$PYINSTALLER"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
echo "pyinstaller/build.sh: building (about a minute on 2 cores)"
(cd "$WORK" && "$WORK/venv/bin/pyinstaller" --noconfirm --log-level ERROR --distpath "$OUT" --workpath "$WORK/build" \
  "$HERE/icspa.spec")
version=$("$OUT/icspa-desktop/icspa" --version | cut -d' ' -f2) || die "the bundled icspa does not start"
platform=$("$PY" -c 'import sysconfig; print(sysconfig.get_platform())')
tarball="icspa-desktop-$version-$platform.tar"
tar -C "$OUT" --owner=0 --group=0 --numeric-owner -cf "$OUT/$tarball" icspa-desktop
(cd "$OUT" && sha256sum "$tarball" >"$tarball.sha256")
echo "pyinstaller/build.sh: wrote $OUT/icspa-desktop ($(du -sh "$OUT/icspa-desktop" | cut -f1)) and $OUT/$tarball"
echo "SHA-256 of $tarball: $(cut -d' ' -f1 "$OUT/$tarball.sha256")"
