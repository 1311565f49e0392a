#!/usr/bin/env bash
# bench/instructions.sh — `make bench-instructions`: the data plane's CPU cost counted in instructions, not seconds,
# so that two builds can be compared on a busy machine (valgrind's callgrind counts the instructions the data
# plane executes; the figure does not depend on what else runs). Scenarios, one worker, instrumentation switched
# on only for the measured window:
#   ws64   16 WebSocket connections × 16 pipelined 64-byte messages (tollgate-bench echo): Ir per echoed message
#          (one relay each way)
#   http   wrk, 16 keep-alive connections, GET of a 6-byte body: Ir per request
#   hs     WebSocket opening handshakes (connect, upgrade, 101, close frame, close; 8 connections looping, a
#          Python client): Ir per handshake, no policy
#   hskey  the same through a proxy with verifyApiKey (the key in X-Api-Key): Ir per handshake
# BENCH_DEBUG_OTHER=1: a debug session is recording on another proxy (bench/other, which no scenario calls) for
# the whole run: what recording costs the requests it does not match (issue 15 item 7).
# Usage: bench/instructions.sh [BUILD_DIR ...]   (default: $TOLLGATE_BUILD or build). Several build directories
# are measured in turn, e.g. a checkout of the previous commit built into build-before, to show a change's cost:
#   bench/instructions.sh build-before build
# Prints one line per build; the echo client and wrk run from the first build's tollgate-bench.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
builds=("$@"); [ ${#builds[@]} -gt 0 ] || builds=("${TOLLGATE_BUILD:-build}")
for t in valgrind callgrind_control wrk curl; do command -v "$t" >/dev/null || { echo "instructions: '$t' is missing (scripts/deps.sh installs it)" >&2; exit 1; }; done
bench_tool=${builds[0]}/tollgate-bench
[ -x "$bench_tool" ] || { echo "instructions: $bench_tool is missing: run 'make' first" >&2; exit 1; }
tmp=$(mktemp -d /tmp/tollgate-instructions.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
port_base=${BENCH_PORT_BASE:-19480}
api_key=bench-key-0123456789abcdef
backend_port=$port_base proxy_port=$((port_base + 1)) admin_port=$((port_base + 2))
duration=${BENCH_DURATION:-8}

"$bench_tool" backend --listen "127.0.0.1:$backend_port" >"$tmp/backend.log" 2>&1 &
pids+=($!)
bench_write_helpers "$tmp" # bench_snapshot.py, client.py (bench/lib.sh)
PYTHONPATH="$tmp" python3 - "$tmp/snapshot.json" "$backend_port" "$api_key" <<'PY' || exit 1
import hashlib, json, sys
from bench_snapshot import proxy, snapshot
out, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
common = {"env": "bench", "connect_ms": 5000, "timeout_ms": 3600000, "idle_ms": 3600000}
verify = {"type": "verifyApiKey", "keyFrom": ["header:x-api-key"],
          "keys": [{"id": "bench/key", "app": "bench", "sha256": hashlib.sha256(key.encode()).hexdigest(),
                    "expiresAtMs": 0}]}
proxies = [proxy("echo", [], port, base_path="/", strip=False, **common), proxy("other", [], port, **common),
           proxy("key", [verify], port, **common)]
with open(out, "w") as f:
    json.dump(snapshot("bench.local", proxies, env="bench", group_id="bench/bench"), f)
PY
# handshake client: python3 $tmp/client.py PORT HOST PATH CONNS DURATION HEADERS wait-close

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
  if [ "${BENCH_DEBUG_OTHER:-0}" = 1 ]; then
    curl -sf -XPOST "127.0.0.1:$admin_port/debug/sessions" -d '{"proxy":"bench/other","durationSeconds":900}' >/dev/null \
      || { echo "instructions: could not start the debug session" >&2; exit 1; }
  fi
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
  python3 "$tmp/client.py" "$proxy_port" bench.local / 4 1 '[]' wait-close >/dev/null  # warm-up
  for hs in hs hskey; do
    if [ "$hs" = hs ]; then path=/ hdrs='[]'; else path=/key/ hdrs="[[\"X-Api-Key\", \"$api_key\"]]"; fi
    callgrind_control -i on "$vg" >/dev/null 2>&1
    python3 "$tmp/client.py" "$proxy_port" bench.local "$path" 8 "$duration" "$hdrs" wait-close >"$tmp/$hs.json"
    sleep 0.3 # the last sessions' ends
    callgrind_control -i off "$vg" >/dev/null 2>&1
    callgrind_control -d "$vg" >/dev/null 2>&1
  done
  kill "$vg"; wait "$vg" 2>/dev/null
  ws_ir=$(window_ir "$tmp/cg.$vg.1") http_ir=$(window_ir "$tmp/cg.$vg.2")
  hs_ir=$(window_ir "$tmp/cg.$vg.3") hskey_ir=$(window_ir "$tmp/cg.$vg.4")
  msgs=$(grep -o 'msgs=[0-9]*' "$tmp/echo.txt" | head -1 | cut -d= -f2)
  reqs=$(awk '/requests in/ {print $1; exit}' "$tmp/wrk.txt")
  hs_n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["ok"] if d["errors"] == 0 else 0)' "$tmp/hs.json")
  hskey_n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["ok"] if d["errors"] == 0 else 0)' "$tmp/hskey.json")
  awk -v b="$build" -v wi="$ws_ir" -v m="$msgs" -v hi="$http_ir" -v r="$reqs" -v si="$hs_ir" -v s="$hs_n" \
      -v ki="$hskey_ir" -v k="$hskey_n" 'BEGIN {
    printf "%-28s ws64: %6.0f Ir per echoed message (%d messages)   http: %7.0f Ir per request (%d requests)\n",
      b, wi / (m > 0 ? m : 1), m, hi / (r > 0 ? r : 1), r
    printf "%-28s hs: %7.0f Ir per handshake (%d)   hskey: %7.0f Ir per handshake with verifyApiKey (%d)\n",
      b, si / (s > 0 ? s : 1), s, ki / (k > 0 ? k : 1), k }'
  [ "$hs_n" -gt 0 ] && [ "$hskey_n" -gt 0 ] || { echo "instructions: handshakes failed: $(cat "$tmp/hs.json" "$tmp/hskey.json")" >&2; exit 1; }
  [ -z "${BENCH_KEEP_CALLGRIND:-}" ] || cp "$tmp"/cg.* "$BENCH_KEEP_CALLGRIND"/ 2>/dev/null
done
