#!/usr/bin/env bash
# bench/crash_injection.sh [CLIENTS] [KILLS] [JOBS_PER_CLIENT] [AGENTS] [SEED]: the crash-injection
# test (tests/integration/crash_test.cc) at a larger size: CLIENTS (100) REST clients submit
# (idempotency keys, retried with the same key), query and cancel while the server is killed
# with SIGKILL KILLS (20) times at random moments and restarted on the same state dir and port.
# Prints the test's count line: acknowledged, found, duplicates, cancelled_but_ran, double_runs,
# concurrent_runs, wrong_state (targets: found = acknowledged, every other count zero).
# Needs the build: BUILD_DIR (default build) with `weft` and `weft_hardening_test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
T=$build/tests/weft_hardening_test
[[ -x $build/weft && -x $T ]] || { echo "build first: ninja -C $build weft weft_hardening_test" >&2; exit 1; }
export WEFT_CRASH_CLIENTS=${1:-100}
export WEFT_CRASH_KILLS=${2:-20}
export WEFT_CRASH_JOBS_PER_CLIENT=${3:-8}
export WEFT_CRASH_AGENTS=${4:-4}
[[ -n ${5:-} ]] && export WEFT_CRASH_SEED=$5
export WEFT_CRASH_BUDGET_S=${WEFT_CRASH_BUDGET_S:-240}
log=$(mktemp /tmp/weft-crash-XXXXXX.log)
trap 'rm -f "$log"' EXIT
status=0
"$T" --gtest_filter='CrashTest.*' >"$log" 2>&1 || status=$?
grep -E '^crash-injection:' "$log"
if [[ $status -ne 0 ]]; then
  grep -E 'Failure|error|Expected|Which is|ran [0-9]+ times|missing|cancelled at' "$log" | head -40 >&2
  echo "crash injection: FAILED (exit $status)" >&2
fi
exit $status
