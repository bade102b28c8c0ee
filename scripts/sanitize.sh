#!/usr/bin/env bash
# Sanitizer builds of the unit and integration tests, run by hand (not in scripts/test.sh: each
# build is a full build of the tree, 15-25 minutes on a loaded 2-core machine).
#
#   scripts/sanitize.sh [asan|tsan|all] [ctest args...]     (default: all)
#
#   asan: build-asan/ with -DWEFT_SANITIZE=address,undefined (ASan + LeakSanitizer + UBSan)
#   tsan: build-tsan/ with -DWEFT_SANITIZE=thread
#
# The integration tests start real `weft` server/agent/CLI processes from the same build, so
# those are instrumented too and inherit the *SAN_OPTIONS below. Every report, from any process,
# is written to <build>/sanitizer-logs/<kind>.<pid> (log_path) rather than to a stderr that a
# test may have redirected into a deleted temp dir; the script prints them and fails if there
# is any, even when every test passed (a server that aborts while being stopped is a failure).
# Env: WEFT_SANITIZE_JOBS (build jobs, 2), WEFT_TEST_JOBS (ctest jobs, 2), WEFT_SANITIZE_TARGETS
# (build only these, e.g. "weft weft_fake_nvml weft_integration_test", then pass ctest args such
# as -L integration -E 'NOT_BUILT|dashboard'; default: everything).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
which=${1:-all}
shift || true
jobs=${WEFT_SANITIZE_JOBS:-2}
supp=$root/scripts/sanitizer.supp
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

run_one() {  # run_one NAME SANITIZERS
  local name=$1 flags=$2 dir=$root/build-$1
  shift 2
  echo "== $name: -DWEFT_SANITIZE=$flags in $dir"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_SANITIZE="$flags" "${launcher[@]}" >/dev/null
  # shellcheck disable=SC2086
  nice -n 19 ninja -C "$dir" -j"$jobs" ${WEFT_SANITIZE_TARGETS:-}
  local logs=$dir/sanitizer-logs
  rm -rf "$logs" && mkdir -p "$logs"
  local common="halt_on_error=1:print_stacktrace=1:log_path=$logs/$name"
  # ASan: abort on the first error; leaks are reported at a clean exit. UBSan: any report
  # aborts (the code is also built with -fno-sanitize-recover=undefined).
  export ASAN_OPTIONS="$common:detect_leaks=1:abort_on_error=1"
  export UBSAN_OPTIONS="$common"
  export LSAN_OPTIONS="suppressions=$supp"
  # TSan: second_deadlock_stack for readable lock-order reports; suppressions only for
  # third-party code (see scripts/sanitizer.supp).
  export TSAN_OPTIONS="$common:second_deadlock_stack=1:suppressions=$supp"
  local rc=0
  (cd "$dir" && nice -n 19 ctest --output-on-failure -j"${WEFT_TEST_JOBS:-2}" --timeout 600 "$@") || rc=$?
  if compgen -G "$logs/*" >/dev/null; then
    echo "== $name: sanitizer reports:"
    for f in "$logs"/*; do echo "--- $f"; cat "$f"; done
    rc=1
  fi
  echo "== $name: $([[ $rc == 0 ]] && echo PASS || echo FAIL)"
  return "$rc"
}

status=0
case $which in
  asan) run_one asan address,undefined "$@" || status=1 ;;
  tsan) run_one tsan thread "$@" || status=1 ;;
  all)
    run_one asan address,undefined "$@" || status=1
    run_one tsan thread "$@" || status=1
    ;;
  *) echo "usage: scripts/sanitize.sh [asan|tsan|all] [ctest args...]" >&2; exit 2 ;;
esac
exit "$status"
