#!/usr/bin/env bash
# Installs VecPuff's build and test dependencies from Debian's repositories.
# Idempotent: does nothing when every package is already present.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config
  libcpp-httplib-dev nlohmann-json3-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  libzstd-dev libxxhash-dev libssl-dev libcurl4-openssl-dev libpugixml-dev
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
  libhnswlib-dev        # the centroid graph of the ANN index (header-only)
  dataset-fashion-mnist # real data for the recall tests
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
