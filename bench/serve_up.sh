#!/usr/bin/env bash
# Inference service timings on a local cluster (`weft up` in a temp dir, cgroups off):
#  (a) `weft serve up` → first successful request through the endpoint (`--wait` measures it:
#      parse + POST + replica job scheduled + process start + first readiness probe + request);
#  (b) a load step (1 → ~40 requests/s at target 5 qps/replica, upscale_delay 0s) → a second
#      replica ready, measured by polling `weft serve status -o json` every 50 ms.
# Replicas are python3 http.server processes (readiness period 100 ms). Prints one line each.
# Usage: bench/serve_up.sh [BUILD_DIR]   Environment: REPS (5)
set -euo pipefail

BUILD=$(realpath "${1:-build}")
WEFT=$BUILD/weft
REPS=${REPS:-5}
tmp=$(mktemp -d)
export WEFT_CONFIG=$tmp/config.json
unset WEFT_SERVER WEFT_TOKEN WEFT_TOKEN_FILE
cleanup() { "$WEFT" down >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
"$WEFT" up --agents 2 --cpus-per-agent 2 --memory-per-agent 2G --state-dir "$tmp/state" --isolation off >/dev/null
cd "$tmp"
cat > replica.py <<'PY'
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"ok"
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((os.environ["MASTER_ADDR"], int(os.environ["WEFT_PORT"])), H).serve_forever()
PY
spec() {  # name, replicas, extra
  printf 'name: %s\nreplicas: %s\nresources: {cpus: 0.5, memory: 128M}\nreadiness: {path: /, period: 100ms}\nrun: exec python3 replica.py\n%s' "$1" "$2" "${3:-}"
}

times=()
for i in $(seq 1 "$REPS"); do
  spec "up-$i" 1 > svc.yaml
  t=$("$WEFT" serve up svc.yaml --wait --timeout 60 | sed -n 's/^first request answered after \([0-9.]*\)s.*/\1/p')
  times+=("$t")
  "$WEFT" serve down "up-$i" >/dev/null
done
printf 'serve_up_to_first_request reps=%s median_s=%s all=%s\n' "$REPS" \
  "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" "${times[*]}"

spec step '{min: 1, max: 2}' 'autoscale: {target_qps_per_replica: 5, upscale_delay: 0s, downscale_delay: 600s}
' > step.yaml
endpoint=$("$WEFT" serve up step.yaml --wait --timeout 60 | sed -n 's/.*endpoint \(http[^ ]*\).*/\1/p')
python3 - "$WEFT" "$endpoint" <<'PY'
import json, subprocess, sys, threading, time, urllib.request
weft, endpoint = sys.argv[1], sys.argv[2]
stop = False
def load():
    while not stop:
        try: urllib.request.urlopen(endpoint + "/", timeout=5).read()
        except Exception: pass
        time.sleep(0.025)
threading.Thread(target=load, daemon=True).start()
start = time.monotonic()
first_want = None
while time.monotonic() - start < 120:
    s = json.loads(subprocess.check_output([weft, "serve", "status", "step", "-o", "json"]))
    if first_want is None and s["desired_replicas"] >= 2: first_want = time.monotonic() - start
    if s["ready_replicas"] >= 2:
        print(f"load_step_to_ready_replica total_s={time.monotonic() - start:.2f} "
              f"decision_s={first_want:.2f} start_to_ready_s={time.monotonic() - start - first_want:.2f}")
        break
    time.sleep(0.05)
else:
    print("load_step_to_ready_replica timed out")
stop = True
PY
"$WEFT" serve down step >/dev/null
