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
exec "$(dirname "$0")/apt_install.sh" install_deps "${PKGS[@]}"
