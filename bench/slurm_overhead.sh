#!/usr/bin/env bash
# bench/slurm_overhead.sh [N] [ROUNDS] [REPS]: what Weft adds in front of a real Slurm. Starts
# Slurm 22.05 on loopback (../shared/bench/slurm/start.sh: 4 slurmd × nproc CPUs on this box)
# and a local Weft cluster whose server has that Slurm as pool `hpc`, then, in the same run,
# alternating the order each round so that machine noise hits both alike:
#   throughput: N trivial batch jobs submitted one after another (`sbatch job.sh` directly,
#               `weft submit -p hpc job.sh` through Weft), first submit -> the last is seen
#               COMPLETED by the submitter (direct: squeue; Weft: `weft wait`), in jobs/s;
#   latency:    REPS single jobs one after another, each after a random 0-1 s think time;
#               the job's first command writes `date +%s.%N`: submit -> that time is
#               submit-to-start, and submit -> seen COMPLETED (squeue / `weft wait`) is
#               submit-to-done (medians over all rounds' samples).
# Every job must end COMPLETED. Prints one line per round and path, then medians and the
# ratios weft/direct (jobs/s: below 1 is slower; latency: above 1 is slower).
# Knobs: SLURM_BENCH_PORT (default: a free one), SLURM_MIN_JOB_AGE (default 300: finished jobs
# stay in squeue, there is no accounting DB for Weft to ask instead; it must outlast a round,
# since the direct path and the Slurm-side span also read finished jobs from squeue).
set -euo pipefail
shopt -s inherit_errexit
root=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-200}
ROUNDS=${2:-3}
REPS=${3:-15}
W=$root/build/weft
SLURM_KIT=${SLURM_KIT:-$root/../shared/bench/slurm}
[[ -x $W ]] || { echo "build first: scripts/setup.sh" >&2; exit 1; }
[[ -x $SLURM_KIT/start.sh ]] || { echo "no Slurm harness at $SLURM_KIT" >&2; exit 1; }
SLURM_KIT=$(cd "$SLURM_KIT" && pwd)

now() { echo "$EPOCHREALTIME"; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", b-a}'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN{printf "%.2f", (s>0)?n/s:0}'; }
median() { sort -g | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
die() { echo "slurm_overhead: $*" >&2; exit 1; }

# A base port with PORT..PORT+1 (slurmctld) and PORT+11..PORT+14 (slurmd) free on loopback.
free_port() {
  python3 - <<'EOF'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 60000)
    socks, ok = [], True
    for p in [base, base + 1] + [base + 10 + i for i in range(1, 9)]:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p)); socks.append(s)
        except OSError:
            ok = False; break
    for s in socks: s.close()
    if ok:
        print(base); break
EOF
}

tmp=$(mktemp -d /tmp/weft-slurmbench-XXXXXX)
chmod 755 "$tmp"  # munged wants the path to its socket reachable
export SLURM_BENCH_DIR=$tmp/slurm
export SLURM_BENCH_PORT=${SLURM_BENCH_PORT:-$(free_port)}
export SLURM_BENCH_EXTRA="MinJobAge=${SLURM_MIN_JOB_AGE:-300}"  # later line wins over start.sh's
export SLURM_CONF=$SLURM_BENCH_DIR/etc/slurm.conf
export HOME=$tmp WEFT_CONFIG=$tmp/config.json
unset WEFT_SERVER WEFT_TOKEN
weft_up=0
cleanup() {
  [[ $weft_up == 0 ]] || "$W" down >/dev/null 2>&1 || true
  "$SLURM_KIT/stop.sh" >/dev/null 2>&1 || true
  rm -rf -- "$tmp"
}
trap cleanup EXIT
cd "$tmp"
load=$(cut -d' ' -f1-3 /proc/loadavg)

"$SLURM_KIT/start.sh" >"$tmp/slurm-start.log" 2>&1 || { cat "$tmp/slurm-start.log" >&2; die "Slurm did not start"; }
read -r nodes cpus < <(sinfo -h -o '%D %c' | head -1)
partition=$(sinfo -h -o '%P' | head -1 | tr -d '*')

cat >"$tmp/weft.yaml" <<EOF
pools:
  - {name: default, backend: agents}
  - {name: hpc, backend: slurm, slurm: {partition: $partition, bin_dir: /usr/bin, conf: $SLURM_CONF}}
EOF
"$W" up --config "$tmp/weft.yaml" --agents 1 --state-dir "$tmp/cluster" >"$tmp/weft-up.log" 2>&1 ||
  { cat "$tmp/weft-up.log" >&2; die "weft up failed"; }
weft_up=1

# The jobs: job.sh does nothing; stamp.sh's first command writes the start time into $1.
printf '#!/bin/sh\ntrue\n' >"$tmp/job.sh"
# shellcheck disable=SC2016  # $1 is the job's argument, expanded when the job runs
printf '#!/bin/sh\ndate +%%s.%%N >"$1.tmp" && mv "$1.tmp" "$1"\n' >"$tmp/stamp.sh"
chmod +x "$tmp/job.sh" "$tmp/stamp.sh"
SB=(sbatch --parsable -p "$partition" -o /dev/null -e /dev/null)
WS=("$W" submit --parsable -p hpc -o /dev/null -e /dev/null)

# Direct: until every Slurm job in $@ is COMPLETED (squeue; 60 s + 1 s per job, then fail).
slurm_wait() {
  local ids deadline states; ids=$(IFS=,; echo "$*")
  deadline=$(awk -v t="$(now)" -v n=$# 'BEGIN{printf "%.3f", t + 60 + n}')
  while true; do
    states=$(squeue -h -t all -j "$ids" -o %T 2>/dev/null | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
    [[ $states == "COMPLETED=$# " ]] && return 0
    [[ $states != *FAIL* && $states != *CANCEL* && $states != *TIMEOUT* ]] || die "Slurm jobs ended badly: $states"
    awk -v t="$(now)" -v d="$deadline" 'BEGIN{exit !(t > d)}' && die "Slurm jobs not done in time: $states"
    sleep 0.02  # poll interval, not synchronisation
  done
}
# Through Weft: `weft wait` long-polls the API; it fails unless every job ended COMPLETED.
weft_wait() { "$W" wait --timeout $((60 + $#)) "$@" >/dev/null || die "Weft jobs did not all complete: $*"; }

# Slurm's own view of Slurm jobs $@ (all finished, still in squeue): first submit -> last end,
# in whole seconds (squeue's resolution).
slurm_span() {
  squeue -h -t all -j "$(IFS=,; echo "$*")" -o '%V %e' | tr 'T' ' ' |
    awk '{print $1" "$2; print $3" "$4}' | sort | sed -n '1p;$p' | date -f - +%s |
    paste -sd' ' | awk '{print $2 - $1}'
}
last_slurm_id() { squeue -h -t all -o %i | sort -n | tail -1; }

# throughput direct|weft -> "jobs/s submit/s slurm_span_s": N jobs, first submit -> the last
# seen COMPLETED; the N submissions alone; the same jobs' first submit -> last end in Slurm.
throughput() {
  local ids=() i t0 t1 first last slurm_ids
  first=$(last_slurm_id)
  t0=$(now)
  for ((i = 0; i < N; i++)); do
    if [[ $1 == direct ]]; then ids+=("$("${SB[@]}" "$tmp/job.sh")"); else ids+=("$("${WS[@]}" "$tmp/job.sh")"); fi
  done
  t1=$(now)
  if [[ $1 == direct ]]; then slurm_wait "${ids[@]}"; else weft_wait "${ids[@]}"; fi
  echo -n "$(rate "$N" "$(dt "$t0" "$(now)")") $(rate "$N" "$(dt "$t0" "$t1")") "
  # The Slurm jobs of this phase: the ids after the last one before it (nothing else submits).
  last=$(last_slurm_id)
  slurm_ids=$(seq $((${first:-0} + 1)) "$last")
  [[ $(wc -w <<<"$slurm_ids") == "$N" ]] || die "$1: $N jobs became $(wc -w <<<"$slurm_ids") Slurm jobs"
  # shellcheck disable=SC2086  # one argument per id
  slurm_span $slurm_ids
}

# latency direct|weft -> "median_start_s median_done_s" of REPS single jobs; every sample is
# also appended to $tmp/lat-<path>-start|done for the pooled figures. Before each submission a
# random think time of 0-1 s, so that submissions meet Slurm's 1 s scheduler tick and Weft's
# 1 s squeue poll at random phases (back to back, the phase would be locked for a whole round).
latency() {
  local st_samples=() dn_samples=() i t0 id f deadline
  for ((i = 0; i < REPS; i++)); do
    f=$tmp/stamp-$1-$RANDOM-$i
    sleep "$(awk -v r="$RANDOM" 'BEGIN{printf "%.3f", r / 32768}')"  # think time, not synchronisation
    t0=$(now)
    if [[ $1 == direct ]]; then id=$("${SB[@]}" "$tmp/stamp.sh" "$f"); else id=$("${WS[@]}" "$tmp/stamp.sh" "$f"); fi
    deadline=$(awk -v t="$t0" 'BEGIN{printf "%.3f", t + 60}')
    until [[ -s $f ]]; do
      awk -v t="$(now)" -v d="$deadline" 'BEGIN{exit !(t > d)}' && die "$1 job $id did not start in 60 s"
      sleep 0.005  # poll interval, not synchronisation
    done
    if [[ $1 == direct ]]; then slurm_wait "$id"; else weft_wait "$id"; fi
    dn_samples+=("$(dt "$t0" "$(now)")")
    st_samples+=("$(dt "$t0" "$(cat "$f")")")
  done
  printf '%s\n' "${st_samples[@]}" >>"$tmp/lat-$1-start"
  printf '%s\n' "${dn_samples[@]}" >>"$tmp/lat-$1-done"
  echo "$(printf '%s\n' "${st_samples[@]}" | median) $(printf '%s\n' "${dn_samples[@]}" | median)"
}
mean() { awk '{s += $1} END{printf "%.4f", s / NR}'; }

echo "setup slurm=$(sinfo -V | awk '{print $2}') nodes=$nodes cpus_per_node=$cpus partition=$partition" \
  "min_job_age=${SLURM_MIN_JOB_AGE:-300} cores=$(nproc) n=$N rounds=$ROUNDS reps=$REPS load_at_start=\"$load\""
declare -A rates subs spans
for ((r = 1; r <= ROUNDS; r++)); do
  order=(direct weft); ((r % 2)) || order=(weft direct)
  for path in "${order[@]}"; do
    th=$(throughput "$path")
    read -r rt sr span <<<"$th"
    lat=$(latency "$path")
    read -r st dn <<<"$lat"
    echo "round=$r path=$path jobs_per_s=$rt submit_per_s=$sr slurm_first_submit_to_last_end_s=$span submit_to_start_median_s=$st submit_to_done_median_s=$dn"
    rates[$path]+="$rt "
    subs[$path]+="$sr "
    spans[$path]+="$span "
  done
done
# Throughput: median of the rounds. Latency: median (and mean) of all samples of all rounds.
declare -A pst pdn
for path in direct weft; do
  pst[$path]=$(median <"$tmp/lat-$path-start")
  pdn[$path]=$(median <"$tmp/lat-$path-done")
  echo "median path=$path jobs_per_s=$(med "${rates[$path]}") submit_per_s=$(med "${subs[$path]}")" \
    "slurm_span_s=$(med "${spans[$path]}") submit_to_start_s=${pst[$path]}" \
    "(mean $(mean <"$tmp/lat-$path-start")) submit_to_done_s=${pdn[$path]} (mean $(mean <"$tmp/lat-$path-done"))" \
    "samples=$(wc -l <"$tmp/lat-$path-start")"
done
awk -v a="$(med "${rates[weft]}")" -v b="$(med "${rates[direct]}")" -v g="$(med "${subs[weft]}")" \
  -v h="$(med "${subs[direct]}")" -v c="${pst[weft]}" -v d="${pst[direct]}" -v e="${pdn[weft]}" -v f="${pdn[direct]}" \
  'BEGIN{printf "ratio jobs_per_s_weft/direct=%.3f submit_per_s_weft/direct=%.3f submit_to_start_weft/direct=%.3f submit_to_done_weft/direct=%.3f\n", a/b, g/h, c/d, e/f}'
