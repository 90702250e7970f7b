#!/usr/bin/env bash
# Installs VecPuff's build and test dependencies from Debian's repositories, and the npm
# packages of the Node.js client tests (tests/node) from the npm registry.
# Idempotent: does nothing when every package is already present.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PKGS=(
  build-essential cmake pkg-config
  libcpp-httplib-dev nlohmann-json3-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  libzstd-dev libxxhash-dev libssl-dev libcurl4-openssl-dev libpugixml-dev
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
  libhnswlib-dev        # the centroid graph of the ANN index (header-only)
  libre2-dev            # linear-time Regex and Glob filters (src/query)
  dataset-fashion-mnist # real data for the recall tests
  clang clang-14 libclang-rt-14-dev # libFuzzer and its sanitizers for fuzz/ (scripts/run_fuzz.sh)
)

# tests/node drives turbopuffer's official TypeScript client against the server: it needs
# node and npm (Debian's nodejs and npm unless some node, e.g. NodeSource's, is already
# installed; NodeSource's nodejs package brings npm) and its node_modules, installed exactly
# as package-lock.json pins them, again whenever the lock file is newer than the install.
NODE_PKGS=()
command -v node >/dev/null 2>&1 || NODE_PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || NODE_PKGS+=(npm)
if [ ${#NODE_PKGS[@]} -gt 0 ]; then
  "$HERE/apt_install.sh" install_deps "${NODE_PKGS[@]}"
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
  echo "install_deps: warning: node $(node --version) is older than 18: tests/node will fail" >&2
fi
NODE_DIR="$HERE/../tests/node"
NODE_STAMP="$NODE_DIR/node_modules/.package-lock.json" # npm rewrites it on every install
if [ ! -f "$NODE_STAMP" ] || [ "$NODE_DIR/package-lock.json" -nt "$NODE_STAMP" ]; then
  echo "install_deps: npm ci in tests/node"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund)
  touch "$NODE_STAMP"
fi

exec "$HERE/apt_install.sh" install_deps "${PKGS[@]}"
