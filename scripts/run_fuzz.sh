#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, clang, -DVECPUFF_FUZZ=ON) if needed and runs each
# for SECONDS over its committed seed corpus (fuzz/corpus/<target>/, read only). New inputs
# go to a scratch corpus (build-fuzz/fuzz-work/<target>/corpus, kept between runs so later
# runs start from them); crashes, leaks, timeouts and OOMs to build-fuzz/fuzz-work/<target>/.
# Prints per target: executions, exec/s, findings. Exits non-zero if any target has a
# finding (or does not build or run).
#
# Usage: scripts/run_fuzz.sh [SECONDS] [TARGET...]
#   scripts/run_fuzz.sh 20      # the bounded run of `make test`
#   FUZZ_ARGS=-runs=10000000 scripts/run_fuzz.sh 21600   # `make stress`: 10M runs per target
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (build jobs, default 2),
#   FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-30}"
shift || true
BUILD="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
JOBS="${FUZZ_JOBS:-2}"
ALL_TARGETS=(fuzz_write_request fuzz_query_request fuzz_filter fuzz_wal fuzz_manifest fuzz_segment)
if [[ $# -gt 0 ]]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [[ "$SECONDS_PER_TARGET" -lt 1 ]]; then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
fi

# Configure once; later runs only rebuild what changed (seconds when up to date). The test is
# on the generated Makefile, not the cache: a configure that failed (a missing dependency)
# leaves a CMakeCache.txt behind and must run again.
if [[ ! -f "$BUILD/Makefile" ]]; then
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVECPUFF_FUZZ=ON >/dev/null
fi
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}" >/dev/null

# JSON targets get the dictionary of the request and filter vocabulary.
dict_for() {
  case "$1" in
    fuzz_write_request | fuzz_query_request | fuzz_filter | fuzz_manifest)
      echo "-dict=$ROOT/fuzz/dict/json.dict" ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
printf '%-20s %14s %10s %9s\n' target executions exec/s findings
for t in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz/$t"
  work="$BUILD/fuzz-work/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  log="$work/last-run.log"
  before_list="$(ls "$work/artifacts" | sort)"
  rc=0
  # -rss_limit_mb / -malloc_limit_mb: an allocation a corrupt length field asks for is a
  # finding (OOM), not a slow run. -timeout: an input taking over 10 s is a finding too.
  "$bin" "$work/corpus" "$ROOT/fuzz/corpus/$t" $(dict_for "$t") \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" ${FUZZ_ARGS:-} >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  new_artifacts="$(comm -13 <(echo "$before_list") <(ls "$work/artifacts" | sort) | sed '/^$/d')"
  findings=$(echo -n "$new_artifacts" | grep -c . || true)
  if [[ $rc -ne 0 && $findings -eq 0 ]]; then findings=1; fi  # died without an artifact
  printf '%-20s %14s %10s %9s\n' "$t" "${execs:-?}" "${rate:-?}" "$findings"
  if [[ $findings -ne 0 ]]; then
    failed=1
    echo "  $t: exit $rc; log $log; new artifacts:" >&2
    echo "$new_artifacts" | head -5 | sed "s|^|    $work/artifacts/|" >&2
    grep -m3 -E 'ERROR: |fuzz property violated|runtime error' "$log" | sed 's/^/    /' >&2 || true
  fi
done
exit $failed
