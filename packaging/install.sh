#!/usr/bin/env bash
# Install ICSPA Evidence Desktop from this transfer set on the air-gapped workstation. Uses no network.
#   ./install.sh [--manifest-sha256 HEX] [--python PY] [--upgrade] [--desktop] VENV
#     --manifest-sha256 HEX  the SHA-256 of MANIFEST.sha256 the build machine printed, told to you separately
#                            from this medium (read out or on paper): refuse the set unless it matches
#     --python PY            the Python 3 to create VENV with (default: python3); its version must be the set's
#     --upgrade              install into an existing VENV made by an earlier set (the new versions replace the old)
#     --debs                 first install the set's Debian packages (debs/: Qt's libraries, python3-venv), as root,
#                            without a network (apt-get --no-download); only on the Debian release the set was built on
#     --desktop              also put icspa and icspa-desktop on the PATH and register the menu entry, icons and file
#                            types (as root: /usr/local/bin and /usr/local/share; else ~/.local/bin and ~/.local/share;
#                            --bin-dir DIR and --data-dir DIR choose others)
# Every file is checked against MANIFEST.sha256 first, in a private copy that pip then installs from with
# --require-hashes --no-index: any file that differs stops the installation before anything is installed.
set -euo pipefail
umask 022
SET=$(cd "$(dirname "$0")" && pwd)

die() { echo "install.sh: $*" >&2; exit 1; }
refuse() { echo "install.sh: REFUSED: $*" >&2; echo "install.sh: nothing was installed." >&2; exit 1; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

expected="" python=python3 upgrade=0 desktop=0 debs=0 venv="" bin_dir="" data_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --manifest-sha256) [ $# -ge 2 ] || die "--manifest-sha256 needs a value"; expected=$2; shift 2 ;;
    --python) [ $# -ge 2 ] || die "--python needs a value"; python=$2; shift 2 ;;
    --upgrade) upgrade=1; shift ;;
    --desktop) desktop=1; shift ;;
    --debs) debs=1; shift ;;
    --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a value"; bin_dir=$2; shift 2 ;;
    --data-dir) [ $# -ge 2 ] || die "--data-dir needs a value"; data_dir=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [ -z "$venv" ] || die "one VENV only"; venv=$1; shift ;;
  esac
done
[ -n "$venv" ] || { usage >&2; die "name the folder to install into (VENV)"; }

# ---- 1. the manifest: its own hash, then every file it lists ------------------------------------------------
[ -f "$SET/MANIFEST.sha256" ] && [ ! -L "$SET/MANIFEST.sha256" ] ||
  refuse "MANIFEST.sha256 is missing: $SET is not a complete transfer set"
STAGE=$(mktemp -d)
created=""
cleanup() {
  rm -rf "$STAGE"
  if [ -n "$created" ]; then rm -rf "$created"; fi  # a half-made VENV of ours is not left behind
}
trap cleanup EXIT
# Everything is checked and installed from a private copy: the medium cannot change between check and use.
cp "$SET/MANIFEST.sha256" "$STAGE/MANIFEST.sha256"
digest=$(sha256sum "$STAGE/MANIFEST.sha256" | cut -d' ' -f1)
echo "SHA-256 of MANIFEST.sha256: $digest"
if [ -n "$expected" ]; then
  expected=$(printf '%s' "$expected" | tr -d ' :' | tr 'A-F' 'a-f')
  [ "$expected" = "$digest" ] ||
    refuse "MANIFEST.sha256 is not the one the build machine made (its SHA-256 is $digest, you were told $expected). Do not use this medium."
  echo "  matches the value you were given."
else
  echo "  compare it with the value the build machine printed, told to you separately from this medium;"
  echo "  --manifest-sha256 HEX makes this script compare it."
fi

declare -A listed=()
while IFS= read -r line || [ -n "$line" ]; do
  if ! [[ $line =~ ^([0-9a-f]{64})\ \ ([A-Za-z0-9_+=-][A-Za-z0-9._+=-]*(/[A-Za-z0-9_+=-][A-Za-z0-9._+=-]*)*)$ ]]; then
    refuse "MANIFEST.sha256 has a line that is not 'SHA-256  relative/path': $line"
  fi
  hash=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]}
  [ -f "$SET/$name" ] && [ ! -L "$SET/$name" ] || refuse "$name is listed in MANIFEST.sha256 but is not in the set"
  mkdir -p "$STAGE/set/$(dirname "$name")"
  cp "$SET/$name" "$STAGE/set/$name"
  actual=$(sha256sum "$STAGE/set/$name" | cut -d' ' -f1)
  [ "$actual" = "$hash" ] ||
    refuse "$name does not match MANIFEST.sha256 (its SHA-256 is $actual, the manifest says $hash): the transfer set was altered or damaged."
  listed[$name]=1
done <"$STAGE/MANIFEST.sha256"
for required in requirements.txt BUILD-INFO; do
  [ -n "${listed[$required]:-}" ] || refuse "$required is not in MANIFEST.sha256"
done
unlisted=$(cd "$SET" && find . \( -type f -o -type l \) ! -path ./MANIFEST.sha256 -printf '%P\n' |
  while IFS= read -r name; do [ -n "${listed[$name]:-}" ] || echo "$name"; done)
if [ -n "$unlisted" ]; then  # never used: only the checked copy is installed
  echo "install.sh: warning: files on the medium that the manifest does not list (ignored):" >&2
  printf '%s\n' "$unlisted" | sed 's/^/  /' >&2
fi
echo "All $(( ${#listed[@]} )) files match MANIFEST.sha256."

# ---- 1b. optional: the Debian packages, from the checked copy, without a network ----------------------------------
if [ "$debs" = 1 ]; then
  [ -d "$STAGE/set/debs" ] || refuse "--debs: this set has no Debian packages (built without make-transfer-set.sh --debs)"
  [ "$(id -u)" -eq 0 ] || die "--debs installs Debian packages: run as root (sudo ./install.sh --debs ...)"
  built_for=$(sed -n 's/^debian=//p' "$STAGE/set/BUILD-INFO")
  here=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-unknown}")
  [ "$built_for" = "$here" ] ||
    refuse "the set's Debian packages are for Debian '$built_for'; this workstation runs '$here'. Build the set on a '$here' machine."
  # Only what the workstation lacks: a package it already has (whatever its version) stays as it is.
  missing_debs=()
  for deb in "$STAGE"/set/debs/*.deb; do
    package=$(dpkg-deb -f "$deb" Package) || refuse "debs/$(basename "$deb") is not a Debian package"
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing_debs+=("$deb")
  done
  if [ ${#missing_debs[@]} -eq 0 ]; then
    echo "The set's Debian packages are all installed already."
  else
    # Files given by path: apt-get installs these, orders them, and fails rather than download anything missing.
    DEBIAN_FRONTEND=noninteractive apt-get install --yes --no-download --no-install-recommends \
        -o Dpkg::Options::=--force-confold "${missing_debs[@]}" ||
      refuse "apt-get could not install the set's Debian packages (its message is above)."
    echo "Installed ${#missing_debs[@]} of the set's Debian packages."
  fi
fi

# ---- 2. the interpreter --------------------------------------------------------------------------------------
want_python=$(sed -n 's/^python=//p' "$STAGE/set/BUILD-INFO")
want_platform=$(sed -n 's/^platform=//p' "$STAGE/set/BUILD-INFO")
have=$("$python" -c 'import sys, sysconfig; print("%d.%d %s" % (sys.version_info[:2] + (sysconfig.get_platform(),)))') ||
  die "cannot run $python (install Debian's python3 and python3-venv, or pass --python)"
[ "$have" = "$want_python $want_platform" ] ||
  die "this set was built for Python $want_python on $want_platform; $python is Python $have. Build the set with PYTHON=python${have%% *} on the build machine, or pass --python."

# ---- 3. the virtual environment -------------------------------------------------------------------------------
if [ "$upgrade" = 1 ]; then
  [ -x "$venv/bin/python" ] || die "$venv is not a virtual environment to upgrade"
else
  if [ -e "$venv" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
    die "$venv exists and is not empty: choose a new folder, or --upgrade an existing installation"
  fi
  "$python" -m venv "$venv" || die "could not create $venv (on Debian: apt-get install python3-venv)"
  created=$venv
fi

# ---- 4. pip: this set's wheels only, each with its hash --------------------------------------------------------
# No index, no configuration file, none of the caller's PIP_* settings: nothing but the checked copy is read.
pip_env=(env)
for var in $(compgen -e); do
  case "$var" in PIP_*) pip_env+=(-u "$var") ;; esac
done
pip_env+=(PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1)
upgrade_flag=()
[ "$upgrade" = 1 ] && upgrade_flag=(--upgrade)
if ! "${pip_env[@]}" "$venv/bin/python" -m pip install --no-index --find-links "$STAGE/set/wheels" --require-hashes \
     --only-binary=:all: --no-cache-dir --quiet "${upgrade_flag[@]}" -r "$STAGE/set/requirements.txt"; then
  if [ "$upgrade" = 1 ]; then
    echo "install.sh: pip stopped (above); $venv may be partly upgraded: run this again, or install into a new folder." >&2
    exit 1
  fi
  refuse "pip did not install the set (its message is above; 'DO NOT MATCH THE HASHES' means a wheel differs from requirements.txt)."
fi
"$venv/bin/icspa" --version >/dev/null || die "the installed icspa does not start"
created=""
venv=$(cd "$venv" && pwd)
echo "Installed $("$venv/bin/icspa" --version) into $venv"

# ---- 5. optional: PATH, menu entry, icons, file types --------------------------------------------------------------
if [ "$desktop" = 1 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    bin_dir=${bin_dir:-/usr/local/bin} data_dir=${data_dir:-/usr/local/share}
  else
    bin_dir=${bin_dir:-$HOME/.local/bin} data_dir=${data_dir:-${XDG_DATA_HOME:-$HOME/.local/share}}
  fi
  mkdir -p "$bin_dir"
  ln -sfn "$venv/bin/icspa" "$bin_dir/icspa"
  ln -sfn "$venv/bin/icspa-desktop" "$bin_dir/icspa-desktop"
  (cd "$venv/share" && find applications metainfo mime/packages icons -type f) | while IFS= read -r file; do
    mkdir -p "$data_dir/$(dirname "$file")"
    cp "$venv/share/$file" "$data_dir/$file"
  done
  # Each cache is rebuilt if its tool is there; without them the desktop finds the files at its next start.
  if command -v update-mime-database >/dev/null; then update-mime-database "$data_dir/mime" >/dev/null; fi
  if command -v update-desktop-database >/dev/null; then update-desktop-database "$data_dir/applications" >/dev/null; fi
  if command -v gtk-update-icon-cache >/dev/null && [ -f "$data_dir/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q "$data_dir/icons/hicolor" || true
  fi
  echo "Linked icspa and icspa-desktop into $bin_dir; menu entry, icons and file types in $data_dir"
fi
echo "Next: create the vault (docs/admin-guide.md, 'Create the vault'): $venv/bin/icspa vault init --help"
