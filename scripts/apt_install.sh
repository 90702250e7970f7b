#!/usr/bin/env bash
# Installs the given Debian packages that are not installed yet; does nothing when all are.
# Shared by install_deps.sh and install_bench_deps.sh. Usage: apt_install.sh NAME PKG...
# (NAME labels the message).
set -euo pipefail
name="$1"
shift
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "$name: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
