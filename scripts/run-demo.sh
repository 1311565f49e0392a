#!/usr/bin/env bash
# scripts/run-demo.sh — `make run`: the whole path on one machine. Starts the demo backend (127.0.0.1:9000), the
# data plane (:8080 on loopback, admin 127.0.0.1:9901, control socket build/run/control.sock) and the controller
# reading examples/ (dir mode, re-applied on change), waits until the data plane is ready, prints how to connect
# from a shell and a browser, and runs until Ctrl-C, which stops everything it started.
#
# Knobs (environment): TOLLGATE_BUILD (default build), DEMO_LISTEN (default 127.0.0.1:8080; 0.0.0.0:8080 to
# reach it from other machines), DEMO_LOG_LEVEL (default info). Logs: build/run/*.log.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${TOLLGATE_BUILD:-build}
RUN=$BUILD/run
LISTEN=${DEMO_LISTEN:-127.0.0.1:8080}
ADMIN=127.0.0.1:9901
BACKEND=127.0.0.1:9000
LOG_LEVEL=${DEMO_LOG_LEVEL:-info}
SOCK=$PWD/$RUN/control.sock # absolute: the data plane takes a path starting with / (or .) as a Unix socket
PORT=${LISTEN##*:}

die() { echo "run-demo: $*" >&2; exit 1; }
for b in tollgate-demo-backend tollgate-dataplane tollgate-controller; do
  [ -x "$BUILD/$b" ] || die "$BUILD/$b is missing: run 'make' first"
done
for p in "${BACKEND##*:}" "$PORT" "${ADMIN##*:}" 9902; do
  if [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
    die "port $p is already in use (another 'make run'?); stop that first"
  fi
done
mkdir -p "$RUN"
rm -f "$SOCK"

# ---- every process started here is stopped on exit, by pid ----
PIDS=()
NAMES=()
stopping=0
cleanup() {
  [ $stopping = 1 ] && return
  stopping=1
  trap - EXIT INT TERM
  local i j
  echo
  echo "run-demo: stopping"
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null; done
  for ((j = 0; j < 50; j++)); do
    local alive=0
    for i in "${!PIDS[@]}"; do kill -0 "${PIDS[$i]}" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for i in "${!PIDS[@]}"; do kill -0 "${PIDS[$i]}" 2>/dev/null && kill -KILL "${PIDS[$i]}" 2>/dev/null; done
  for i in "${!PIDS[@]}"; do wait "${PIDS[$i]}" 2>/dev/null; done
  rm -f "$SOCK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # NAME LOG CMD...
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  PIDS+=($!)
  NAMES+=("$name")
}

# exits when one of the processes has died, showing the end of its log
check_alive() {
  local i
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      echo "run-demo: ${NAMES[$i]} exited; the end of $RUN/${NAMES[$i]}.log:" >&2
      tail -15 "$RUN/${NAMES[$i]}.log" >&2
      exit 1
    fi
  done
}

start demo-backend "$RUN/demo-backend.log" "$BUILD/tollgate-demo-backend" --listen "$BACKEND" --log-level "$LOG_LEVEL"
start dataplane "$RUN/dataplane.log" "$BUILD/tollgate-dataplane" --listen "$LISTEN" --admin "$ADMIN" \
  --control-socket "$SOCK" --log-level "$LOG_LEVEL"
for ((i = 0; i < 100; i++)); do [ -S "$SOCK" ] && break; check_alive; sleep 0.1; done
[ -S "$SOCK" ] || die "the data plane did not open $SOCK (log: $RUN/dataplane.log)"
start controller "$RUN/controller.log" "$BUILD/tollgate-controller" --source dir:examples/ --dataplane-socket "$SOCK" \
  --log-level "$LOG_LEVEL"

ready=0
for ((i = 0; i < 150; i++)); do
  check_alive
  if [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://$ADMIN/readyz")" = 200 ]; then ready=1; break; fi
  sleep 0.1
done
[ $ready = 1 ] || die "the data plane is not ready after 15 s (logs: $RUN/controller.log, $RUN/dataplane.log)"

cat <<MSG

  Tollgate demo is running.

    gateway   http://localhost:$PORT   (group "local", hostname localhost: examples/demo.yaml, seed-sample.yaml)
    admin     http://$ADMIN   /healthz /readyz /config /sessions /metrics /routes
    console   http://$ADMIN/console/   routes, live sessions and charts, debug (docs/console.md)
    backend   http://$BACKEND   tollgate-demo-backend (echo + chat room)
    logs      $RUN/{dataplane,controller,demo-backend}.log

  Browser: open http://localhost:$PORT/chat/ in two windows and chat (the page connects to ws://localhost:$PORT/chat/ws).

  Shell:
    curl -s http://localhost:$PORT/echo/hello -d '{"hi":1}'            # HTTP, JSON echo from the backend
    python3 -m websockets ws://localhost:$PORT/echo/                   # type lines, they come back
    node -e "const W=require('./tests/node/node_modules/ws'); const w=new W('ws://localhost:$PORT/echo/');
             w.on('open',()=>w.send('hello through Tollgate')); w.on('message',m=>{console.log(String(m)); w.close()})"
    python3 -m websockets 'ws://localhost:$PORT/v1/ws?apikey=demo-key-123'   # the seed's sample: API key
    curl -si 'http://localhost:$PORT/v1/ws' | head -1                   # without the key: 401
    $BUILD/tollgatectl --admin $ADMIN sessions --watch     # live WebSocket sessions (also: routes, config)
    curl -s http://$ADMIN/metrics | grep tollgate_             # counters

  Edit examples/*.yaml while this runs: the controller re-applies them within a second (delete the Secret in
  examples/seed-sample.yaml and the sessions its key admitted close with 1008 "token revoked").
  Ctrl-C stops everything.

MSG

# run until Ctrl-C, or until one of the processes dies
while :; do
  wait -n "${PIDS[@]}" 2>/dev/null
  check_alive
  sleep 0.2 # only reached if wait returned early without a death
done
