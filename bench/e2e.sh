#!/usr/bin/env bash
# bench/e2e.sh [N_API] [N_CLI]: Weft (4 agents × 2 CPUs) and the real Slurm that
# ../shared/bench/slurm starts (4 nodes × 2 CPUs, its tuned defaults) on the same trivial
# workloads, in one run. Prints "weft ..." and "slurm ..." key=value lines.
#   (a) N_API (5000) jobs through the REST API by 8 concurrent clients, to the last completion
#   (b) N_CLI (1000) jobs through the CLI one after another (weft submit / sbatch), to the last completion
#   (c) one job submit → done, median of 20
#   (d) `weft run true` vs `srun true`, median of 20 / 10
#   (e) durable API submissions/s of jobs that stay queued (no execution competing)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${WEFT_SHARED:-$root/../shared}
N_API=${1:-5000}
N_CLI=${2:-1000}
W=$root/build/weft
L=$root/build/weft_submit_load
[[ -x $W && -x $L ]] || { echo "build first: scripts/setup.sh" >&2; exit 1; }

now() { echo "$EPOCHREALTIME"; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN{printf "%.1f", (s>0)?n/s:0}'; }
median() { sort -g | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }

tmp=$(mktemp -d /tmp/weft-bench-XXXXXX)
export HOME=$tmp WEFT_CONFIG=$tmp/config.json
unset WEFT_SERVER WEFT_TOKEN
cleanup() { "$W" down >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
cd "$tmp"

"$W" up --agents 4 --cpus-per-agent 2 --gpus-per-agent 4 --state-dir "$tmp/cluster" >/dev/null
server=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"])' "$WEFT_CONFIG")
token=$(cat "$tmp/cluster/token")
queue_empty() { [[ $("$W" queue -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))') == 0 ]]; }

# (a) API, concurrent clients
"$L" --server "$server" --token "$token" --jobs "$N_API" --clients 8 --dir "$tmp"

# (b) CLI, sequential
printf '#!/bin/sh\n#SBATCH -o /dev/null\ntrue\n' >"$tmp/true.sh"
t0=$(now)
for ((i = 0; i < N_CLI; i++)); do "$W" submit --parsable "$tmp/true.sh" >/dev/null; done
t1=$(now)
until queue_empty; do sleep 0.05; done
t2=$(now)
echo "weft cli n=$N_CLI submit_s=$(dt "$t0" "$t1") submit_per_s=$(rate "$N_CLI" "$(dt "$t0" "$t1")") all_done_s=$(dt "$t0" "$t2") done_per_s=$(rate "$N_CLI" "$(dt "$t0" "$t2")")"

# (c) one job, submit → done
"$L" --server "$server" --token "$token" --reps 20 --dir "$tmp"

# (d) weft run true
lat=()
for _ in $(seq 20); do t0=$(now); "$W" run -- true; lat+=("$(dt "$t0" "$(now)")"); done
echo "weft run_true median_s=$(printf '%s\n' "${lat[@]}" | median) min_s=$(printf '%s\n' "${lat[@]}" | sort -g | head -1) max_s=$(printf '%s\n' "${lat[@]}" | sort -g | tail -1)"

# (e) durable submissions that stay queued (5-node jobs on 4 nodes)
"$L" --server "$server" --token "$token" --jobs "$N_API" --clients 16 --nodes 5 --wait 0 --dir "$tmp" |
  sed 's/^weft api/weft api_held/'
"$W" down >/dev/null

# Slurm, same machine, same run.
if [[ ${WEFT_BENCH_SLURM:-1} == 1 ]]; then
  command -v slurmctld >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; }
  chmod 755 "$tmp"  # munged wants every directory above its socket world-executable
  export SLURM_BENCH_DIR=$tmp/slurm
  "$shared/bench/slurm/start.sh" >/dev/null
  trap '"$shared/bench/slurm/stop.sh" --clean >/dev/null 2>&1 || true; cleanup' EXIT
  SLURM_BENCH_PARTS=live,srun,lat SLURM_BENCH_REPS=20 "$shared/bench/slurm/bench.sh" "$N_CLI"
  SLURM_BENCH_PARTS=held SLURM_BENCH_PAR=8 "$shared/bench/slurm/bench.sh" "$N_CLI" | grep held || true
  "$shared/bench/slurm/stop.sh" --clean >/dev/null
fi
