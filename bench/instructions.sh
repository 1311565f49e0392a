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
cat >"$tmp/snapshot.json" <<JSON
{"version": 1, "generatedAt": "2026-01-01T00:00:00Z",
 "groups": [{"id": "bench/bench", "hostnames": ["bench.local"], "environments": ["bench"]}],
 "proxies": [{"id": "bench/echo", "environments": ["bench"], "basePath": "/", "stripBasePath": false,
   "maxRequestBodyBytes": 0,
   "target": {"pathPrefix": "", "endpoints": [{"address": "127.0.0.1", "port": $backend_port}],
              "tls": {"enabled": false, "serverName": "", "caPem": ""}, "connectTimeoutMs": 5000,
              "timeoutMs": 3600000, "loadBalancing": "roundRobin"},
   "websocket": {"enabled": true, "idleTimeoutMs": 3600000, "maxLifetimeMs": 0, "maxMessageBytes": 0},
   "policies": []},
  {"id": "bench/other", "environments": ["bench"], "basePath": "/other", "stripBasePath": true,
   "maxRequestBodyBytes": 0,
   "target": {"pathPrefix": "", "endpoints": [{"address": "127.0.0.1", "port": $backend_port}],
              "tls": {"enabled": false, "serverName": "", "caPem": ""}, "connectTimeoutMs": 5000,
              "timeoutMs": 3600000, "loadBalancing": "roundRobin"},
   "websocket": {"enabled": true, "idleTimeoutMs": 3600000, "maxLifetimeMs": 0, "maxMessageBytes": 0},
   "policies": []},
  {"id": "bench/key", "environments": ["bench"], "basePath": "/key", "stripBasePath": true,
   "maxRequestBodyBytes": 0,
   "target": {"pathPrefix": "", "endpoints": [{"address": "127.0.0.1", "port": $backend_port}],
              "tls": {"enabled": false, "serverName": "", "caPem": ""}, "connectTimeoutMs": 5000,
              "timeoutMs": 3600000, "loadBalancing": "roundRobin"},
   "websocket": {"enabled": true, "idleTimeoutMs": 3600000, "maxLifetimeMs": 0, "maxMessageBytes": 0},
   "policies": [{"type": "verifyApiKey", "keyFrom": ["header:x-api-key"],
                 "keys": [{"id": "bench/key", "app": "bench", "sha256": "$(printf %s "$api_key" | sha256sum | cut -d' ' -f1)",
                           "expiresAtMs": 0}]}]}]}
JSON
# handshake client: CONNS connections looping connect → upgrade → 101 → close frame → close for DURATION seconds
cat >"$tmp/hs.py" <<'PY'
import asyncio, base64, json, os, sys, time
port, host, path, conns, duration = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
extra = "".join(f"{k}: {v}\r\n" for k, v in json.loads(sys.argv[6]))
CLOSE = b"\x88\x82\x00\x00\x00\x00\x03\xe8"
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
            await w.drain()
            await r.read()  # the proxy's answer to the close, then its FIN: the session ended inside the window
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
  python3 "$tmp/hs.py" "$proxy_port" bench.local / 4 1 '[]' >/dev/null  # warm-up
  for hs in hs hskey; do
    if [ "$hs" = hs ]; then path=/ hdrs='[]'; else path=/key/ hdrs="[[\"X-Api-Key\", \"$api_key\"]]"; fi
    callgrind_control -i on "$vg" >/dev/null 2>&1
    python3 "$tmp/hs.py" "$proxy_port" bench.local "$path" 8 "$duration" "$hdrs" >"$tmp/$hs.json"
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
