#!/usr/bin/env bash
# README's first command: install, build, start a local cluster (2 agents with 2 GPU slots
# each), run examples/hello-gang.sh on it and print what both ranks wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
weft=build/weft
$weft up --agents 2 --gpus-per-agent 2
id=$($weft submit --parsable examples/hello-gang.sh)
echo "submitted job $id; waiting for it"
$weft wait "$id"
for rank in 0 1; do $weft logs "$id" --rank "$rank"; done
$weft history
echo "(the cluster keeps running: try '$weft run -N 2 -- hostname', then '$weft down')"
