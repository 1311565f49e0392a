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
# programs on raw sockets (bench/lib.sh), so their CPU competes with the data plane's: compare the policies with
# each other.
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

NAME=policy_traffic
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup tg-bench-traffic
HAVE_REDIS=0
command -v redis-server >/dev/null && command -v redis-cli >/dev/null && HAVE_REDIS=1

# ---- the snapshot: one proxy per scenario, all to the same backend --------------------------------------------
PYTHONPATH="$TMP" python3 - "$TMP/snapshot.json" "$BACKEND_PORT" "$HOST" "$REDIS_PORT" <<'PY' || exit 1
import json, sys
from bench_snapshot import proxy as bench_proxy, snapshot

out, backend_port, host, redis_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
HOUR = 3600 * 1000
BIG = 10**15  # never reached: the quota counts but never refuses

def proxy(name, policies):
    return bench_proxy(name, policies, backend_port)

snap = snapshot(host, [
    proxy("none", []),
    proxy("quota-local", [{"type": "quota", "limit": BIG, "intervalMs": HOUR, "identifier": "client_ip"}]),
    proxy("quota-redis", [{"type": "quota", "limit": BIG, "intervalMs": HOUR, "identifier": "client_ip",
                           "distributed": {"redisAddress": f"127.0.0.1:{redis_port}", "failOpen": False}}]),
    # the highest rate there is (one per µs): the bucket is checked on every handshake, never empty
    proxy("spikeArrest", [{"type": "spikeArrest", "rate": "4000000000ps", "identifier": "client_ip"}]),
    proxy("cors", [{"type": "cors", "allowOrigins": ["https://app.example.com", "https://*.example.org"]}]),
    proxy("accessControl", [{"type": "accessControl", "allow": ["10.0.0.0/8", "127.0.0.0/8", "::1/128"],
                             "deny": ["127.0.0.99/32"]}]),
])
json.dump(snap, open(out, "w"))
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
bench_start

for pol in $POLICIES; do
  if [ "$pol" = quota-redis ] && [ "$HAVE_REDIS" = 0 ]; then
    echo "policy_traffic: redis-server is not installed: quota-redis skipped" >&2
    continue
  fi
  hdrs='[]'
  [ "$pol" = cors ] && hdrs='[["Origin", "https://chat.example.org"]]'
  bench_measure "$pol" "/$pol/ws" "$hdrs"
done
if [ "$HAVE_REDIS" = 1 ]; then
  echo "redis counters after the run: $(redis-cli -p "$REDIS_PORT" --scan --pattern 'tollgate:quota:*' | wc -l) key(s)"
fi

# shellcheck disable=SC2086
bench_table $POLICIES
