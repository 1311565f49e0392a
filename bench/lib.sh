# bench/lib.sh — sourced by bench/policy_handshakes.sh, bench/policy_traffic.sh (and bench/instructions.sh, run.sh,
# tls.sh, peers.sh for its helpers): the machinery of a
# handshakes-per-second run with one policy per proxy. Temporary directory and cleanup, the Python helpers the
# scripts' snapshot programs import (bench_snapshot.py), the client program (client.py: CONNS connections per
# process, each looping connect → upgrade request → 101 → close frame → close until the deadline; raw sockets,
# no WebSocket library), the backend and data plane started on the snapshot, and the measured runs.
#
# Inputs (set by the sourcing script): NAME (for messages), BUILD, DURATION, PROCS, CONNS, WORKERS, HOST,
# DP_PORT, ADMIN_PORT, BACKEND_PORT. Sets: TMP, PIDS (processes stopped at exit), DP_PID, RATE[policy]
# (handshakes/s), CPU_US[policy] (the data plane's CPU µs per handshake, from /proc).

# bench_free_ports FROM COUNT: the first port P (FROM, FROM+10, ... 40 tries) with P..P+COUNT-1 all free on
# loopback, printed; fails when there is none. The peers listen with SO_REUSEPORT, so a port still held by a
# leftover process would be shared with it silently, and half the connections would go there.
bench_free_ports() {
  local base=$1 count=$2 try p ok
  for ((try = 0; try < 40; try++, base += 10)); do
    ok=1
    for ((p = base; p < base + count; p++)); do [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || { ok=0; break; }; done
    [ $ok = 1 ] && { echo "$base"; return 0; }
  done
  return 1
}

# bench_setup TMP_PREFIX: checks the binaries, makes $TMP, arms the cleanup, writes the helpers into $TMP.
bench_setup() {
  local bin
  for bin in tollgate-dataplane tollgate-bench; do
    [ -x "$BUILD/$bin" ] || { echo "$NAME: $BUILD/$bin is missing (make)" >&2; exit 1; }
  done
  TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT INT TERM
  bench_write_helpers "$TMP"
}

# bench_write_helpers DIR: writes bench_snapshot.py (proxy and snapshot documents) and client.py (the handshake
# client) into DIR. Also used by bench/instructions.sh.
bench_write_helpers() {
  cat >"$1/bench_snapshot.py" <<'PY'
# Snapshot pieces shared by the benchmarks (docs/control-protocol.md): one proxy per scenario.
def proxy(name, policies, backend_port, base_path=None, strip=True, env="prod", connect_ms=2000,
          timeout_ms=10000, idle_ms=0):
    return {"id": f"bench/{name}", "environments": [env], "basePath": base_path or f"/{name}",
            "stripBasePath": strip, "maxRequestBodyBytes": 0,
            "target": {"pathPrefix": "", "endpoints": [{"address": "127.0.0.1", "port": backend_port}],
                       "tls": {"enabled": False, "serverName": "", "caPem": ""}, "connectTimeoutMs": connect_ms,
                       "timeoutMs": timeout_ms, "loadBalancing": "roundRobin"},
            "websocket": {"enabled": True, "idleTimeoutMs": idle_ms, "maxLifetimeMs": 0, "maxMessageBytes": 0},
            "policies": policies}


def snapshot(host, proxies, env="prod", group_id="bench/g"):
    return {"version": 1, "generatedAt": "2026-01-01T00:00:00Z",
            "groups": [{"id": group_id, "hostnames": [host], "environments": [env]}], "proxies": proxies}
PY

  cat >"$1/client.py" <<'PY'
# One client process: CONNS connections, each looping connect → upgrade → 101 → close until the deadline.
# Arguments: PORT HOST PATH CONNS DURATION HEADERS (a JSON list of [name, value] pairs added to the request)
# [wait-close: after the close frame, read the proxy's answer and its FIN, so each session ends in the window].
import asyncio, base64, json, os, sys, time

port, host, path, conns, duration = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
extra = "".join(f"{k}: {v}\r\n" for k, v in json.loads(sys.argv[6]))
wait_close = sys.argv[7:] == ["wait-close"]
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
            if wait_close:
                await w.drain()
                await r.read()
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
}

bench_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ "${BENCH_KEEP_TMP:-0}" = 1 ] || rm -rf "$TMP"
}

# bench_start: the bench backend and the data plane on $TMP/snapshot.json; exits unless the data plane gets ready.
bench_start() {
  "$BUILD/tollgate-bench" backend --listen "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
  PIDS+=($!)
  "$BUILD/tollgate-dataplane" --listen "127.0.0.1:$DP_PORT" --admin "127.0.0.1:$ADMIN_PORT" \
    --control-socket "$TMP/control.sock" --workers "$WORKERS" --snapshot "$TMP/snapshot.json" \
    --log-level warn >"$TMP/dataplane.log" 2>&1 &
  DP_PID=$!
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null \
    || { echo "$NAME: data plane not ready" >&2; cat "$TMP/dataplane.log" >&2; exit 1; }
}

declare -A RATE

declare -A CPU_US

# The data plane's CPU time so far in clock ticks (/proc/PID/stat utime + stime, all threads).
dp_ticks() { sed 's/^.*) //' "/proc/$DP_PID/stat" | awk '{ print $12 + $13 }'; }

# bench_measure POLICY PATH HEADERS: a one-second warm-up (not counted), then PROCS clients for DURATION
# seconds; sets RATE[POLICY] and CPU_US[POLICY] (the data plane's CPU µs per handshake over the measured
# clients' run) and prints its RESULT line.
bench_measure() {
  local pol=$1 path=$2 hdrs=$3 p ok err rate t0 t1
  python3 "$TMP/client.py" "$DP_PORT" "$HOST" "$path" 4 1 "$hdrs" >/dev/null
  t0=$(dp_ticks)
  local clients=()
  for p in $(seq "$PROCS"); do
    python3 "$TMP/client.py" "$DP_PORT" "$HOST" "$path" "$CONNS" "$DURATION" "$hdrs" >"$TMP/out-$pol-$p.json" &
    clients+=($!)
  done
  wait "${clients[@]}"
  t1=$(dp_ticks)
  read -r ok err < <(python3 -c 'import json, sys
ok = err = 0
for f in sys.argv[1:]:
    d = json.load(open(f)); ok += d["ok"]; err += d["errors"]
print(ok, err)' "$TMP"/out-"$pol"-*.json)
  rate=$(awk -v ok="$ok" -v d="$DURATION" 'BEGIN { printf "%.0f", ok / d }')
  RATE[$pol]=$rate
  CPU_US[$pol]=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v ok="$ok" 'BEGIN { printf "%.1f", (ok > 0 ? t * 1e6 / hz / ok : 0) }')
  echo "RESULT scenario=handshake policy=$pol handshakes_per_s=$rate errors=$err duration_s=$DURATION procs=$PROCS conns=$((PROCS * CONNS)) workers=$WORKERS cpu_us_per_handshake=${CPU_US[$pol]}"
}

# bench_table POLICY...: handshakes/s of each measured policy and its ratio to "none".
bench_table() {
  local base=${RATE[none]:-} pol rel
  printf '\n%-16s %14s %10s %18s\n' policy handshakes/s "vs none" "CPU µs/handshake"
  for pol in "$@"; do
    [ -n "${RATE[$pol]:-}" ] || continue
    if [ -n "$base" ] && [ "$base" != 0 ]; then
      rel=$(awk -v a="${RATE[$pol]}" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
    else
      rel=-
    fi
    printf '%-16s %14s %10s %18s\n' "$pol" "${RATE[$pol]}" "$rel" "${CPU_US[$pol]:--}"
  done
}

# bench_nginx_http_common DIR: the http-block directives every generated nginx configuration shares (bench/peers.sh,
# bench/tls.sh): no access log, temporary files under DIR/tmp, hour-long client keep-alive, the Upgrade → Connection
# map the WebSocket location uses.
bench_nginx_http_common() {
  cat <<CONF
    access_log off;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    keepalive_timeout 3600s;
    map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
CONF
}

# bench_nginx_ws_location: the directives of a location proxying HTTP/1.1 and WebSocket upgrades to the upstream
# "backend" with hour-long tunnel timeouts.
bench_nginx_ws_location() {
  cat <<'CONF'
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
CONF
}
