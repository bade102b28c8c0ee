#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan) in build-fuzz/ and runs each
# for a bounded number of inputs from its seed corpus, failing on any crash, hang, leak or
# sanitizer report. Usage: scripts/fuzz.sh [RUNS_PER_TARGET] (default 20000; also
# WEFT_FUZZ_RUNS). WEFT_FUZZ_MAX_TIME caps each target's seconds (default 60), WEFT_FUZZ_TARGETS
# picks targets (space-separated), WEFT_FUZZ_BUILD_DIR the build directory.
# The committed corpus is never modified: each run starts from a temporary copy, and a crashing
# input is kept in build-fuzz/artifacts/ to reproduce with `build-fuzz/fuzz/<target> FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-${WEFT_FUZZ_RUNS:-20000}}"
max_time="${WEFT_FUZZ_MAX_TIME:-60}"
build_dir="${WEFT_FUZZ_BUILD_DIR:-build-fuzz}"
targets=(${WEFT_FUZZ_TARGETS:-batch_script_fuzzer yaml_job_fuzzer json_model_fuzzer api_handler_fuzzer trace_reader_fuzzer})

clangxx="$(command -v clang++ || command -v clang++-14 || true)"
if [[ -z "$clangxx" ]]; then
  echo "fuzz.sh: clang++ is not installed (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$clangxx" -DWEFT_FUZZ=ON >/dev/null
ninja -C "$build_dir" -j"${WEFT_BUILD_JOBS:-2}" "${targets[@]}"

artifacts="$PWD/$build_dir/artifacts"
mkdir -p "$artifacts"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Sanitizer reports end the run with a non-zero status (the targets are built with
# -fno-sanitize-recover); leaks count as failures too.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
for target in "${targets[@]}"; do
  corpus="$work/$target"
  mkdir -p "$corpus"
  cp fuzz/corpus/"$target"/* "$corpus"/
  start=$SECONDS
  echo "== $target: $runs runs (at most ${max_time}s)"
  if "$build_dir/fuzz/$target" "$corpus" -runs="$runs" -max_total_time="$max_time" -timeout=5 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$target-" >"$work/$target.log" 2>&1; then
    echo "   ok in $((SECONDS - start))s: $(grep -E '^stat::number_of_executed_units' "$work/$target.log" | awk '{print $2}') inputs"
  else
    echo "   FAILED after $((SECONDS - start))s; last lines of its log:"
    tail -n 60 "$work/$target.log" | sed 's/^/   | /'
    failed+=("$target")
  fi
done

if ((${#failed[@]})); then
  echo "fuzz.sh: failures in: ${failed[*]} (inputs in $artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: every target ran clean"
