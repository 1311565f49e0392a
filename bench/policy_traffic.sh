#!/usr/bin/env bash
# bench/policy_traffic.sh — WebSocket handshakes per second through the data plane with no policy and with
# each traffic policy on the handshake: quota counted locally (process-wide sharded counters), quota counted in
# Redis (one MULTI/INCR/PEXPIRE/EXEC round trip per handshake on the worker's hiredis connection), spikeArrest,
# cors (an allowed Origin) and accessControl (a CIDR allow list). Limits and rates are set so that nothing is
# refused: the figures are the policies' cost, not their verdicts.
#
# One data plane (--workers BENCH_TR_WORKERS), one tollgate-bench backend, a redis-server without persistence
# (skipped, with its scenario, when redis-server is not installed), and BENCH_TR_PROCS client processes with
# BENCH_TR_CONNS connections each, every connection looping connect → upgrade → 101 → close frame → close.
#
# Prints one line per scenario, in the style of tollgate-bench:
#   RESULT scenario=handshake policy=none|quota-local|quota-redis|spikeArrest|cors|accessControl
#          handshakes_per_s=N errors=N ...
# and a table relative to "none". Knobs (environment): BENCH_TR_DURATION (s per policy, default 5),
# BENCH_TR_PROCS (default 2), BENCH_TR_CONNS (per process, default 32), BENCH_TR_WORKERS (default 1),
# BENCH_TR_POLICIES (default "none quota-local quota-redis spikeArrest cors accessControl"), BENCH_PORT_BASE
# (default 18780), TOLLGATE_BUILD (default build), BENCH_KEEP_TMP=1. The clients are small Python asyncio
# programs on raw sockets, so their CPU competes with the data plane's: compare the policies with each other.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${TOLLGATE_BUILD:-build}
DURATION=${BENCH_TR_DURATION:-5}
PROCS=${BENCH_TR_PROCS:-2}
CONNS=${BENCH_TR_CONNS:-32}
WORKERS=${BENCH_TR_WORKERS:-1}
POLICIES=${BENCH_TR_POLICIES:-"none quota-local quota-redis spikeArrest cors accessControl"}
PORT_BASE=${BENCH_PORT_BASE:-18780}
DP_PORT=$PORT_BASE ADMIN_PORT=$((PORT_BASE + 1)) BACKEND_PORT=$((PORT_BASE + 2)) REDIS_PORT=$((PORT_BASE + 3))
HOST=bench.local

for bin in tollgate-dataplane tollgate-bench; do
  [ -x "$BUILD/$bin" ] || { echo "policy_traffic: $BUILD/$bin is missing (make)" >&2; exit 1; }
done
HAVE_REDIS=0
command -v redis-server >/dev/null && command -v redis-cli >/dev/null && HAVE_REDIS=1

TMP=$(mktemp -d /tmp/tg-bench-traffic.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ "${BENCH_KEEP_TMP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# ---- the snapshot: one proxy per scenario, all to the same backend --------------------------------------------
python3 - "$TMP/snapshot.json" "$BACKEND_PORT" "$HOST" "$REDIS_PORT" <<'PY' || exit 1
import json, sys

out, backend_port, host, redis_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
HOUR = 3600 * 1000
BIG = 10**15  # never reached: the quota counts but never refuses

def proxy(name, policies):
    return {"id": f"bench/{name}", "environments": ["prod"], "basePath": f"/{name}", "stripBasePath": True,
            "maxRequestBodyBytes": 0,
            "target": {"pathPrefix": "", "endpoints": [{"address": "127.0.0.1", "port": backend_port}],
                       "tls": {"enabled": False, "serverName": "", "caPem": ""}, "connectTimeoutMs": 2000,
                       "timeoutMs": 10000, "loadBalancing": "roundRobin"},
            "websocket": {"enabled": True, "idleTimeoutMs": 0, "maxLifetimeMs": 0, "maxMessageBytes": 0},
            "policies": policies}

snap = {"version": 1, "generatedAt": "2026-01-01T00:00:00Z",
        "groups": [{"id": "bench/g", "hostnames": [host], "environments": ["prod"]}],
        "proxies": [
            proxy("none", []),
            proxy("quota-local", [{"type": "quota", "limit": BIG, "intervalMs": HOUR, "identifier": "client_ip"}]),
            proxy("quota-redis", [{"type": "quota", "limit": BIG, "intervalMs": HOUR, "identifier": "client_ip",
                                   "distributed": {"redisAddress": f"127.0.0.1:{redis_port}", "failOpen": False}}]),
            # the highest rate there is (one per µs): the bucket is checked on every handshake, never empty
            proxy("spikeArrest", [{"type": "spikeArrest", "rate": "4000000000ps", "identifier": "client_ip"}]),
            proxy("cors", [{"type": "cors", "allowOrigins": ["https://app.example.com", "https://*.example.org"]}]),
            proxy("accessControl", [{"type": "accessControl", "allow": ["10.0.0.0/8", "127.0.0.0/8", "::1/128"],
                                     "deny": ["127.0.0.99/32"]}]),
        ]}
json.dump(snap, open(out, "w"))
PY

cat >"$TMP/client.py" <<'PY'
# One client process: CONNS connections, each looping connect → upgrade → 101 → close until the deadline.
import asyncio, base64, json, os, sys, time

port, host, path, conns, duration, extra = (int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]),
                                            float(sys.argv[5]), sys.argv[6])
CLOSE = b"\x88\x82\x00\x00\x00\x00\x03\xe8"  # close 1000, zero mask


async def loop(deadline, counts):
    while time.monotonic() < deadline:
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            key = base64.b64encode(os.urandom(16)).decode()
            w.write((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
            head = await r.readuntil(b"\r\n\r\n")
            counts[0 if head.startswith(b"HTTP/1.1 101") else 1] += 1
            w.write(CLOSE)
            w.close()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            counts[1] += 1


async def main():
    counts = [0, 0]
    deadline = time.monotonic() + duration
    await asyncio.gather(*(loop(deadline, counts) for _ in range(conns)))
    print(json.dumps({"ok": counts[0], "errors": counts[1]}))

asyncio.run(main())
PY

if [ "$HAVE_REDIS" = 1 ]; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --dir "$TMP" \
    --loglevel warning >"$TMP/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do
    [ "$(redis-cli -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
fi
"$BUILD/tollgate-bench" backend --listen "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
PIDS+=($!)
"$BUILD/tollgate-dataplane" --listen "127.0.0.1:$DP_PORT" --admin "127.0.0.1:$ADMIN_PORT" \
  --control-socket "$TMP/control.sock" --workers "$WORKERS" --snapshot "$TMP/snapshot.json" \
  --log-level warn >"$TMP/dataplane.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null \
  || { echo "policy_traffic: data plane not ready" >&2; cat "$TMP/dataplane.log" >&2; exit 1; }

declare -A RATE
for pol in $POLICIES; do
  if [ "$pol" = quota-redis ] && [ "$HAVE_REDIS" = 0 ]; then
    echo "policy_traffic: redis-server is not installed: quota-redis skipped" >&2
    continue
  fi
  extra=""
  [ "$pol" = cors ] && extra=$'Origin: https://chat.example.org\r\n'
  # warm-up (one second, not counted), then the measured run
  python3 "$TMP/client.py" "$DP_PORT" "$HOST" "/$pol/ws" 4 1 "$extra" >/dev/null
  CLIENTS=()
  for p in $(seq "$PROCS"); do
    python3 "$TMP/client.py" "$DP_PORT" "$HOST" "/$pol/ws" "$CONNS" "$DURATION" "$extra" >"$TMP/out-$pol-$p.json" &
    CLIENTS+=($!)
  done
  wait "${CLIENTS[@]}"
  read -r ok err < <(python3 -c 'import json, sys
ok = err = 0
for f in sys.argv[1:]:
    d = json.load(open(f)); ok += d["ok"]; err += d["errors"]
print(ok, err)' "$TMP"/out-"$pol"-*.json)
  rate=$(awk -v ok="$ok" -v d="$DURATION" 'BEGIN { printf "%.0f", ok / d }')
  RATE[$pol]=$rate
  echo "RESULT scenario=handshake policy=$pol handshakes_per_s=$rate errors=$err duration_s=$DURATION procs=$PROCS conns=$((PROCS * CONNS)) workers=$WORKERS"
done
if [ "$HAVE_REDIS" = 1 ]; then
  echo "redis counters after the run: $(redis-cli -p "$REDIS_PORT" --scan --pattern 'tollgate:quota:*' | wc -l) key(s)"
fi

base=${RATE[none]:-}
printf '\n%-16s %14s %10s\n' policy handshakes/s "vs none"
for pol in $POLICIES; do
  [ -n "${RATE[$pol]:-}" ] || continue
  if [ -n "$base" ] && [ "$base" != 0 ]; then
    rel=$(awk -v a="${RATE[$pol]}" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
  else
    rel=-
  fi
  printf '%-16s %14s %10s\n' "$pol" "${RATE[$pol]}" "$rel"
done
