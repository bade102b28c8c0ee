#!/usr/bin/env bash
# Installs what Weft needs (Debian packages) and builds it into build/. Idempotent: only
# missing packages are installed, and the build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake ninja-build pkg-config libboost-dev libboost-system-dev nlohmann-json3-dev
  libyaml-cpp-dev libcli11-dev libfmt-dev libspdlog-dev libexpected-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev procps iproute2 python3 passwd
  openssl  # tests: throwaway CAs and server certificates for the TLS tests
  prometheus
  slurmctld slurmd slurm-client munge  # tests/integration/slurm_*: a real Slurm on loopback
  chromium  # tests/e2e: the dashboard in headless Chromium, driven by playwright-core (npm)
  clang libclang-rt-14-dev)  # scripts/fuzz.sh: libFuzzer and the sanitizers' runtimes
# Node.js and npm for tests/e2e (fresh machines have them; Debian's packages otherwise).
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# tests/e2e's npm packages (playwright-core), from its lock file; only when the lock changed.
if command -v npm >/dev/null 2>&1 && [[ ! tests/e2e/node_modules/.package-lock.json -nt tests/e2e/package-lock.json ]]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j"${WEFT_BUILD_JOBS:-2}"
