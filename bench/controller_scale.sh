#!/usr/bin/env bash
# bench/controller_scale.sh — the controller and the data plane at 10,000 objects (issue 15 item 5), without
# Kubernetes: tollgate-controller --source dir: reads N ApiProxies (default 9,999: with the one EnvironmentGroup
# that is the dir source's cap of 10,000 objects, TG_DIR_MAX_OBJECTS) from YAML manifests generated into a
# directory, translates them and pushes the snapshot to a real data plane (--workers 2) on its control socket.
#
#   1. initial push: `tollgate-controller --once` timed from exec to exit (manifests parsed, translated, PUT
#      /snapshot acknowledged), `--print` timed alone (parse + translate, no push), and the data plane's own
#      apply time (tollgate_snapshot_apply_seconds on /metrics: validate, build, swap).
#   2. SESSIONS live WebSocket sessions (default 1,000) through the data plane to a tollgate-bench backend,
#      each echoing one message every 100 ms; then every other ApiProxy is changed (its target port and idle
#      timeout) and pushed again, timed the same way, while the sessions run; then every session must still
#      echo. A session that closes, errors or misses an echo is counted as disturbed; the script fails unless
#      that count is 0.
# Prints RESULT lines and a summary. Knobs: N, SESSIONS, BENCH_PORT_BASE (default 18880), TOLLGATE_BUILD.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${TOLLGATE_BUILD:-build}
N=${N:-9999}
SESSIONS=${SESSIONS:-1000}
PORT_BASE=${BENCH_PORT_BASE:-18880}
DP_PORT=$PORT_BASE ADMIN_PORT=$((PORT_BASE + 1)) BACKEND_PORT=$((PORT_BASE + 2))
HOST=bench.example.com

for b in tollgate-controller tollgate-dataplane tollgate-bench; do
  [ -x "$BUILD/$b" ] || { echo "controller_scale: $BUILD/$b is missing (make)" >&2; exit 1; }
done
TMP=$(mktemp -d /tmp/tg-bench-ctlscale.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ "${BENCH_KEEP_TMP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# gen VARIANT: the manifests into $TMP/manifests (10 files); VARIANT 1 changes every other ApiProxy
gen() {
  python3 - "$TMP/manifests" "$N" "$BACKEND_PORT" "$HOST" "$1" <<'PY'
import os, sys
out, n, backend, host, variant = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
os.makedirs(out, exist_ok=True)
docs = [[] for _ in range(10)]
docs[0].append(f"""apiVersion: tollgate.dev/v1alpha1
kind: EnvironmentGroup
metadata: {{name: bench, namespace: bench}}
spec: {{hostnames: ["{host}"], environments: [prod]}}
""")
# the live proxy: never changed
docs[0].append(f"""apiVersion: tollgate.dev/v1alpha1
kind: ApiProxy
metadata: {{name: live, namespace: bench}}
spec:
  environments: [prod]
  basePath: /live
  target: {{url: "http://127.0.0.1:{backend}"}}
  websocket: {{enabled: true, idleTimeout: 300s}}
""")
for i in range(n - 1):
    changed = variant == 1 and i % 2 == 0
    port, idle = (8081, "301s") if changed else (8080, "300s")
    docs[i % 10].append(f"""apiVersion: tollgate.dev/v1alpha1
kind: ApiProxy
metadata: {{name: p{i:05d}, namespace: bench}}
spec:
  environments: [prod]
  basePath: /svc/{i}
  target: {{url: "http://10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:{port}"}}
  websocket: {{enabled: true, idleTimeout: {idle}}}
""")
for k, d in enumerate(docs):
    tmp = f"{out}/.part{k}"
    with open(tmp, "w") as f:
        f.write("---\n".join(d))
    os.replace(tmp, f"{out}/proxies{k}.yaml")
PY
}

cat >"$TMP/sessions.py" <<'PY'
# SESSIONS WebSocket sessions through the data plane; each echoes one 16-byte message every 100 ms until the
# stop file appears, then one last echo. Writes the ready file once all are open; prints a JSON summary.
import asyncio, base64, json, os, sys, time
port, host, n, ready, stop = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
MSG = b"0123456789abcdef"
FRAME = bytes([0x81, 0x80 | len(MSG), 0, 0, 0, 0]) + MSG  # masked with a zero key

async def echo(r, w):
    w.write(FRAME)
    hdr = await asyncio.wait_for(r.readexactly(2), 5)
    body = await asyncio.wait_for(r.readexactly(hdr[1] & 0x7F), 5)
    if hdr[0] != 0x81 or body != MSG:
        raise ValueError("bad echo")

async def session(i, opened, stats):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        w.write((f"GET /live/s{i} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ValueError(head[:40])
    except Exception as e:
        stats["open_failed"] += 1
        opened.append(None)
        return
    opened.append(i)
    try:
        while not os.path.exists(stop):
            await echo(r, w)
            stats["echoes"] += 1
            await asyncio.sleep(0.1)
        await echo(r, w)
        stats["echoes"] += 1
        stats["ok"] += 1
    except Exception as e:
        stats["disturbed"] += 1
        stats.setdefault("first_error", repr(e))
    w.close()

async def main():
    stats = {"ok": 0, "disturbed": 0, "open_failed": 0, "echoes": 0}
    opened = []
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(session(i, opened, stats)))
        if i % 50 == 49:
            await asyncio.sleep(0.02)  # no SYN flood against the listen backlog
    while len(opened) < n:
        await asyncio.sleep(0.05)
    open(ready, "w").close()
    await asyncio.gather(*tasks)
    print(json.dumps(stats))

asyncio.run(main())
PY

# metric NAME: the sum of the series of NAME on /metrics (every label set)
metric() {
  curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk -v m="$1" '{ n = $1; sub(/\{.*/, "", n) } n == m { s += $2; seen = 1 } END { if (seen) print s }'
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

gen 0
"$BUILD/tollgate-bench" backend --listen "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
PIDS+=($!)
"$BUILD/tollgate-dataplane" --listen "127.0.0.1:$DP_PORT" --admin "127.0.0.1:$ADMIN_PORT" \
  --control-socket "$TMP/control.sock" --workers 2 --log-level warn >"$TMP/dataplane.log" 2>&1 &
DP_PID=$!
PIDS+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

ctl() {
  "$BUILD/tollgate-controller" --source "dir:$TMP/manifests" --dataplane-socket "$TMP/control.sock" \
    --health off --timeout 120 --log-level warn "$@"
}
# push LABEL: --print timed (parse + translate), then --once timed (parse + translate + push + apply)
push() {
  local t0 t1 t2 proxies
  t0=$(now)
  ctl --print >"$TMP/snapshot-$1.json" 2>"$TMP/print-$1.log" || { echo "controller_scale: --print failed" >&2; cat "$TMP/print-$1.log" >&2; exit 1; }
  t1=$(now)
  ctl --once >"$TMP/once-$1.log" 2>&1 || { echo "controller_scale: --once failed" >&2; tail -n 20 "$TMP/once-$1.log" >&2; exit 1; }
  t2=$(now)
  proxies=$(curl -fs "http://127.0.0.1:$ADMIN_PORT/config" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["proxies"]))')
  [ "$proxies" -eq "$N" ] || { echo "controller_scale: the data plane has $proxies proxies, expected $N" >&2; exit 1; }
  echo "RESULT scenario=controller_scale push=$1 apiproxies=$N snapshot_bytes=$(stat -c %s "$TMP/snapshot-$1.json") translate_s=$(elapsed "$t0" "$t1") translate_push_apply_s=$(elapsed "$t1" "$t2") dataplane_apply_s=$(metric tollgate_snapshot_apply_seconds) dataplane_rss_kib=$(awk '/VmRSS/ { print $2 }' "/proc/$DP_PID/status")"
}

push initial

python3 "$TMP/sessions.py" "$DP_PORT" "$HOST" "$SESSIONS" "$TMP/ready" "$TMP/stop" >"$TMP/sessions.json" 2>"$TMP/sessions.err" &
SESS_PID=$!
PIDS+=($!)
for _ in $(seq 600); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
[ -e "$TMP/ready" ] || { echo "controller_scale: sessions did not open" >&2; cat "$TMP/sessions.err" >&2; exit 1; }
sleep 1
live=$(metric 'tollgate_websocket_sessions_active' || true)
gen 1
push changed
changed=$(python3 -c 'import json, sys
a, b = ({p["id"]: p for p in json.load(open(f))["proxies"]} for f in sys.argv[1:3])
print(sum(1 for k in a if a[k] != b.get(k)))' "$TMP/snapshot-initial.json" "$TMP/snapshot-changed.json")
echo "controller_scale: the second push changed $changed of $N proxies"
sleep 1
touch "$TMP/stop"
wait "$SESS_PID"
cat "$TMP/sessions.err" >&2
read -r ok disturbed open_failed echoes < <(python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); print(d["ok"], d["disturbed"], d["open_failed"], d["echoes"])' "$TMP/sessions.json")
echo "RESULT scenario=controller_scale sessions=$SESSIONS opened=$((SESSIONS - open_failed)) ok=$ok disturbed=$disturbed echoes=$echoes active_during_push=${live:-?}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
[ "$disturbed" = 0 ] && [ "$open_failed" = 0 ] && [ "$ok" = "$SESSIONS" ]
