#!/usr/bin/env bash
# Runs the Node.js suite — turbopuffer's official TypeScript client driving a real vecpuff
# server — as one test (ctest: node_turbopuffer_client):
#
#   tests/node/run.sh PATH/TO/vecpuff
#
# Starts the server on a free loopback port (--port 0; the port is read back from the
# server's "listening on" log line) with a private local store in a temporary directory,
# waits until GET /health answers (30 s at most), runs `node --test` on tests/node/*.test.mjs
# with VECPUFF_URL pointing at the server, stops the server (also on failure or
# interruption), and exits with node's status. The server's log is printed when anything
# fails, and a sanitizer report in it (ASan/UBSan builds) fails the run too.
#
# Needs node and tests/node/node_modules (scripts/install_deps.sh: `make deps`).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${1:-}"
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "usage: $0 PATH/TO/vecpuff (got '${BIN}': not an executable file)" >&2
  exit 2
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

STARTUP_TIMEOUT_S=30  # server start-up, ASan builds included
SUITE_TIMEOUT_S=240   # the whole node run; the suite takes well under a minute on a release build
STOP_TIMEOUT_S=20     # graceful shutdown before SIGKILL

if ! command -v node >/dev/null 2>&1; then
  echo "run.sh: node not found; run scripts/install_deps.sh (make deps)" >&2
  exit 2
fi
# @turbopuffer/turbopuffer 2.8.0 uses undici 7, which needs Node >= 20.18.1.
if ! node -e '
  const [a, b, c] = process.versions.node.split(".").map(Number);
  process.exit(a > 20 || (a === 20 && (b > 18 || (b === 18 && c >= 1))) ? 0 : 1);'; then
  echo "run.sh: node $(node --version) is too old: the turbopuffer client needs Node >= 20.18.1" >&2
  exit 2
fi
if [ ! -f "$HERE/node_modules/@turbopuffer/turbopuffer/package.json" ]; then
  echo "run.sh: $HERE/node_modules is missing; run scripts/install_deps.sh (make deps)" >&2
  exit 2
fi

# Nothing from the caller's environment may point the server elsewhere (make test runs under
# scripts/with_moto.sh) or change how the client talks to it.
unset S3_BUCKET S3_ENDPOINT S3_REGION VECPUFF_STORAGE VECPUFF_CONFIG LOCAL_CACHE_PATH \
  VECPUFF_API_KEYS VECPUFF_LOG RUST_LOG
unset TURBOPUFFER_API_KEY TURBOPUFFER_REGION TURBOPUFFER_BASE_URL TURBOPUFFER_CUSTOM_HEADERS \
  TURBOPUFFER_LOG NODE_OPTIONS

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vecpuff-node.XXXXXX")"
LOG="$WORK/server.log"
SERVER_PID=""
FAILED=1

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 $((STOP_TIMEOUT_S * 10))); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "run.sh: the server did not stop within ${STOP_TIMEOUT_S} s of SIGTERM; killing it" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    wait "$SERVER_PID" 2>/dev/null
  fi
  SERVER_PID=""
}

print_log() {
  echo "----- vecpuff server log ($LOG, last 400 lines) -----" >&2
  tail -n 400 "$LOG" >&2 2>/dev/null
  echo "----- end of server log -----" >&2
}

cleanup() {
  stop_server
  [ "$FAILED" -ne 0 ] && print_log
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cat >"$WORK/config.toml" <<EOF
# Written by tests/node/run.sh for one run of the Node.js client suite.
[server]
host = "127.0.0.1"
port = 0
threads = 16

[log]
level = "info"

[storage]
backend = "local"
local_root = "$WORK/store"

[cache]
path = "$WORK/cache"
size_bytes = 1073741824
memory_bytes = 268435456

[auth]
api_keys = ["test"]  # the key the tests' client sends
EOF

"$BIN" --config "$WORK/config.toml" --host 127.0.0.1 --port 0 --data-dir "$WORK/store" >"$LOG" 2>&1 &
SERVER_PID=$!

# The health check: GET /health answers 200.
health() {
  node -e '
    const c = new AbortController();
    setTimeout(() => c.abort(), 1000);
    fetch(process.argv[1] + "/health", { signal: c.signal })
      .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1));' "$1"
}

PORT=""
DEADLINE=$((SECONDS + STARTUP_TIMEOUT_S))
while :; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID"
    echo "run.sh: the server exited during start-up (status $?)" >&2
    SERVER_PID=""
    exit 1
  fi
  if [ -z "$PORT" ]; then
    PORT="$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$LOG" | head -n 1)"
  fi
  if [ -n "$PORT" ] && health "http://127.0.0.1:$PORT"; then
    break
  fi
  if [ "$SECONDS" -ge "$DEADLINE" ]; then
    echo "run.sh: the server did not answer GET /health within ${STARTUP_TIMEOUT_S} s (port: ${PORT:-not logged})" >&2
    exit 1
  fi
  sleep 0.1
done
echo "run.sh: vecpuff ($BIN) serving on http://127.0.0.1:$PORT"

cd "$HERE" || exit 1
TESTS=()
for f in "$HERE"/*.test.mjs; do TESTS+=("$f"); done
VECPUFF_URL="http://127.0.0.1:$PORT" timeout -k 10 "$SUITE_TIMEOUT_S" \
  node --test --test-reporter=spec "${TESTS[@]}"
STATUS=$?
if [ "$STATUS" -eq 124 ] || [ "$STATUS" -eq 137 ]; then
  echo "run.sh: the suite did not finish within ${SUITE_TIMEOUT_S} s" >&2
fi

stop_server
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' "$LOG"; then
  echo "run.sh: the server's log has a sanitizer report" >&2
  [ "$STATUS" -eq 0 ] && STATUS=1
fi
if [ "$STATUS" -eq 0 ]; then FAILED=0; fi
exit "$STATUS"
