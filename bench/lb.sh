#!/usr/bin/env bash
# Load balancer side by side: wrk against one replica directly, through Weft's LoadBalancer
# (weft_lb_bench_server) and through nginx as a reverse proxy with upstream keep-alive, at the
# same worker count, in one run. Prints requests/s, p50 and p99 for each as a Markdown table.
#
# Usage: bench/lb.sh [BUILD_DIR]   (default: build; needs weft_lb_replica, weft_lb_bench_server)
# Environment: WORKERS (proxy workers, 1), REPLICAS (2), REPLICA_THREADS (1), THREADS (wrk
#   threads, 1), CONNS (32), DURATION (10s), WARMUP (2s), ROUNDS (1), PICKER (round_robin),
#   LATENCY_CONNS (1: a second pass at low concurrency, where the latency a proxy adds is not
#   hidden by queueing; 0 skips it).
# Installs wrk and nginx-light with apt-get when missing.
set -euo pipefail

BUILD=${1:-build}
WORKERS=${WORKERS:-1}
REPLICAS=${REPLICAS:-2}
REPLICA_THREADS=${REPLICA_THREADS:-1}
THREADS=${THREADS:-1}
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-1}
PICKER=${PICKER:-round_robin}
LATENCY_CONNS=${LATENCY_CONNS:-1}

for bin in weft_lb_replica weft_lb_bench_server; do
  if [[ ! -x "$BUILD/$bin" ]]; then
    echo "lb.sh: $BUILD/$bin is missing; build it: ninja -C $BUILD $bin" >&2
    exit 1
  fi
done

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get install -y wrk nginx-light >/dev/null ||
    { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk nginx-light >/dev/null; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

TMP=$(mktemp -d /tmp/weft-lb-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# Starts a program that prints "port N" once listening; sets PORT.
start_with_port() {
  local out=$1
  shift
  "$@" >"$out" 2>"$out.err" &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    if grep -q '^port ' "$out" 2>/dev/null; then
      PORT=$(awk '/^port /{print $2; exit}' "$out")
      return 0
    fi
    sleep 0.05
  done
  echo "lb.sh: $* did not start: $(cat "$out.err")" >&2
  exit 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

REPLICA_PORTS=()
for i in $(seq 1 "$REPLICAS"); do
  start_with_port "$TMP/replica$i.out" "$BUILD/weft_lb_replica" --threads "$REPLICA_THREADS"
  REPLICA_PORTS+=("$PORT")
done
BACKENDS=$(printf '127.0.0.1:%s,' "${REPLICA_PORTS[@]}")
BACKENDS=${BACKENDS%,}

start_with_port "$TMP/lb.out" "$BUILD/weft_lb_bench_server" --workers "$WORKERS" \
  --picker "$PICKER" --backends "$BACKENDS"
LB_PORT=$PORT

NGINX_PORT=$(free_port)
{
  echo "worker_processes $WORKERS;"
  echo "pid $TMP/nginx.pid;"
  echo "error_log $TMP/nginx-error.log warn;"
  echo "events { worker_connections 4096; }"
  echo "http {"
  echo "  access_log off;"
  echo "  client_body_temp_path $TMP/body; proxy_temp_path $TMP/proxy;"
  echo "  fastcgi_temp_path $TMP/fastcgi; uwsgi_temp_path $TMP/uwsgi; scgi_temp_path $TMP/scgi;"
  echo "  upstream replicas {"
  for p in "${REPLICA_PORTS[@]}"; do echo "    server 127.0.0.1:$p;"; done
  echo "    keepalive 256;"
  echo "  }"
  echo "  server {"
  echo "    listen 127.0.0.1:$NGINX_PORT;"
  echo "    location / {"
  echo "      proxy_pass http://replicas;"
  echo "      proxy_http_version 1.1;"
  echo "      proxy_set_header Connection \"\";"
  echo "    }"
  echo "  }"
  echo "}"
} >"$TMP/nginx.conf"
"$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -g 'daemon off;' 2>"$TMP/nginx.err" &
PIDS+=($!)
for _ in $(seq 1 200); do
  curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" 2>/dev/null && break
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$NGINX_PORT),0.1)" \
    2>/dev/null && break
  sleep 0.05
done

# Latency in wrk's units (us, ms, s) to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

# run NAME URL [CONNS]: prints a table row and appends "conns name rps p50 p99" to results.
run() {
  local name=$1 url=$2 conns=${3:-$CONNS}
  wrk -t"$THREADS" -c"$conns" -d"$WARMUP" "$url" >/dev/null
  local out
  out=$(wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency "$url")
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  errors=$(awk '/Non-2xx|Socket errors/{print}' <<<"$out" | tr '\n' ' ')
  printf '| %s | %s | %s | %.0f | %s | %s | %s |\n' "$ROUND" "$conns" "$name" "$rps" "$p50" "$p99" \
    "${errors:--}"
  echo "$conns $name $rps $p50 $p99" >>"$TMP/results"
}

echo "# weft LB vs nginx: $REPLICAS replicas, $WORKERS proxy worker(s)," \
  "wrk -t$THREADS -c$CONNS -d$DURATION, $(nproc) CPUs, $(date -u +%F)"
echo
echo "| round | conns | path | req/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|---|"
for ROUND in $(seq 1 "$ROUNDS"); do
  run direct "http://127.0.0.1:${REPLICA_PORTS[0]}/"
  run weft "http://127.0.0.1:$LB_PORT/"
  run nginx "http://127.0.0.1:$NGINX_PORT/"
done
# summary CONNS: the means over the rounds at CONNS, against the targets.
summary() {
  awk -v c="$1" '$1 == c { n[$2]++; r[$2] += $3; p50[$2] += $4; p99[$2] += $5 }
    END {
      for (k in n) { r[k] /= n[k]; p50[k] /= n[k]; p99[k] /= n[k] }
      printf "-c%s: weft/nginx req/s %.2f (target >= 0.90); ", c, r["weft"] / r["nginx"]
      printf "added p50 over direct: weft %.3f ms, nginx %.3f ms (target <= 0.2 ms); ",
        p50["weft"] - p50["direct"], p50["nginx"] - p50["direct"]
      printf "weft/nginx p99 %.2f (target <= 1.2)\n", p99["weft"] / p99["nginx"]
    }' "$TMP/results"
}
SUMMARY=$(summary "$CONNS")
if [[ "$LATENCY_CONNS" -gt 0 ]]; then
  ROUND=lat
  run direct "http://127.0.0.1:${REPLICA_PORTS[0]}/" "$LATENCY_CONNS"
  run weft "http://127.0.0.1:$LB_PORT/" "$LATENCY_CONNS"
  run nginx "http://127.0.0.1:$NGINX_PORT/" "$LATENCY_CONNS"
  SUMMARY+=$'\n'$(summary "$LATENCY_CONNS")
fi
echo
echo "$SUMMARY"
