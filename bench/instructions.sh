#!/usr/bin/env bash
# bench/instructions.sh — `make bench-instructions`: the data plane's CPU cost counted in instructions, not seconds,
# so that two builds can be compared on a busy machine (valgrind's callgrind counts the instructions the data
# plane executes; the figure does not depend on what else runs). Scenarios, one worker, instrumentation switched
# on only for the measured window:
#   ws64   16 WebSocket connections × 16 pipelined 64-byte messages (tollgate-bench echo): Ir per echoed message
#          (one relay each way)
#   http   wrk, 16 keep-alive connections, GET of a 6-byte body: Ir per request
# Usage: bench/instructions.sh [BUILD_DIR ...]   (default: $TOLLGATE_BUILD or build). Several build directories
# are measured in turn, e.g. a checkout of the previous commit built into build-before, to show a change's cost:
#   bench/instructions.sh build-before build
# Prints one line per build; the echo client and wrk run from the first build's tollgate-bench.
set -uo pipefail
cd "$(dirname "$0")/.."
builds=("$@"); [ ${#builds[@]} -gt 0 ] || builds=("${TOLLGATE_BUILD:-build}")
for t in valgrind callgrind_control wrk curl; do command -v "$t" >/dev/null || { echo "instructions: '$t' is missing (scripts/deps.sh installs it)" >&2; exit 1; }; done
bench_tool=${builds[0]}/tollgate-bench
[ -x "$bench_tool" ] || { echo "instructions: $bench_tool is missing: run 'make' first" >&2; exit 1; }
tmp=$(mktemp -d /tmp/tollgate-instructions.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
port_base=${BENCH_PORT_BASE:-19480}
backend_port=$port_base proxy_port=$((port_base + 1)) admin_port=$((port_base + 2))
duration=${BENCH_DURATION:-8}

"$bench_tool" backend --listen "127.0.0.1:$backend_port" >"$tmp/backend.log" 2>&1 &
pids+=($!)
cat >"$tmp/snapshot.json" <<JSON
{"version": 1, "generatedAt": "2026-01-01T00:00:00Z",
 "groups": [{"id": "bench/bench", "hostnames": ["bench.local"], "environments": ["bench"]}],
 "proxies": [{"id": "bench/echo", "environments": ["bench"], "basePath": "/", "stripBasePath": false,
   "maxRequestBodyBytes": 0,
   "target": {"pathPrefix": "", "endpoints": [{"address": "127.0.0.1", "port": $backend_port}],
              "tls": {"enabled": false, "serverName": "", "caPem": ""}, "connectTimeoutMs": 5000,
              "timeoutMs": 3600000, "loadBalancing": "roundRobin"},
   "websocket": {"enabled": true, "idleTimeoutMs": 3600000, "maxLifetimeMs": 0, "maxMessageBytes": 0},
   "policies": []}]}
JSON

# window_ir FILE: the instruction total of one callgrind dump
window_ir() { awk '/^totals:/ {print $2; exit}' "$1"; }

for build in "${builds[@]}"; do
  dp=$build/tollgate-dataplane
  [ -x "$dp" ] || { echo "instructions: $dp is missing" >&2; exit 1; }
  rm -f "$tmp"/cg.*
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/cg.%p" "$dp" \
    --listen "127.0.0.1:$proxy_port" --admin "127.0.0.1:$admin_port" --snapshot "$tmp/snapshot.json" \
    --control-socket "$tmp/control.sock" --workers 1 --log-level warn >"$tmp/dataplane.log" 2>&1 &
  vg=$!
  pids+=("$vg")
  for _ in $(seq 150); do curl -sf "127.0.0.1:$admin_port/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "127.0.0.1:$admin_port/readyz" >/dev/null || { echo "instructions: $dp did not become ready" >&2; cat "$tmp/dataplane.log" >&2; exit 1; }
  echo_args=(--target "127.0.0.1:$proxy_port" --host bench.local --path / --conns 16 --window 16 --size 64)
  "$bench_tool" echo "${echo_args[@]}" --duration 2 --warmup 1 >/dev/null
  callgrind_control -i on "$vg" >/dev/null 2>&1
  "$bench_tool" echo "${echo_args[@]}" --duration "$duration" --warmup 0 >"$tmp/echo.txt"
  callgrind_control -i off "$vg" >/dev/null 2>&1
  callgrind_control -d "$vg" >/dev/null 2>&1
  callgrind_control -i on "$vg" >/dev/null 2>&1
  wrk -t1 -c16 -d"${duration}s" -H "Host: bench.local" "http://127.0.0.1:$proxy_port/" >"$tmp/wrk.txt"
  callgrind_control -i off "$vg" >/dev/null 2>&1
  callgrind_control -d "$vg" >/dev/null 2>&1
  kill "$vg"; wait "$vg" 2>/dev/null
  ws_ir=$(window_ir "$tmp/cg.$vg.1") http_ir=$(window_ir "$tmp/cg.$vg.2")
  msgs=$(grep -o 'msgs=[0-9]*' "$tmp/echo.txt" | head -1 | cut -d= -f2)
  reqs=$(awk '/requests in/ {print $1; exit}' "$tmp/wrk.txt")
  awk -v b="$build" -v wi="$ws_ir" -v m="$msgs" -v hi="$http_ir" -v r="$reqs" 'BEGIN {
    printf "%-28s ws64: %6.0f Ir per echoed message (%d messages)   http: %7.0f Ir per request (%d requests)\n",
      b, wi / (m > 0 ? m : 1), m, hi / (r > 0 ? r : 1), r }'
done
