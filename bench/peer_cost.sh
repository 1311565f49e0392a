#!/bin/bash
# bench/peer_cost.sh — what a relayed message costs each process, not only the proxy: the client's, the backend's
# and the proxy's CPU µs per message (utime + stime from /proc/PID/stat) and their system calls per message
# (perf stat on the syscalls:sys_enter_* tracepoints), for each peer of bench/peers.sh, pinned as make bench pins
# them (clients and backend on CPU 0, proxy on CPU 1). It explains the 64 B throughput row of make bench: on this
# 2-CPU machine the clients' CPU is the one that runs out, so a proxy's rate follows how much work its batching
# leaves the client and the backend (docs/performance.md "What limits the 64 B row").
#
# Usage: bench/peer_cost.sh            (BENCH_PEERS, BENCH_COST_CONNS=16, BENCH_COST_WINDOW=16, BENCH_COST_SIZE=64,
#                                       BENCH_COST_SECONDS=3, BENCH_COST_ROUNDS=2, BENCH_PORT_BASE=28000)
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${TOLLGATE_BUILD:-build}
BUILD=$(cd "$BUILD" && pwd) || exit 1
PEERS=${BENCH_PEERS:-direct tollgate nginx haproxy}
CONNS=${BENCH_COST_CONNS:-16} WINDOW=${BENCH_COST_WINDOW:-16} SIZE=${BENCH_COST_SIZE:-64}
SECONDS_MEASURED=${BENCH_COST_SECONDS:-3} ROUNDS=${BENCH_COST_ROUNDS:-2}
BASE=${BENCH_PORT_BASE:-28000}
BACKEND_PORT=$BASE PORT_TOLLGATE=$((BASE + 1)) PORT_ADMIN=$((BASE + 2)) PORT_NGINX=$((BASE + 3)) PORT_HAPROXY=$((BASE + 4))
BENCH_HOST=bench.local
PIN_LOAD="taskset -c 0" PIN_PROXY="taskset -c 1"
[ "$(nproc)" -ge 2 ] || { PIN_LOAD= PIN_PROXY=; }
command -v perf >/dev/null || { echo "peer_cost: perf (Debian linux-perf) is needed" >&2; exit 1; }
EVENTS=syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmsg,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait

TMP=$(mktemp -d /tmp/tollgate-peer-cost.XXXXXX)
STARTED_PIDS=()
track_pid() { STARTED_PIDS+=("$1"); }
cleanup() {
  local p
  for p in "${STARTED_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${BENCH_KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
# shellcheck source=bench/peers.sh
. bench/peers.sh

$PIN_LOAD "$BUILD/tollgate-bench" backend --listen "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
BACKEND_PID=$!
track_pid "$BACKEND_PID"
sleep 0.3

ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# sums the CPU ticks of a list of processes
ticks_of() { local t=0 p; for p in "$@"; do t=$((t + $(ticks "$p"))); done; echo "$t"; }
hz=$(getconf CLK_TCK)

# one_run PEER: prints "peer msgs/s client_us backend_us proxy_us c_sys b_sys p_sys" (per message)
one_run() {
  local peer=$1 addr proc_pids="" client_pid out n c0 b0 p0 c1 b1 p1 msgs f
  if [ "$peer" = direct ]; then
    addr=127.0.0.1:$BACKEND_PORT
  else
    peer_start "$peer" || { echo "peer_cost: $peer skipped: $PEER_NOTE" >&2; return 1; }
    addr=$PEER_ADDR proc_pids=$PEER_RSS_PIDS
  fi
  $PIN_LOAD "$BUILD/tollgate-bench" echo --target "$addr" --host "$BENCH_HOST" --conns "$CONNS" --window "$WINDOW" \
    --size "$SIZE" --duration "$(awk -v s="$SECONDS_MEASURED" 'BEGIN { print s + 1 }')" --warmup 0 --label cost \
    >"$TMP/client.out" 2>&1 &
  client_pid=$!
  sleep 0.5
  c0=$(ticks "$client_pid") b0=$(ticks "$BACKEND_PID") p0=0
  [ -n "$proc_pids" ] && p0=$(ticks_of $proc_pids)
  perf stat -x, -e "$EVENTS" -p "$client_pid" -o "$TMP/perf.client" -- sleep "$SECONDS_MEASURED" 2>/dev/null &
  perf stat -x, -e "$EVENTS" -p "$BACKEND_PID" -o "$TMP/perf.backend" -- sleep "$SECONDS_MEASURED" 2>/dev/null &
  if [ -n "$proc_pids" ]; then
    perf stat -x, -e "$EVENTS" -p "$(echo $proc_pids | tr ' ' ',')" -o "$TMP/perf.proxy" -- sleep "$SECONDS_MEASURED" 2>/dev/null &
  else
    : >"$TMP/perf.proxy"
  fi
  sleep "$SECONDS_MEASURED"
  c1=$(ticks "$client_pid") b1=$(ticks "$BACKEND_PID") p1=0
  [ -n "$proc_pids" ] && p1=$(ticks_of $proc_pids)
  wait "$client_pid"
  sleep 0.2
  msgs=$(grep -o 'msgs_per_s=[0-9.]*' "$TMP/client.out" | cut -d= -f2)
  [ -n "$proc_pids" ] && { kill $proc_pids 2>/dev/null; wait "$PEER_PID" 2>/dev/null; }
  [ -n "$msgs" ] || { echo "peer_cost: $peer: no result ($(tail -1 "$TMP/client.out"))" >&2; return 1; }
  n=$(awk -v m="$msgs" -v s="$SECONDS_MEASURED" 'BEGIN { print m * s }')
  for f in client backend proxy; do
    awk -F, -v n="$n" '/syscalls:sys_enter_/ { t += $1 } END { printf "%.3f\n", (n > 0 ? t / n : 0) }' "$TMP/perf.$f" >"$TMP/sys.$f"
  done
  awk -v peer="$peer" -v m="$msgs" -v n="$n" -v hz="$hz" -v c=$((c1 - c0)) -v b=$((b1 - b0)) -v p=$((p1 - p0)) \
    -v cs="$(cat "$TMP/sys.client")" -v bs="$(cat "$TMP/sys.backend")" -v ps="$(cat "$TMP/sys.proxy")" \
    'BEGIN { u = 1e6 / hz / n; printf "%s %.0f %.2f %.2f %.2f %.3f %.3f %.3f\n", peer, m, c * u, b * u, p * u, cs, bs, ps }'
}

echo "peer_cost: $CONNS connections x $WINDOW in flight, $SIZE-byte messages, $SECONDS_MEASURED s measured, $ROUNDS round(s); pinning: ${PIN_LOAD:-none} / ${PIN_PROXY:-none}; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %10s %10s %10s %10s %10s %10s %10s %10s\n' peer msgs/s "client µs" "backend µs" "c+b µs" "proxy µs" "client sc" "backend sc" "proxy sc"
for ((r = 1; r <= ROUNDS; r++)); do
  for peer in $PEERS; do
    line=$(one_run "$peer") || continue
    read -r p m c b x cs bs ps <<<"$line"
    printf '%-9s %10s %10s %10s %10s %10s %10s %10s %10s\n' "$p" "$m" "$c" "$b" "$(awk -v c="$c" -v b="$b" 'BEGIN { printf "%.2f", c + b }')" "$x" "$cs" "$bs" "$ps"
  done
done
echo "(µs: CPU per echoed message; sc: system calls per echoed message — recvfrom, sendto, sendmsg, recvmsg, read, write, writev, epoll_wait)"
