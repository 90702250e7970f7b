#!/usr/bin/env bash
# Runs a command with a private S3 test server (moto) on loopback:
#
#   scripts/with_moto.sh CMD [ARGS...]
#
# Starts `moto_server -H 127.0.0.1 -p <free port>`, waits until it answers, exports
#   VECPUFF_TEST_S3_ENDPOINT=http://127.0.0.1:<port>
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (test values, unless already set)
# runs CMD, stops the server (also when CMD fails or the script is interrupted) and exits
# with CMD's exit code. Everything moto stores lives in its memory and is gone afterwards.
# The server's log is kept in a temporary file and printed if it fails to start.
set -uo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

# moto under scripts/moto_atomic_server.py (moto's server with its conditional writes made
# atomic, see that file), run by the first Python that has moto: python3, pyenv's, or the one
# moto_server's own script names. Without any, moto_server as it is.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOTO=()
PYTHONS=(python3 /root/.pyenv/shims/python3)
if command -v moto_server >/dev/null 2>&1; then
  shebang="$(head -n1 "$(command -v moto_server)" | sed -n 's/^#! *//p' | awk '{print $1}')"
  [ -n "$shebang" ] && PYTHONS+=("$shebang")
fi
for py in "${PYTHONS[@]}"; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import moto.server, moto.s3.responses' >/dev/null 2>&1; then
    MOTO=("$py" "$HERE/moto_atomic_server.py")
    break
  fi
done
if [ ${#MOTO[@]} -eq 0 ]; then
  if command -v moto_server >/dev/null 2>&1; then
    MOTO=(moto_server)
  elif [ -x /root/.pyenv/shims/moto_server ] && /root/.pyenv/shims/moto_server --help >/dev/null 2>&1; then
    MOTO=(/root/.pyenv/shims/moto_server)
  else
    echo "moto_server not found: the S3 tests need moto (preinstalled with the machine's Python)" >&2
    exit 127
  fi
  echo "with_moto.sh: moto's conditional writes are not atomic without scripts/moto_atomic_server.py" >&2
fi

LOG="$(mktemp "${TMPDIR:-/tmp}/with_moto.XXXXXX.log")"
MOTO_PID=""

stop_moto() {
  if [ -n "$MOTO_PID" ] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill "$MOTO_PID" 2>/dev/null
    # Give it a moment to exit cleanly, then insist.
    for _ in $(seq 1 50); do
      kill -0 "$MOTO_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$MOTO_PID" 2>/dev/null
    wait "$MOTO_PID" 2>/dev/null
  fi
  MOTO_PID=""
}
cleanup() {
  stop_moto
  rm -f "$LOG"
}
CMD_PID=""
# On INT/TERM: stop the command too, then exit (the EXIT trap stops moto).
on_signal() {
  if [ -n "$CMD_PID" ]; then
    kill "-$1" "$CMD_PID" 2>/dev/null
    wait "$CMD_PID" 2>/dev/null
  fi
  exit "$2"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

# True once the server answers HTTP on the port.
answers() {
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" 2>/dev/null
}

# The port is only reserved until we close it, so another process may take it before moto
# binds it: try a few ports.
PORT=""
for attempt in 1 2 3; do
  port="$(free_port)"
  "${MOTO[@]}" -H 127.0.0.1 -p "$port" >"$LOG" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 150); do  # up to 15 s
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      break
    fi
    if answers "$port"; then
      PORT="$port"
      break
    fi
    sleep 0.1
  done
  if [ -n "$PORT" ]; then
    break
  fi
  stop_moto
  echo "with_moto: moto did not start on port $port (attempt $attempt); its log:" >&2
  cat "$LOG" >&2
done
if [ -z "$PORT" ]; then
  echo "with_moto: could not start moto_server" >&2
  exit 1
fi

export VECPUFF_TEST_S3_ENDPOINT="http://127.0.0.1:$PORT"
# moto does not check signatures by default; any credentials do, but they must exist.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
echo "with_moto: moto_server at $VECPUFF_TEST_S3_ENDPOINT (pid $MOTO_PID)" >&2

# In the background so that a signal to this script is handled at once (bash runs traps
# only between commands, and `wait` is interruptible); stdin passed through explicitly.
"$@" <&0 &
CMD_PID=$!
wait "$CMD_PID"
rc=$?
CMD_PID=""
exit "$rc"
