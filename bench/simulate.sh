#!/bin/sh
# Times `weft simulate` on the full philly-pollux trace (82,247 jobs): Helios' 352 nodes x 8
# GPUs, and a cluster shrunk 4x (88 nodes) with one queue per virtual cluster, weighted by the
# Helios node counts. Prints, per configuration, the median wall time of REPS runs, jobs/s at
# that median, the median CPU time (user + sys: steadier than wall time on a shared machine),
# and whether every run printed the same bytes. Results go to docs/benchmarks.md
# ("weft simulate"). Needs GNU time (/usr/bin/time) and bc.
# Usage: bench/simulate.sh [WEFT_BINARY] [REPS]   (default: build/weft, 3)
set -eu
WEFT=${1:-build/weft}
REPS=${2:-3}
TRACES=${TRACES:-../shared/traces}
POLLUX=$TRACES/philly-pollux/philly.csv
WEIGHTS=$TRACES/philly-pollux/philly_vc_nodes_helios.csv
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run NAME ARGS...: REPS timed runs; prints "NAME median_s=... jobs_per_s=... identical=yes|no".
run() {
  name=$1
  shift
  : >"$TMP/times"
  : >"$TMP/cpu"
  i=0
  while [ "$i" -lt "$REPS" ]; do
    /usr/bin/time -f '%e %U %S' -o "$TMP/time.$i" "$WEFT" simulate "$@" -o json >"$TMP/out.$i"
    awk '{print $1}' "$TMP/time.$i" >>"$TMP/times"
    awk '{print $2 + $3}' "$TMP/time.$i" >>"$TMP/cpu"
    i=$((i + 1))
  done
  median=$(sort -n "$TMP/times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  cpu=$(sort -n "$TMP/cpu" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  jobs=$(grep -o '"jobs":[0-9]*' "$TMP/out.0" | head -1 | cut -d: -f2)
  identical=yes
  for f in "$TMP"/out.*; do cmp -s "$f" "$TMP/out.0" || identical=no; done
  printf '%s median_s=%.2f jobs_per_s=%.0f cpu_median_s=%.2f identical=%s wall=%s\n' "$name" \
    "$median" "$(echo "$jobs / $median" | bc -l)" "$cpu" "$identical" "$(tr '\n' ' ' <"$TMP/times")"
  head -c 400 "$TMP/out.0"
  echo
}

run helios-352x8-easy --trace "$POLLUX" --nodes 352 --gpus-per-node 8
run shrunk-88x8-queues-easy --trace "$POLLUX" --nodes 88 --gpus-per-node 8 --queues-from-trace \
  --queue-weights "$WEIGHTS"
