#!/usr/bin/env bash
# Set up tonewatch on Debian/Ubuntu with Python 3.10+: system packages, then the package
# itself with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# pulseaudio: a virtual sound server for the live-capture tests; chromium: report tests.
APT_PACKAGES=(libportaudio2 libsndfile1 espeak-ng sox pulseaudio pulseaudio-utils chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip install --disable-pip-version-check -q -e ".[dev]"
