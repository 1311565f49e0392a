#!/usr/bin/env bash
# bench/scale.sh — how the data plane scales with workers (issue 15 item 5): 64-byte WebSocket messages per
# second and WebSocket upgrades per second through 1 worker, 2 workers (one process), and 4 workers spread over
# two processes of 2 workers each (both listen on the same port: every worker's listener is SO_REUSEPORT, so
# the kernel spreads connections over all four). One tollgate-bench backend (one thread) for every layout.
#
#   messages: tollgate-bench echo, BENCH_SCALE_CONNS connections (default 100) × window 1 × 64 B
#   upgrades: bench/lib.sh's client (connect → upgrade → 101 → close frame → close), BENCH_SCALE_HS_PROCS
#             processes (default 2) × BENCH_SCALE_HS_CONNS connections (default 10)
# Each figure comes with the data plane's CPU per message / per upgrade (utime + stime of every data-plane
# process from /proc around the run), which depends far less on what else runs than the rate does.
#
# Prints one line per measurement:
#   RESULT scenario=scale layout=1x1|1x2|2x2 workers=N what=msgs64|upgrades rate_per_s=N cpu_us_per_op=N
#          cpu_share=N (the data plane's CPU seconds per wall second: 2.0 = both of this machine's CPUs)
# and a table. Knobs: BENCH_SCALE_DURATION (s per run, default 5), BENCH_SCALE_LAYOUTS (default "1x1 1x2 2x2",
# PROCESSESxWORKERS), BENCH_PORT_BASE (default 18780), TOLLGATE_BUILD (default build).
# On a machine with fewer CPUs than workers + clients + backend, the rates show where the CPUs run out, not
# how far the workers scale: read the CPU-per-operation column (it should stay flat as workers are added).
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${TOLLGATE_BUILD:-build}
DURATION=${BENCH_SCALE_DURATION:-5}
LAYOUTS=${BENCH_SCALE_LAYOUTS:-"1x1 1x2 2x2"}
ECHO_CONNS=${BENCH_SCALE_CONNS:-100}
PROCS=${BENCH_SCALE_HS_PROCS:-2}
CONNS=${BENCH_SCALE_HS_CONNS:-10}
PORT_BASE=${BENCH_PORT_BASE:-18780}
DP_PORT=$PORT_BASE ADMIN_PORT=$((PORT_BASE + 1)) BACKEND_PORT=$((PORT_BASE + 2)) ADMIN_PORT2=$((PORT_BASE + 3))
HOST=bench.local
WORKERS=1

NAME=scale
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup tg-bench-scale

PYTHONPATH="$TMP" python3 - "$TMP" "$BACKEND_PORT" "$HOST" <<'PY' || exit 1
import json, sys
from bench_snapshot import proxy, snapshot
tmp, backend_port, host = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{tmp}/snapshot.json", "w") as f:
    json.dump(snapshot(host, [proxy("echo", [], backend_port)]), f)
PY

"$BUILD/tollgate-bench" backend --listen "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
PIDS+=($!)

DPS=()
# start_dp ADMIN_PORT SOCKET WORKERS: one data plane on the shared listening port; waits for /readyz.
start_dp() {
  "$BUILD/tollgate-dataplane" --listen "127.0.0.1:$DP_PORT" --admin "127.0.0.1:$1" --control-socket "$2" \
    --workers "$3" --snapshot "$TMP/snapshot.json" --log-level warn >>"$TMP/dataplane.log" 2>&1 &
  PIDS+=($!)
  DPS+=($!)
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "scale: data plane not ready" >&2
  cat "$TMP/dataplane.log" >&2
  exit 1
}
stop_dps() {
  local p
  for p in "${DPS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  DPS=()
}
# every data plane's CPU so far, in clock ticks
dps_ticks() {
  local p t=0
  for p in "${DPS[@]}"; do t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }'))); done
  echo "$t"
}
hz=$(getconf CLK_TCK)
declare -A OUT

# report LAYOUT WHAT OPS SECONDS TICKS
report() {
  local rate cpu share
  rate=$(awk -v n="$3" -v s="$4" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  cpu=$(awk -v t="$5" -v hz="$hz" -v n="$3" 'BEGIN { printf "%.2f", (n > 0 ? t * 1e6 / hz / n : 0) }')
  share=$(awk -v t="$5" -v hz="$hz" -v s="$4" 'BEGIN { printf "%.2f", (s > 0 ? t / hz / s : 0) }')
  OUT["$1 $2"]="$rate $cpu $share"
  echo "RESULT scenario=scale layout=$1 workers=$(( ${1%x*} * ${1#*x} )) what=$2 rate_per_s=$rate cpu_us_per_op=$cpu cpu_share=$share"
}

for layout in $LAYOUTS; do
  procs=${layout%x*} workers=${layout#*x}
  start_dp "$ADMIN_PORT" "$TMP/control1.sock" "$workers"
  [ "$procs" -ge 2 ] && start_dp "$ADMIN_PORT2" "$TMP/control2.sock" "$workers"
  [ "$procs" -le 2 ] || { echo "scale: at most 2 processes" >&2; exit 2; }

  # 64-byte messages: one round trip in flight per connection
  t0=$(dps_ticks)
  line=$("$BUILD/tollgate-bench" echo --target "127.0.0.1:$DP_PORT" --host "$HOST" --path /echo \
    --conns "$ECHO_CONNS" --size 64 --duration "$DURATION" --warmup 1 --label "scale-$layout" 2>>"$TMP/echo.err")
  t1=$(dps_ticks)
  msgs=$(sed -n 's/.* msgs=\([0-9]*\).*/\1/p' <<<"$line")
  secs=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$line")
  if [ -z "$msgs" ]; then
    echo "scale: echo run failed ($layout):" >&2
    cat "$TMP/echo.err" >&2
    exit 1
  fi
  # the ticks cover the warm-up second too: count its share of the messages at the measured rate
  report "$layout" msgs64 "$msgs" "$secs" \
    "$(awk -v t=$((t1 - t0)) -v s="$secs" 'BEGIN { printf "%.0f", t * s / (s + 1) }')"

  # upgrades: a one-second warm-up, then PROCS clients × CONNS connections
  python3 "$TMP/client.py" "$DP_PORT" "$HOST" /echo 4 1 '[]' >/dev/null
  t0=$(dps_ticks)
  clients=()
  for p in $(seq "$PROCS"); do
    python3 "$TMP/client.py" "$DP_PORT" "$HOST" /echo "$CONNS" "$DURATION" '[]' >"$TMP/hs-$layout-$p.json" &
    clients+=($!)
  done
  wait "${clients[@]}"
  t1=$(dps_ticks)
  read -r ok err < <(python3 -c 'import json, sys
ok = err = 0
for f in sys.argv[1:]:
    d = json.load(open(f)); ok += d["ok"]; err += d["errors"]
print(ok, err)' "$TMP"/hs-"$layout"-*.json)
  [ "$err" = 0 ] || echo "scale: $err failed upgrades ($layout)" >&2
  report "$layout" upgrades "$ok" "$DURATION" $((t1 - t0))
  stop_dps
done

printf '\n%-8s %8s %14s %16s %10s %12s %16s %10s\n' layout workers "64 B msgs/s" "CPU µs/msg" "DP CPUs" \
  upgrades/s "CPU µs/upgrade" "DP CPUs"
for layout in $LAYOUTS; do
  read -r mr mc ms <<<"${OUT["$layout msgs64"]:-- - -}"
  read -r ur uc us <<<"${OUT["$layout upgrades"]:-- - -}"
  printf '%-8s %8s %14s %16s %10s %12s %16s %10s\n' "$layout" $(( ${layout%x*} * ${layout#*x} )) \
    "$mr" "$mc" "$ms" "$ur" "$uc" "$us"
done
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
