#!/usr/bin/env bash
# README's first command: install, build, start a local cluster (2 agents with 2 GPU slots
# each), run examples/hello-gang.sh on it and print what both ranks wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
weft=$PWD/build/weft
example=$PWD/examples/hello-gang.sh
$weft up --agents 2 --gpus-per-agent 2
cd "$(mktemp -d /tmp/weft-demo-XXXXXX)"   # the job's output files land in the submit directory
id=$($weft submit --parsable "$example")
echo "submitted job $id; waiting for it"
$weft wait "$id"
for rank in 0 1; do $weft logs "$id" --rank "$rank"; done
$weft history
echo "(output files are in $PWD; the cluster keeps running: try 'build/weft run -N 2 -- hostname', then 'build/weft down')"
