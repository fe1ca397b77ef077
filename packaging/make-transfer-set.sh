#!/usr/bin/env bash
# Build the transfer set that installs ICSPA Evidence Desktop on an air-gapped workstation (run it on a
# connected build machine; docs/admin-guide.md tells the whole procedure).
#   packaging/make-transfer-set.sh OUT            wheels of packaging/requirements.lock + our own wheel (built from
#                                                 the commit checked out), with requirements.txt (--hash lines),
#                                                 install.sh and MANIFEST.sha256
#   packaging/make-transfer-set.sh --worktree OUT the same, our wheel built from the files as they are (uncommitted
#                                                 changes too: for trying a change, not for a release)
#   packaging/make-transfer-set.sh --debs OUT     also the Debian packages of packaging/runtime-debs.txt and every
#                                                 dependency a minimal install lacks (debs/; apt-get download), for
#                                                 workstations of the same Debian release (install.sh --debs)
#   packaging/make-transfer-set.sh --update-lock  resolve pyproject.toml's dependencies again into requirements.lock
# PYTHON=python3.X selects the interpreter the air-gapped side will run (default: .venv/bin/python, else python3):
# the wheels are chosen for its version and platform, and install.sh refuses any other.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
LOCK="$HERE/requirements.lock"

die() { echo "make-transfer-set: $*" >&2; exit 1; }

if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY=python3
fi
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || die "$PY is not Python 3.11 or newer"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The wheel is built from a copy of what it packs: a build inside the checkout would write build/ and *.egg-info
# there, under the feet of anyone else building or testing in the same tree. A release is the commit checked out
# (BUILD-INFO names it); --worktree takes the files as they are.
PACKED=(pyproject.toml README.md icspa_desktop resources docs packaging)
SOURCE=""
stage_source() {
  local from_worktree=$1
  mkdir "$WORK/src"
  if [ "$from_worktree" = 0 ] && git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    git -C "$ROOT" archive --format=tar HEAD "${PACKED[@]}" | tar -C "$WORK/src" -xf -
    SOURCE="commit $(git -C "$ROOT" rev-parse HEAD)"
    if [ -n "$(git -C "$ROOT" status --porcelain -- "${PACKED[@]}")" ]; then
      echo "make-transfer-set: note: uncommitted changes are not in the set (--worktree takes them)" >&2
    fi
  else
    tar -C "$ROOT" --exclude=__pycache__ -cf - "${PACKED[@]}" | tar -C "$WORK/src" -xf -
    SOURCE="working tree of $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "$ROOT")"
  fi
}

update_lock() {
  stage_source 1  # the dependencies as pyproject.toml says now
  "$PY" -m pip install --quiet --dry-run --ignore-installed --report "$WORK/report.json" "$WORK/src"
  "$PY" - "$WORK/report.json" "$LOCK" <<'EOF'
import json, platform, re, sys, sysconfig
report = json.load(open(sys.argv[1], encoding="utf-8"))
pins = sorted(f"{re.sub(r'[-_.]+', '-', item['metadata']['name']).lower()}=={item['metadata']['version']}"
              for item in report["install"] if item["metadata"]["name"] != "icspa-desktop")
header = ("# The run-time dependencies of icspa-desktop, pinned: the transfer set holds exactly these wheels.\n"
          "# Made by `packaging/make-transfer-set.sh --update-lock` from pyproject.toml's dependencies, resolved for\n"
          f"# Python {platform.python_version()} on {sysconfig.get_platform()}. The SHA-256 of each wheel is taken from\n"
          "# what pip downloads and written to the set's requirements.txt (pip install --require-hashes).\n")
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write(header + "".join(pin + "\n" for pin in pins))
EOF
  echo "make-transfer-set: wrote $LOCK"
}

# The Debian packages the application needs with their dependencies, less what every Debian install has: apt resolves
# both as for an empty system (a status file of its own) — the wanted packages, and the essential, required and
# important ones — and the set holds the difference, for the release and architecture of this machine, which must
# be the workstations' (BUILD-INFO records it; install.sh --debs refuses another).
download_debs() {
  local out=$1
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "--debs needs Debian's apt-get and dpkg"
  local wanted=() base=() keep=()
  : >"$WORK/empty-status"
  resolve() {
    apt-get -s -o Dir::State::status="$WORK/empty-status" install --no-install-recommends "$@" 2>"$WORK/apt.log" |
      awk '/^Inst /{print $2}' | sort -u
  }
  mapfile -t wanted < <(grep -v '^#' "$ROOT/packaging/runtime-debs.txt" | grep .)
  mapfile -t base < <(apt-cache dumpavail |
    awk '/^Package: /{p=$2} /^Priority: (required|important)$/{print p} /^Essential: yes$/{print p}' | sort -u)
  resolve "${wanted[@]}" >"$WORK/wanted.txt"
  resolve "${base[@]}" >"$WORK/base.txt"
  [ -s "$WORK/wanted.txt" ] || { cat "$WORK/apt.log" >&2; die "apt could not resolve packaging/runtime-debs.txt"; }
  mapfile -t keep < <(comm -23 "$WORK/wanted.txt" "$WORK/base.txt")
  mkdir "$out/debs" "$WORK/debs"
  echo "make-transfer-set: downloading ${#keep[@]} Debian packages"
  chmod 777 "$WORK/debs"  # apt's download user writes there (else it falls back to root, with a warning)
  (cd "$WORK/debs" && apt-get download -q "${keep[@]}" >/dev/null) ||
    die "apt-get download failed (is the package index up to date? apt-get update)"
  local deb name
  for deb in "$WORK"/debs/*.deb; do  # names the manifest accepts: an epoch's %3a and a version's ~ become _
    name=$(basename "$deb" | sed 's/[^A-Za-z0-9._+=-]/_/g')
    mv "$deb" "$out/debs/$name"
  done
}

build_set() {
  local from_worktree=$1 out=$2 debs=${3:-0}
  if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then die "$out exists and is not empty"; fi
  mkdir -p "$out/wheels"
  out=$(cd "$out" && pwd)
  stage_source "$from_worktree"
  local src="$WORK/src"
  [ -f "$src/packaging/requirements.lock" ] || die "packaging/requirements.lock is missing: run $0 --update-lock"

  echo "make-transfer-set: building the icspa-desktop wheel"
  "$PY" -m pip wheel --quiet --no-deps --wheel-dir "$out/wheels" "$src" >/dev/null
  echo "make-transfer-set: downloading the pinned dependencies (binary wheels only)"
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --dest "$out/wheels" -r "$src/packaging/requirements.lock"

  # requirements.txt: every wheel pinned to its version and to the hash of the very file downloaded.
  local wheel base name rest version
  {
    echo "# Install with install.sh (pip install --require-hashes --no-index --find-links wheels -r requirements.txt)."
    for wheel in "$out"/wheels/*.whl; do
      base=$(basename "$wheel" .whl)
      name=${base%%-*}
      rest=${base#*-}
      version=${rest%%-*}
      echo "$name==$version --hash=sha256:$(sha256sum "$wheel" | cut -d' ' -f1)"
    done
  } >"$out/requirements.txt"

  # The lock must cover every dependency of our wheel: pip, offline, resolves the set as the air-gapped side will.
  if ! env PIP_CONFIG_FILE=/dev/null "$PY" -m pip install --quiet --dry-run --ignore-installed --no-index \
       --find-links "$out/wheels" --require-hashes --only-binary=:all: -r "$out/requirements.txt" >"$WORK/check.log" 2>&1; then
    cat "$WORK/check.log" >&2
    die "the set does not install offline (a dependency missing from $LOCK? run $0 --update-lock)"
  fi

  if [ "$debs" = 1 ]; then download_debs "$out"; fi
  cp "$src/packaging/install.sh" "$out/install.sh"
  chmod 755 "$out/install.sh"
  cp "$src/docs/admin-guide.md" "$out/admin-guide.md"
  mkdir "$out/screenshots"  # the pictures the admin guide shows, beside it as in docs/
  for picture in $(grep -o 'screenshots/[A-Za-z0-9._-]*\.png' "$src/docs/admin-guide.md" | sort -u); do
    cp "$src/docs/$picture" "$out/$picture"
  done
  "$PY" - "$out/BUILD-INFO" "$SOURCE" <<'EOF'
import datetime, platform, sys, sysconfig
from importlib.metadata import version
lines = {
    "python": "%d.%d" % sys.version_info[:2],  # install.sh refuses an interpreter of another version or platform
    "platform": sysconfig.get_platform(),
    "source": sys.argv[2],
    "built": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "pip": version("pip"),
}
try:  # the Debian release the packages in debs/ are for (install.sh --debs refuses another)
    release = dict(line.split("=", 1) for line in open("/etc/os-release", encoding="utf-8").read().splitlines()
                   if "=" in line)
    lines["debian"] = release.get("VERSION_CODENAME", "").strip('"') or "unknown"
except OSError:
    lines["debian"] = "unknown"
with open(sys.argv[1], "w", encoding="utf-8") as out:
    out.write("".join(f"{key}={value}\n" for key, value in lines.items()))
EOF

  # Last: the SHA-256 of every other file. Its own hash is what the receiving side compares out of band.
  (cd "$out" && find . -type f ! -name MANIFEST.sha256 -printf '%P\n' | LC_ALL=C sort |
     while IFS= read -r file; do sha256sum -- "$file"; done) >"$WORK/MANIFEST.sha256"
  mv "$WORK/MANIFEST.sha256" "$out/MANIFEST.sha256"

  local digest
  digest=$(sha256sum "$out/MANIFEST.sha256" | cut -d' ' -f1)
  echo "make-transfer-set: wrote $out ($(du -sh "$out" | cut -f1), $(find "$out/wheels" -name '*.whl' | wc -l) wheels)"
  echo "SHA-256 of MANIFEST.sha256: $digest"
  echo "Write this down or print it, and give it to the receiving side separately from the medium; there:"
  echo "  ./install.sh --manifest-sha256 $digest /opt/icspa/venv"
}

case "${1:-}" in
  --update-lock) update_lock; exit 0 ;;
  ""|-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
worktree=0 with_debs=0 target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --worktree) worktree=1 ;;
    --debs) with_debs=1 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$target" ] || die "usage: $0 [--worktree] [--debs] OUT"; target=$1 ;;
  esac
  shift
done
[ -n "$target" ] || die "usage: $0 [--worktree] [--debs] OUT"
build_set "$worktree" "$target" "$with_debs"
