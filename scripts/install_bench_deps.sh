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
exec "$(dirname "$0")/apt_install.sh" install_bench_deps "${PKGS[@]}"
