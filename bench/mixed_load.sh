#!/usr/bin/env bash
# bench/mixed_load.sh [DURATION_S] [CLIENTS]: sustained mixed load (issue 5). Starts a local
# cluster (4 agents × 2 CPUs, state in a temp dir, server on 127.0.0.1 port 0), reads the
# server's RSS, runs weft_mixed_load (default 60 s, 50 clients: submit/list/show/cancel/nodes/
# history, see bench/mixed_load.cc), reads the RSS again, prints a summary and stops what it
# started. Figures in docs/reliability.md ("Load").
#   WEFT_MIXED_WEIGHTS=25,25,25,5,15,5   the mix (submit,list,show,cancel,nodes,history)
#   WEFT_BUILD=DIR   where `weft` and `weft_mixed_load` are (default: build-load/, else build/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${1:-60}
CLIENTS=${2:-50}
pick() { for d in ${WEFT_BUILD:-} "$root/build-load" "$root/build"; do [[ -x $d/$1 ]] && { echo "$d/$1"; return; }; done; return 0; }
W=$(pick weft)
L=$(pick weft_mixed_load)
[[ -n $W && -n $L ]] || { echo "build first: ninja -C build-load weft weft_mixed_load" >&2; exit 1; }
echo "weft: $W ($(date -u -r "$W" +%FT%TZ)); driver: $L" >&2

tmp=$(mktemp -d /tmp/weft-mixed-XXXXXX)
export HOME=$tmp WEFT_CONFIG=$tmp/config.json
unset WEFT_SERVER WEFT_TOKEN
pids=()
cleanup() {
  # `weft down` cancels what is left and stops the agents and server it started; then make
  # sure every pid we started is gone (by pid only), and remove the temp dir.
  timeout 120 "$W" down >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"

"$W" up --agents 4 --cpus-per-agent 2 --state-dir "$tmp/cluster" >/dev/null
cfg() { python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$WEFT_CONFIG" "$1"; }
server=$(cfg 'c["server"]')
server_pid=$(cfg 'c["server_pid"]')
read -r -a agent_pids <<<"$(cfg '" ".join(str(p) for p in c["agent_pids"])')"
pids=("${agent_pids[@]}" "$server_pid")
token=$(cat "$tmp/cluster/token")
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$server_pid/status"; }

rss_before=$(rss VmRSS)
set +e
"$L" --server "$server" --token "$token" --clients "$CLIENTS" --duration "$DURATION" --dir "$tmp" \
  ${WEFT_MIXED_WEIGHTS:+--weights "$WEFT_MIXED_WEIGHTS"} | tee "$tmp/driver.out"
driver_rc=${PIPESTATUS[0]}
set -e
rss_after=$(rss VmRSS)
rss_peak=$(rss VmHWM)
backlog=$("$W" queue -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
echo "server pid=$server_pid rss_before_kib=$rss_before rss_after_kib=$rss_after rss_peak_kib=$rss_peak queued_or_running_at_end=$backlog"
grep "^weft mixed" "$tmp/driver.out" | sed "s/^weft mixed/weft mixed_summary/; s/\$/ rss_before_mib=$((rss_before / 1024)) rss_after_mib=$((rss_after / 1024)) rss_peak_mib=$((rss_peak / 1024))/"
exit "$driver_rc"
