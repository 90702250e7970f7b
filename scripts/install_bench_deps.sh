#!/usr/bin/env bash
# Installs what `make bench` needs beyond scripts/install_deps.sh: the ANN peers it
# compares against (hnswlib, faiss with reference BLAS/LAPACK, SPTAG) and the
# Fashion-MNIST data set, all from Debian's repositories.
# Idempotent: does nothing when every package is already present.
set -euo pipefail
PKGS=(
  libhnswlib-dev libfaiss-dev libblas-dev liblapack-dev sptag
  dataset-fashion-mnist zlib1g-dev
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install_bench_deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
