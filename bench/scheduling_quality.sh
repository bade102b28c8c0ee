#!/usr/bin/env bash
# bench/scheduling_quality.sh: writes docs/scheduling-quality.md (issue 3, "Quality").
#   1. Per philly-muri trace on 8 nodes x 8 GPUs: the published SRTF / SRSF / Tiresias-L numbers,
#      Weft's reproduction of them (`weft simulate --policy srtf|srsf|tiresias-l`), and Weft's
#      production policies (easy = the default, fifo, conservative) which never preempt and know
#      only time limits (--time-limits hour, then hour-x2).
#   2. A fair-share study on philly-pollux, virtual clusters as queues weighted by their
#      Helios node counts, on the 352-node cluster shrunk 4x and 8x.
# Environment: WEFT (a built weft binary; default: build it in $BUILD_DIR, default build/),
# WEFT_SHARED (default ../shared), MURI_TRACES (default "trace1 trace3 trace1_pr trace3_pr";
# trace2 and trace4 work too but their conservative runs take minutes), POLLUX_SHRINK (default
# "4 8"), OUT (default docs/scheduling-quality.md), RESULTS (a directory to keep the JSON in;
# runs whose JSON is already there are not repeated, so an interrupted run resumes).
# Needs python3 (scripts/setup.sh installs it). Deterministic: `weft simulate` prints the same
# bytes for the same input, so only the date line changes between runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${WEFT_SHARED:-$root/../shared}
build=${BUILD_DIR:-$root/build}
out=${OUT:-$root/docs/scheduling-quality.md}
muri_traces=${MURI_TRACES:-"trace1 trace3 trace1_pr trace3_pr"}
pollux_shrink=${POLLUX_SHRINK:-"4 8"}

muri=$shared/traces/philly-muri
pollux=$shared/traces/philly-pollux
[[ -f $muri/trace1.csv ]] || { echo "philly-muri traces not found under $muri" >&2; exit 1; }

weft=${WEFT:-}
if [[ -z $weft ]]; then
  if [[ ! -f $build/build.ninja ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  ninja -C "$build" weft >/dev/null
  weft=$(find "$build" -maxdepth 2 -type f -name weft -perm -u+x | head -n1)
fi
[[ -x $weft ]] || { echo "no weft binary (set WEFT=path/to/weft)" >&2; exit 1; }

if [[ -n ${RESULTS:-} ]]; then
  results=$RESULTS
  mkdir -p "$results"
else
  results=$(mktemp -d /tmp/weft-quality-XXXXXX)
  trap 'rm -rf "$results"' EXIT
fi

# run NAME ARGS...: one `weft simulate -o json` into $results/NAME.json, its wall time kept.
run() {
  local name=$1
  shift
  [[ -s $results/$name.json && -s $results/$name.secs ]] && return 0
  local start=$EPOCHREALTIME
  "$weft" simulate -o json "$@" >"$results/$name.json.tmp"
  mv "$results/$name.json.tmp" "$results/$name.json"
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f\n", b-a}' >"$results/$name.secs"
  echo "  $name ($(cat "$results/$name.secs") s)" >&2
}

for t in $muri_traces; do
  echo "$t" >&2
  for p in srtf srsf tiresias-l; do
    run "$t.$p" --trace "$muri/$t.csv" --nodes 8 --gpus-per-node 8 --policy "$p"
  done
  for p in easy fifo conservative; do
    for limits in hour hour-x2; do
      run "$t.$p.$limits" --trace "$muri/$t.csv" --nodes 8 --gpus-per-node 8 --policy "$p" --time-limits "$limits"
    done
  done
done

if [[ -f $pollux/philly.csv ]]; then
  for k in $pollux_shrink; do
    nodes=$((352 / k))
    echo "philly-pollux on $nodes nodes" >&2
    run "pollux.$nodes" --trace "$pollux/philly.csv" --nodes "$nodes" --gpus-per-node 8 \
      --queues-from-trace --queue-weights "$pollux/philly_vc_nodes_helios.csv" --share-interval 604800
  done
fi

mkdir -p "$(dirname "$out")"
python3 "$root/bench/scheduling_quality.py" --results "$results" --muri "$muri" \
  --traces "$muri_traces" --pollux-nodes "$(for k in $pollux_shrink; do printf '%d ' $((352 / k)); done)" \
  --command "bench/scheduling_quality.sh (MURI_TRACES=\"$muri_traces\" POLLUX_SHRINK=\"$pollux_shrink\")" \
  >"$out"
echo "wrote $out" >&2
