#!/usr/bin/env bash
# bench/isolation.sh [N] [ROUNDS]: what isolation costs end to end. A local cluster (4 agents
# × 2 CPUs) runs N trivial jobs through the REST API (8 clients, to the last completion) and
# `weft run true` 20 times, with the agents' --isolation on (a cgroup per task in every
# controller, limits, usage read at the end) and off, alternating for ROUNDS rounds so that
# machine noise hits both alike. Prints one line per round and mode, then medians and ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-2000}
ROUNDS=${2:-3}
W=$root/build/weft
L=$root/build/weft_submit_load
[[ -x $W && -x $L ]] || { echo "build first: scripts/setup.sh" >&2; exit 1; }

now() { echo "$EPOCHREALTIME"; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", b-a}'; }
median() { sort -g | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }

tmp=$(mktemp -d /tmp/weft-isobench-XXXXXX)
export HOME=$tmp WEFT_CONFIG=$tmp/config.json
unset WEFT_SERVER WEFT_TOKEN
cleanup() { "$W" down >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
cd "$tmp"

declare -A rates runs
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in on off; do
    rm -rf "$tmp/cluster"
    "$W" up --agents 4 --cpus-per-agent 2 --isolation "$mode" --state-dir "$tmp/cluster" >/dev/null
    server=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"])' "$WEFT_CONFIG")
    token=$(cat "$tmp/cluster/token")
    line=$("$L" --server "$server" --token "$token" --jobs "$N" --clients 8 --dir "$tmp")
    rate=$(sed -n 's/.*done_per_s=\([0-9.]*\).*/\1/p' <<<"$line")
    lat=()
    for _ in $(seq 20); do t0=$(now); "$W" run -- true; lat+=("$(dt "$t0" "$(now)")"); done
    run=$(printf '%s\n' "${lat[@]}" | median)
    echo "round=$r isolation=$mode jobs_per_s=$rate run_true_median_s=$run"
    rates[$mode]+="$rate "
    runs[$mode]+="$run "
    "$W" down >/dev/null
  done
done
on_rate=$(tr ' ' '\n' <<<"${rates[on]}" | grep . | median)
off_rate=$(tr ' ' '\n' <<<"${rates[off]}" | grep . | median)
on_run=$(tr ' ' '\n' <<<"${runs[on]}" | grep . | median)
off_run=$(tr ' ' '\n' <<<"${runs[off]}" | grep . | median)
echo "median isolation=on jobs_per_s=$on_rate run_true_s=$on_run"
echo "median isolation=off jobs_per_s=$off_rate run_true_s=$off_run"
awk -v a="$on_rate" -v b="$off_rate" -v c="$on_run" -v d="$off_run" \
  'BEGIN{printf "ratio throughput_on/off=%.3f run_true_on/off=%.3f\n", a/b, c/d}'
