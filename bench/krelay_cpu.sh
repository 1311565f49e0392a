#!/usr/bin/env bash
# krelay_cpu.sh — the kernel relay's cost per relayed message (issue 15), user-space relay vs --kernel-relay,
# measured the way docs/performance.md ("Kernel relay") reports it: the same bench backend and echo client
# (build/tollgate-bench), one data plane at a time, interleaved rounds. Per round and mode it prints the echo
# rate and the CPU per relayed message: the proxy process's utime+stime (/proc/PID/stat) and, because redirected
# frames are sent by kernel workers and softirqs that are charged to no process, the whole machine's busy time
# (/proc/stat) divided by the same message count. A message is one relayed frame (each echo = 2).
# Env: BUILD (default build), BENCH_PORT_BASE (default 20480), KR_ROUNDS (3), KR_SECONDS (4), KR_CONNS (100),
# KR_WINDOW (1), KR_SIZE (64). Needs root for the kernel mode (CAP_BPF + CAP_NET_ADMIN).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build} BASE=${BENCH_PORT_BASE:-20480}
ROUNDS=${KR_ROUNDS:-3} SECS=${KR_SECONDS:-4} CONNS=${KR_CONNS:-100} WINDOW=${KR_WINDOW:-1} SIZE=${KR_SIZE:-64}
TOOL=$BUILD/tollgate-bench DP=$BUILD/tollgate-dataplane
TMP=$(mktemp -d /tmp/tg-krelay-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
BACKEND=$BASE PORT=$((BASE + 1)) ADMIN=$((BASE + 2))
"$TOOL" backend --listen "127.0.0.1:$BACKEND" >"$TMP/backend.log" 2>&1 &
PIDS+=($!)
BENCH_HOST=bench.test
mkdir -p "$TMP/tollgate"
# shellcheck source=bench/peers.sh
. bench/peers.sh # write_tollgate_snapshot: the same proxy as `make bench`
BACKEND_PORT=$BACKEND write_tollgate_snapshot
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; } # user nice system irq softirq (ticks)
ptime() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
printf '%-7s %-5s %12s %14s %16s %9s %9s\n' mode round "echoes/s" "proxy µs/msg" "machine µs/msg" "p50 µs" "p99 µs"
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in user kernel; do
    flag=; [ $mode = kernel ] && flag=--kernel-relay
    "$DP" --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN" --snapshot "$TMP/tollgate/snapshot.json" --control-socket "" \
      --workers 1 --log-level warn $flag >"$TMP/dp.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do curl -fs "http://127.0.0.1:$ADMIN/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    # warm the sessions up first (they move to the kernel once idle at a frame boundary), then measure
    p0=$(ptime "$pid") b0=$(busy)
    "$TOOL" echo --target "127.0.0.1:$PORT" --host bench.test --path /ws --conns "$CONNS" --window "$WINDOW" \
      --size "$SIZE" --duration "$SECS" --warmup 1 --label krelay >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; exit 1; }
    p1=$(ptime "$pid") b1=$(busy)
    sleep 0.5 # the client's sessions end: their last kernel counts are collected
    msgs=$(curl -fs "http://127.0.0.1:$ADMIN/metrics" | awk -F'[ }]' '/^tollgate_websocket_messages_total/ { s += $NF } END { print s }')
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rate=$(grep -o 'msgs_per_s=[0-9.]*' "$TMP/out" | head -1 | cut -d= -f2)
    p50=$(grep -o ' p50_us=[0-9.]*' "$TMP/out" | head -1 | cut -d= -f2 || true) p99=$(grep -o ' p99_us=[0-9.]*' "$TMP/out" | head -1 | cut -d= -f2 || true)
    awk -v m="$mode" -v r="$r" -v rate="${rate:-0}" -v msgs="$msgs" -v dp=$((p1 - p0)) -v db="$(echo "$b1 - $b0" | bc)" \
      -v hz="$HZ" -v p50="${p50:--}" -v p99="${p99:--}" 'BEGIN { printf("%-7s %-5s %12.0f %14.2f %16.2f %9s %9s\n", m, r,
        rate, dp / hz * 1e6 / msgs, db / hz * 1e6 / msgs, p50, p99) }'
  done
done
