#!/usr/bin/env bash
# README's second command (and CI's): install, build, run every test (unit + integration).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
(cd build && ctest --output-on-failure -j"${WEFT_TEST_JOBS:-2}" --timeout 300)
# Input hardening: every libFuzzer target (fuzz/) for a bounded number of inputs from its seed
# corpus, in its own clang build (build-fuzz/). WEFT_SKIP_FUZZ=1 skips it.
if [[ "${WEFT_SKIP_FUZZ:-0}" != 1 ]]; then
  WEFT_FUZZ_MAX_TIME="${WEFT_FUZZ_MAX_TIME:-45}" scripts/fuzz.sh "${WEFT_FUZZ_RUNS:-20000}"
fi
