#!/usr/bin/env bash
# README's second command (and CI's): install, build, run every test (unit + integration).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure -j"${WEFT_TEST_JOBS:-2}" --timeout 300
