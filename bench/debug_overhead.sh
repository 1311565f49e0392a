#!/usr/bin/env bash
# bench/debug_overhead.sh — what debug-session recording costs on the HTTP hot path (issue 13 item 1): wrk
# keep-alive requests/s through the data plane (2 workers) with (a) no debug session, (b) a live debug session
# that matches nothing (another proxy), (c) a debug session matching every request (it records 100 and ends; the
# rest of the run is (a) again — shown for completeness). Same backend (tollgate-bench backend) for all.
# Knobs: ROUNDS (default 3), DURATION (s, default 5), PORT_BASE (default 18680).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${TOLLGATE_BUILD:-build}
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} BASE=${PORT_BASE:-18680}
BACK=$BASE LISTEN=$((BASE + 1)) ADMIN=$((BASE + 2))
TMP=$(mktemp -d)
cleanup() { [ -n "${DP:-}" ] && kill "$DP" 2>/dev/null; [ -n "${BE:-}" ] && kill "$BE" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
"$BUILD/tollgate-bench" backend --listen "127.0.0.1:$BACK" --threads 1 >"$TMP/backend.log" 2>&1 & BE=$!
cat >"$TMP/snap.json" <<JSON
{"version":1,"generatedAt":"2026-01-01T00:00:00Z","groups":[{"id":"b/g","hostnames":["bench.local"],"environments":["prod"]}],
 "proxies":[
  {"id":"b/hot","environments":["prod"],"basePath":"/","stripBasePath":false,"maxRequestBodyBytes":0,
   "target":{"pathPrefix":"","endpoints":[{"address":"127.0.0.1","port":$BACK}],"tls":{"enabled":false,"serverName":"","caPem":""},
             "connectTimeoutMs":2000,"timeoutMs":10000,"loadBalancing":"roundRobin"},
   "websocket":{"enabled":true,"idleTimeoutMs":0,"maxLifetimeMs":0,"maxMessageBytes":0},"policies":[]},
  {"id":"b/other","environments":["prod"],"basePath":"/other","stripBasePath":false,"maxRequestBodyBytes":0,
   "target":{"pathPrefix":"","endpoints":[{"address":"127.0.0.1","port":$BACK}],"tls":{"enabled":false,"serverName":"","caPem":""},
             "connectTimeoutMs":2000,"timeoutMs":10000,"loadBalancing":"roundRobin"},
   "websocket":{"enabled":true,"idleTimeoutMs":0,"maxLifetimeMs":0,"maxMessageBytes":0},"policies":[]}]}
JSON
"$BUILD/tollgate-dataplane" --listen "127.0.0.1:$LISTEN" --admin "127.0.0.1:$ADMIN" --control-socket "" \
  --workers 2 --snapshot "$TMP/snap.json" --log-level warn >"$TMP/dp.log" 2>&1 & DP=$!
for _ in $(seq 50); do curl -sf "127.0.0.1:$ADMIN/readyz" >/dev/null && break; sleep 0.1; done
run() { wrk -t2 -c64 -d"${DURATION}s" -H "Host: bench.local" "http://127.0.0.1:$LISTEN/bench" | awk '/Requests\/sec/ {print $2}'; }
post() { curl -s -XPOST "127.0.0.1:$ADMIN/debug/sessions" -d "$1" | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/'; }
for r in $(seq "$ROUNDS"); do
  a=$(run)
  id=$(post '{"proxy":"b/other","durationSeconds":900}')
  b=$(run)
  curl -s -XDELETE "127.0.0.1:$ADMIN/debug/sessions/$id" >/dev/null
  id=$(post '{"proxy":"b/hot","maxTransactions":100}')
  c=$(run)
  curl -s -XDELETE "127.0.0.1:$ADMIN/debug/sessions/$id" >/dev/null
  echo "round $r: no session $a req/s | live session, no match $b req/s | matching session (100 recorded) $c req/s"
done
