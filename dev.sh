#!/usr/bin/env bash
# Set-up and entry point for developers and CI on a fresh Debian machine (Python 3.11+).
#   ./dev.sh app    install everything into .venv and launch the desktop app
#   ./dev.sh test   install everything (with test tools) and run lint, type checks and the test suite
#   ./dev.sh bench  run the benchmarks (prints ratios against baselines measured in the same run)
#   ./dev.sh help   this text
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the app needs at run time (Qt's platform libraries) and the tests need
# (pdftotext/pdftoppm, openssl, age, Xvfb-free offscreen Qt).
# One list with the offline installer (packaging/runtime-debs.txt), plus pip for the developer's venv.
mapfile -t RUNTIME_DEBS < <(grep -v '^#' packaging/runtime-debs.txt | grep .)
RUNTIME_DEBS+=(python3-pip)
TEST_DEBS=(poppler-utils openssl age desktop-file-utils appstream shared-mime-info
  fuse3 exfat-fuse exfatprogs dosfstools mtools)

install_debs() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "dev.sh: need root or sudo to install: ${missing[*]}" >&2; return 1; }
    sudo="sudo"
  fi
  echo "dev.sh: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_bin() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "dev.sh: Python 3.11 or newer is required" >&2; return 1
}

make_venv() {
  local extras="$1"
  if [ ! -x .venv/bin/python ]; then
    "$(python_bin)" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip
  if [ -n "$extras" ]; then
    .venv/bin/python -m pip install -q -e ".[${extras}]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
}

case "${1:-help}" in
  app)
    install_debs "${RUNTIME_DEBS[@]}"
    make_venv ""
    shift
    exec .venv/bin/icspa-desktop "$@"
    ;;
  test)
    install_debs "${RUNTIME_DEBS[@]}" "${TEST_DEBS[@]}"
    make_venv test
    echo "== ruff"; .venv/bin/ruff check icspa_desktop tests bench
    echo "== mypy --strict (all of icspa_desktop, gui included)"; .venv/bin/mypy
    echo "== pytest"
    # Cheap Argon2id parameters only inside the test run (tests/conftest.py calls the in-process hook).
    QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest "${@:2}"
    ;;
  bench)
    install_debs "${RUNTIME_DEBS[@]}" "${TEST_DEBS[@]}"
    make_venv test
    exec .venv/bin/python -m bench "${@:2}"
    ;;
  help|*)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    ;;
esac
