#!/usr/bin/env bash
# bench/loop_tail.sh — the tail of one worker's event loop under a mixed load (issue 15, the tail): while
# BULK connections relay 1 MiB messages, one connection does 32-byte round trips; prints that connection's
# latency percentiles and the distribution of the worker's loop iterations over the run, from /metrics'
# tollgate_event_loop_iteration_duration_seconds (the histogram's bucket bounds: a quantile is reported as the
# upper bound of its bucket). One worker, clients unpinned. Knobs: BUILD (default build), DURATION (s, default
# 5), BULK (default 4 connections × 2 messages in flight), PORT_BASE (default 19580).
# Usage: bench/loop_tail.sh [LABEL]
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build} DURATION=${DURATION:-5} BULK=${BULK:-4} BASE=${PORT_BASE:-19580}
BACK=$BASE LISTEN=$((BASE + 1)) ADMIN=$((BASE + 2))
label=${1:-$BUILD}
TMP=$(mktemp -d /tmp/tollgate-looptail.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
"$BUILD/tollgate-bench" backend --listen "127.0.0.1:$BACK" >"$TMP/backend.log" 2>&1 &
pids+=($!)
cat >"$TMP/snap.json" <<JSON
{"version":1,"generatedAt":"2026-01-01T00:00:00Z","groups":[{"id":"b/g","hostnames":["bench.local"],"environments":["prod"]}],
 "proxies":[{"id":"b/echo","environments":["prod"],"basePath":"/","stripBasePath":false,"maxRequestBodyBytes":0,
   "target":{"pathPrefix":"","endpoints":[{"address":"127.0.0.1","port":$BACK}],"tls":{"enabled":false,"serverName":"","caPem":""},
             "connectTimeoutMs":2000,"timeoutMs":10000,"loadBalancing":"roundRobin"},
   "websocket":{"enabled":true,"idleTimeoutMs":0,"maxLifetimeMs":0,"maxMessageBytes":0},"policies":[]}]}
JSON
"$BUILD/tollgate-dataplane" --listen "127.0.0.1:$LISTEN" --admin "127.0.0.1:$ADMIN" --control-socket "" \
  --workers 1 --snapshot "$TMP/snap.json" --log-level warn >"$TMP/dp.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf "127.0.0.1:$ADMIN/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "127.0.0.1:$ADMIN/readyz" >/dev/null || { echo "loop_tail: data plane not ready: $(cat "$TMP/dp.log")" >&2; exit 1; }
target=(--target "127.0.0.1:$LISTEN" --host bench.local --path /)
hist() { curl -sf "127.0.0.1:$ADMIN/metrics" | grep '^tollgate_event_loop_iteration_duration_seconds_bucket'; }
hist >"$TMP/h0"
"$BUILD/tollgate-bench" echo "${target[@]}" --conns "$BULK" --window 2 --size 1m --duration "$((DURATION + 1))" \
  --warmup 0.5 --label bulk >"$TMP/bulk.txt" 2>&1 &
bulk=$!
sleep 0.5
"$BUILD/tollgate-bench" echo "${target[@]}" --conns 1 --size 32 --duration "$DURATION" --warmup 0.2 --label lat1 >"$TMP/lat.txt"
wait "$bulk"
hist >"$TMP/h1"
lat=$(grep -o 'p50_us=[^ ]* p90_us=[^ ]* p99_us=[^ ]* p999_us=[^ ]*' "$TMP/lat.txt")
bulk_rate=$(grep -o 'mib_per_s=[^ ]*' "$TMP/bulk.txt")
# bucket counts over the run (cumulative, per le): the quantiles' buckets
iters=$(paste -d' ' <(sed 's/.*le="\([^"]*\)".* \([0-9.e+]*\)$/\1 \2/' "$TMP/h0") \
                    <(sed 's/.* \([0-9.e+]*\)$/\1/' "$TMP/h1") | awk '
  { le[NR] = $1; c[NR] = $3 - $2 } END {
    n = c[NR]; split("0.5 0.9 0.99 0.999", q, " "); out = sprintf("iterations=%d", n)
    for (i = 1; i <= 4; i++) { for (j = 1; j <= NR && c[j] < q[i] * n; j++); out = out sprintf(" it_p%s<=%ss", q[i] * 100, le[j]) }
    for (j = NR; j > 1 && c[j - 1] == n; j--); out = out sprintf(" it_max<=%ss", le[j]); print out }')
echo "RESULT loop_tail label=$label $lat bulk_$bulk_rate $iters"
