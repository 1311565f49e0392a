#!/usr/bin/env bash
# bench/run.sh — `make bench`: Tollgate side by side with nginx, HAProxy and a direct connection, same backend
# (tollgate-bench backend) and same clients (tollgate-bench, wrk) for every peer. Scenarios:
#   lat1 / lat100  WebSocket echo round trip p50/p99/p99.9 at 1 and 100 connections (one message in flight each)
#   lat1same       lat1 with the proxy moved onto the clients' CPU: its own cost without cross-CPU wake-ups
#   tput64         64-byte message relay throughput (pipelined: 16 connections × 16 messages in flight)
#   tput1m         1 MiB message throughput (4 connections × 2 messages in flight)
#   idle           proxy RSS growth per idle WebSocket session (9,000 sessions by default, see below)
#   http           HTTP keep-alive requests/s with wrk
#   upgrade        WebSocket upgrades/s: 20 connections each looping connect → upgrade → 101 → close frame → close
#   upgradekey     the same with Tollgate checking an API key (verifyApiKey on /key); nginx and HAProxy no policy
# Prints a table per scenario with the ratio of Tollgate to the better of nginx/HAProxy, and writes
# docs/benchmarks.md (BENCH_QUICK=1: a short smoke run that writes build/bench/benchmarks.md instead).
#
# Knobs (environment): BENCH_QUICK=1, BENCH_ROUNDS (default 3), BENCH_DURATION (s per round, default 4),
# BENCH_PEERS (default
# "direct tollgate nginx haproxy"), BENCH_SCENARIOS (default "idle lat1 lat1same lat100 tput64 tput1m
# http upgrade upgradekey"), BENCH_IDLE_SESSIONS (default 9000), BENCH_PIN=0 (no CPU pinning),
# BENCH_LOAD_CPUS + BENCH_PROXY_CPUS (taskset CPU lists), BENCH_PORT_BASE (default 18480), BENCH_DOCS (where to write the report), BENCH_KEEP_TMP=1 (keep configs/logs).
#
# Exit status: 0 when every measurement ran (peers whose binary is missing are only skipped), 1 otherwise.
#
# Why 9,000 idle sessions and not 10,000: a relayed session costs the proxy two descriptors and a process here may
# hold at most 20,000, so one proxy process tops out near 9,900 sessions; 9,000 leaves room for listeners, pools
# and logs. The client side spreads its sessions over several processes (≤ 5,000 each).
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh # bench_free_ports

BUILD=${TOLLGATE_BUILD:-build}
TOOL=$BUILD/tollgate-bench
OUT=${BENCH_OUT:-$BUILD/bench}
QUICK=${BENCH_QUICK:-0}
PEERS=${BENCH_PEERS:-"direct tollgate nginx haproxy"}
SCENARIOS=" ${BENCH_SCENARIOS:-idle lat1 lat1same lat100 tput64 tput1m http upgrade upgradekey} "
BENCH_HOST=bench.local
if [ "$QUICK" = 1 ]; then
  ROUNDS=${BENCH_ROUNDS:-1} ROUND_DUR=${BENCH_DURATION:-1} WARM=0.3 IDLE_SESSIONS=${BENCH_IDLE_SESSIONS:-200} SETTLE=0.5
  DOCS=${BENCH_DOCS:-$OUT/benchmarks.md}
else
  ROUNDS=${BENCH_ROUNDS:-3} ROUND_DUR=${BENCH_DURATION:-4} WARM=1 IDLE_SESSIONS=${BENCH_IDLE_SESSIONS:-9000} SETTLE=3
  DOCS=${BENCH_DOCS:-docs/benchmarks.md}
fi
WRK_DUR=${ROUND_DUR%.*}
[ "${WRK_DUR:-0}" -ge 1 ] 2>/dev/null || WRK_DUR=1
# a partial run (some peers or scenarios) never overwrites the published figures unless BENCH_DOCS says so
if [ -z "${BENCH_DOCS:-}" ] && { [ -n "${BENCH_PEERS:-}" ] || [ -n "${BENCH_SCENARIOS:-}" ]; }; then
  DOCS=$OUT/benchmarks.md
fi
LAT_SIZE=32
TPUT64_CONNS=16 TPUT64_WINDOW=16
TPUT1M_CONNS=4 TPUT1M_WINDOW=2
WRK_CONNS=64
UPGRADE_CONNS=20
BENCH_API_KEY=bench-key-0123456789abcdef # upgradekey: Tollgate's /key proxy checks it (bench/peers.sh)

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$TOOL" ] || die "$TOOL is missing: run 'make' first"
for t in curl wrk taskset pgrep ss; do command -v "$t" >/dev/null || die "'$t' is missing (scripts/deps.sh installs it)"; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$TOOL" selftest >/dev/null 2>&1 || die "tollgate-bench selftest fails: run '$TOOL selftest'"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$OUT"
RESULTS=$OUT/results.txt
NOTES=$OUT/notes.txt
: >"$RESULTS"
: >"$NOTES"
TMP=$(mktemp -d /tmp/tollgate-bench.XXXXXX)

# ---- process bookkeeping: everything started here is stopped on exit, by pid ----
STARTED_PIDS=()
CLIENT_PID=
FAILED=0
track_pid() { STARTED_PIDS+=("$1"); }
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  trap - EXIT INT TERM
  [ -n "$CLIENT_PID" ] && stop_pid "$CLIENT_PID"
  local i
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED_PIDS[$i]}"; done
  if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then echo "bench: configs and logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# ---- CPU pinning: the proxy under test on its own core(s), clients and backend on the other(s) ----
NCPU=$(nproc)
if [ -n "${BENCH_LOAD_CPUS:-}" ] && [ -n "${BENCH_PROXY_CPUS:-}" ]; then
  PIN_LOAD="taskset -c $BENCH_LOAD_CPUS" PIN_PROXY="taskset -c $BENCH_PROXY_CPUS"
  PIN_DESC="clients and backend on CPUs $BENCH_LOAD_CPUS, proxy on CPUs $BENCH_PROXY_CPUS"
elif [ "${BENCH_PIN:-1}" = 0 ] || [ "$NCPU" -lt 2 ]; then
  PIN_LOAD= PIN_PROXY= PIN_DESC="none"
elif [ "$NCPU" -ge 4 ]; then
  PIN_LOAD="taskset -c 0,1" PIN_PROXY="taskset -c 2,3" PIN_DESC="clients and backend on CPUs 0-1, proxy on CPUs 2-3"
else
  PIN_LOAD="taskset -c 0" PIN_PROXY="taskset -c 1" PIN_DESC="clients and backend on CPU 0, proxy on CPU 1"
fi

# ---- ports: a block of five free loopback ports ----
base=$(bench_free_ports "${BENCH_PORT_BASE:-18480}" 5) || die "no free block of loopback ports found from ${BENCH_PORT_BASE:-18480}"
BACKEND_PORT=$base PORT_TOLLGATE=$((base + 1)) PORT_ADMIN=$((base + 2)) PORT_NGINX=$((base + 3)) PORT_HAPROXY=$((base + 4))

# shellcheck source=bench/peers.sh
. bench/peers.sh

# ---- krelay peer (issue 15): the data plane with --kernel-relay, on two ports of its own (base+5, base+6) ----
# BENCH_PEERS="... krelay" measures it beside the others (root: CAP_BPF + CAP_NET_ADMIN, else it falls back to
# the user-space relay and its log says so); bench/krelay_cpu.sh measures its CPU per relayed message.
PORT_KRELAY=$((base + 5)) PORT_KRELAY_ADMIN=$((base + 6))
eval "$(declare -f peer_start | sed '1s/^peer_start/peer_start_without_krelay/')"
peer_start() {
  if [ "$1" != krelay ]; then peer_start_without_krelay "$@"; return; fi
  mkdir -p "$TMP/krelay/bin"
  printf '#!/bin/sh\nexec %s "$@" --kernel-relay\n' "$(realpath "$BUILD/tollgate-dataplane")" >"$TMP/krelay/bin/tollgate-dataplane"
  chmod +x "$TMP/krelay/bin/tollgate-dataplane"
  BUILD=$TMP/krelay/bin TMP=$TMP/krelay PORT_TOLLGATE=$PORT_KRELAY PORT_ADMIN=$PORT_KRELAY_ADMIN \
    peer_start_without_krelay tollgate
}
# ---- end of the krelay peer ----

# ---- the backend, shared by every peer ----
$PIN_LOAD "$TOOL" backend --listen "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
BACKEND_PID=$!
track_pid "$BACKEND_PID"
PEER_PID=$BACKEND_PID
wait_http_200 "http://127.0.0.1:$BACKEND_PORT/hello" 10 || die "the bench backend did not start: $(cat "$TMP/backend.log")"

# Runs a client in the background (so Ctrl-C and TERM are handled at once, and the trap can stop it by pid);
# its stdout goes to $TMP/client.out, stderr to $TMP/client.err. Returns its exit status.
run_bg() {
  local rc
  "$@" >"$TMP/client.out" 2>"$TMP/client.err" &
  CLIENT_PID=$!
  wait "$CLIENT_PID"
  rc=$?
  CLIENT_PID=
  return $rc
}

# Appends the RESULT line of $TMP/client.out to the results file prefixed with the peer (or a failed= line
# when rc != 0 or there is none) and prints a one-line summary.
record() {
  local peer=$1 label=$2 rc=$3
  if [ "$rc" -eq 0 ] && grep -q '^RESULT ' "$TMP/client.out"; then
    grep '^RESULT ' "$TMP/client.out" | head -1 | sed "s/^RESULT /peer=$peer /" >>"$RESULTS"
    printf '  %-8s %-8s %s\n' "$peer" "$label" "$(grep '^RESULT ' "$TMP/client.out" | head -1 | summarize)"
    return 0
  fi
  echo "peer=$peer label=$label failed=1" >>"$RESULTS"
  FAILED=1
  printf '  %-8s %-8s FAILED: %s\n' "$peer" "$label" "$(tail -3 "$TMP/client.err" | tr '\n' ' ')"
  echo "$peer $label failed: $(tail -3 "$TMP/client.err" | tr '\n' ' ')" >>"$NOTES"
  return 1
}

run_client() {
  local peer=$1 label=$2
  shift 2
  run_bg "$@"
  record "$peer" "$label" $?
}

summarize() {
  awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
       END {
         if (v["scenario"] == "idle") printf("%s sessions, %s bytes/session, lost %s", v["sessions"], v["bytes_per_session"] == "" ? "n/a" : v["bytes_per_session"], v["lost"])
         else if (v["scenario"] == "upgrade") printf("%s upgrades/s, connect to 101 p50 %s us, p99 %s us", v["msgs_per_s"], v["hs_p50_us"], v["hs_p99_us"])
         else if (v["scenario"] == "http") printf("%s req/s, p50 %s us, p99 %s us, errors %s", v["rps"], v["p50_us"], v["p99_us"], v["errors"])
         else if (v["p50_us"] != "") printf("p50 %s us, p99 %s us, p99.9 %s us, %s msg/s", v["p50_us"], v["p99_us"], v["p999_us"], v["msgs_per_s"])
         else printf("%s msg/s, %s MiB/s", v["msgs_per_s"], v["mib_per_s"])
       }'
}

# wrk with --latency, turned into a RESULT line (latencies in µs).
wrk_result() {
  awk -v conns="$WRK_CONNS" -v secs="$WRK_DUR" '
    function us(s) { if (s ~ /us$/) return s + 0; if (s ~ /ms$/) return s * 1000; if (s ~ /s$/) return s * 1000000; return s }
    /^ +50%/ { p50 = us($2) } /^ +99%/ { p99 = us($2) }
    /Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
    END { if (rps == "") exit 1
          printf("RESULT scenario=http label=http threads=1 conns=%s seconds=%s rps=%s p50_us=%.1f p99_us=%.1f errors=%d\n", conns, secs, rps, p50, p99, errors) }'
}

run_http() {
  local peer=$1 addr=$2 rc
  run_bg $PIN_LOAD wrk -t1 -c"$WRK_CONNS" -d"${WRK_DUR}s" --latency -H "Host: $BENCH_HOST" "http://$addr/hello"
  rc=$?
  if [ $rc -eq 0 ]; then
    mv "$TMP/client.out" "$TMP/wrk.out"
    wrk_result <"$TMP/wrk.out" >"$TMP/client.out" || { rc=1; cp "$TMP/wrk.out" "$TMP/client.err"; }
  fi
  record "$peer" http $rc
}

want() { [[ "$SCENARIOS" == *" $1 "* ]]; }

declare -A P_ADDR P_RSS P_PID
LIVE=() # peers that started and pass the WebSocket check, in $PEERS order

start_peer() {
  local peer=$1
  if ! peer_start "$peer"; then
    [ -n "$PEER_PID" ] && [ "$peer" != direct ] && stop_pid "$PEER_PID"
    [ -n "$PEER_PID" ] && FAILED=1 # it was there but did not work (a missing binary is only skipped)
    echo "  $peer: skipped: $PEER_NOTE"
    echo "peer=$peer skipped=1" >>"$RESULTS"
    echo "$peer skipped: $PEER_NOTE" >>"$NOTES"
    return
  fi
  # warm-up: the proxy's first connections, pools and caches; also checks that WebSocket proxying works
  if ! $PIN_LOAD "$TOOL" echo --target "$PEER_ADDR" --conns 8 --duration 0.5 --warmup 0.2 --label warmup \
    >/dev/null 2>"$TMP/warm.err"; then
    [ "$peer" != direct ] && stop_pid "$PEER_PID"
    FAILED=1
    echo "  $peer: skipped: WebSocket echo fails: $(tail -2 "$TMP/warm.err" | tr '\n' ' ')"
    echo "peer=$peer skipped=1" >>"$RESULTS"
    echo "$peer skipped: WebSocket echo fails: $(tail -2 "$TMP/warm.err" | tr '\n' ' ')" >>"$NOTES"
    return
  fi
  P_ADDR[$peer]=$PEER_ADDR
  P_RSS[$peer]=$PEER_RSS_PIDS
  P_PID[$peer]=$PEER_PID
  LIVE+=("$peer")
  echo "  $peer: ready on $PEER_ADDR"
}

# CPU time (user + system, in clock ticks) the processes PIDS... have used so far (/proc/PID/stat fields 14, 15;
# the command name, field 2, may hold spaces: fields are counted after its closing parenthesis).
cpu_ticks() {
  local p sum=0 t
  for p in "$@"; do
    t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || continue
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)

# Adds the proxy's CPU per relayed message (or request) to the last results line when it is this peer's RESULT:
# cpu_us_per_msg = CPU µs used by the proxy's processes during the client's run ÷ the messages it relayed in that
# time. The client counts messages only after its warm-up, so the count is scaled to the whole run (warm-up at
# the same rate); wrk has no warm-up.
add_cpu() {
  local peer=$1 label=$2 ticks=$3 last
  last=$(tail -1 "$RESULTS")
  [[ "$last" == "peer=$peer "* ]] && [[ "$last" != *failed=* ]] || return 0
  local extra
  extra=$(echo "$last" | awk -v ticks="$ticks" -v hz="$CLK_TCK" -v warm="$WARM" -v wrkdur="$WRK_DUR" '
    { for (i = 1; i <= NF; i++) { eq = index($i, "="); if (eq > 1) v[substr($i, 1, eq - 1)] = substr($i, eq + 1) } }
    END {
      cpu_us = ticks * 1e6 / hz
      if (v["scenario"] == "http") n = v["rps"] * wrkdur
      else n = v["msgs"] * (v["seconds"] + warm) / (v["seconds"] > 0 ? v["seconds"] : 1)
      if (n > 0) printf("cpu_ms=%.0f cpu_us_per_msg=%.2f", cpu_us / 1000, cpu_us / n)
    }')
  [ -n "$extra" ] && sed -i '$ s/$/ '"$extra"'/' "$RESULTS"
  return 0
}

# One measurement of one scenario against one peer (with the proxy's CPU per message, except for direct).
run_scenario() {
  local peer=$1 label=$2 before after
  [ "$peer" = direct ] && { run_scenario_client "$peer" "$label"; return; }
  # shellcheck disable=SC2086
  before=$(cpu_ticks ${P_RSS[$peer]})
  run_scenario_client "$peer" "$label"
  # shellcheck disable=SC2086
  after=$(cpu_ticks ${P_RSS[$peer]})
  add_cpu "$peer" "$label" $((after - before))
}

run_scenario_client() {
  local peer=$1 label=$2 addr=${P_ADDR[$1]}
  case $label in
  lat1 | lat1same) run_client "$peer" "$label" $PIN_LOAD "$TOOL" echo --target "$addr" --conns 1 --size $LAT_SIZE \
    --duration "$ROUND_DUR" --warmup "$WARM" --label "$label" ;;
  lat100) run_client "$peer" lat100 $PIN_LOAD "$TOOL" echo --target "$addr" --conns 100 --size $LAT_SIZE \
    --duration "$ROUND_DUR" --warmup "$WARM" --label lat100 ;;
  tput64) run_client "$peer" tput64 $PIN_LOAD "$TOOL" echo --target "$addr" --conns $TPUT64_CONNS \
    --window $TPUT64_WINDOW --size 64 --duration "$ROUND_DUR" --warmup "$WARM" --label tput64 ;;
  tput1m) run_client "$peer" tput1m $PIN_LOAD "$TOOL" echo --target "$addr" --conns $TPUT1M_CONNS \
    --window $TPUT1M_WINDOW --size 1m --duration "$ROUND_DUR" --warmup "$WARM" --label tput1m ;;
  http) run_http "$peer" "$addr" ;;
  upgrade) run_client "$peer" upgrade $PIN_LOAD "$TOOL" upgrade --target "$addr" --conns $UPGRADE_CONNS --path /ws \
    --duration "$ROUND_DUR" --warmup "$WARM" --label upgrade ;;
  upgradekey) run_client "$peer" upgradekey $PIN_LOAD "$TOOL" upgrade --target "$addr" --conns $UPGRADE_CONNS \
    --path /key/ws --header "X-Api-Key: $BENCH_API_KEY" --duration "$ROUND_DUR" --warmup "$WARM" --label upgradekey ;;
  esac
}

START=$(date +%s)
if awk -v l="${LOAD_START%% *}" -v n="$NCPU" 'BEGIN { exit !(l > 0.25 * n) }'; then
  echo "bench: warning: load average is $LOAD_START on $NCPU CPUs: other work on this machine will make the figures noisy"
fi
echo "bench: $( [ "$QUICK" = 1 ] && echo "quick run" || echo "full run"): $ROUNDS round(s) × ${ROUND_DUR}s per scenario and peer; peers: $PEERS; pinning: $PIN_DESC"

echo "== starting the peers"
for peer in $PEERS; do start_peer "$peer"; done

# idle first, on processes that have not grown their heaps under load (freed memory would hide the cost)
if want idle; then
  echo "== idle sessions ($IDLE_SESSIONS)"
  for peer in "${LIVE[@]}"; do
    rss_args=()
    if [ "$peer" != direct ]; then for p in ${P_RSS[$peer]}; do rss_args+=(--rss-pid "$p"); done; fi
    run_client "$peer" idle $PIN_LOAD "$TOOL" idle --target "${P_ADDR[$peer]}" --sessions "$IDLE_SESSIONS" \
      --settle "$SETTLE" --label idle "${rss_args[@]}"
    sleep 1
  done
fi

# the other scenarios: rounds interleave the peers (in a rotating order), so drifting background load is spread
# over all of them instead of falling on whichever ran last; the report takes the median of the rounds
# moves every thread of the running proxies onto a CPU list (lat1same)
repin_proxies() {
  local peer p
  for peer in "${LIVE[@]}"; do
    [ "$peer" = direct ] && continue
    for p in ${P_RSS[$peer]}; do taskset -a -p -c "$1" "$p" >/dev/null 2>&1; done
  done
}

for label in lat1 lat1same lat100 tput64 tput1m http upgrade upgradekey; do
  want "$label" || continue
  if [ "$label" = lat1same ]; then
    if [ -z "$PIN_PROXY" ] || [ "${PIN_PROXY#taskset -c }" = "${PIN_LOAD#taskset -c }" ]; then
      echo "lat1same skipped: the proxies already share the clients' CPUs" >>"$NOTES"
      continue
    fi
    repin_proxies "${PIN_LOAD#taskset -c }"
  fi
  echo "== $label"
  if [ "$label" = http ] && [ "$QUICK" != 1 ]; then # fill the upstream keep-alive pools once
    for peer in "${LIVE[@]}"; do
      $PIN_LOAD wrk -t1 -c"$WRK_CONNS" -d1s -H "Host: $BENCH_HOST" "http://${P_ADDR[$peer]}/hello" >/dev/null 2>&1
    done
  fi
  n=${#LIVE[@]}
  for ((round = 0; round < ROUNDS; round++)); do
    for ((k = 0; k < n; k++)); do run_scenario "${LIVE[$(((k + round) % n))]}" "$label"; done
  done
  [ "$label" = lat1same ] && repin_proxies "${PIN_PROXY#taskset -c }"
done
for peer in "${LIVE[@]}"; do [ "$peer" = direct ] || stop_pid "${P_PID[$peer]}"; done
ELAPSED=$(( $(date +%s) - START ))

mkdir -p "$OUT/plots"
REPORT=$(awk -v peers="$PEERS" -v plots="$OUT/plots" -f bench/report.awk "$RESULTS")
echo
echo "$REPORT"
# the pictures, next to the report (docs/images/ for docs/benchmarks.md)
PICTURES=$(./bench/plots.sh "$OUT/plots" "$(dirname "$DOCS")/images")

# ---- Tollgate-only benchmarks: handshakes/s per policy, and the controller at scale ----
EXTRA=""
if [ "${BENCH_EXTRAS:-1}" = 1 ]; then
  hs_duration=5; [ "$QUICK" = 1 ] && hs_duration=1
  echo "bench: handshakes/s with each authentication policy (bench/policy_handshakes.sh)"
  hs_out=$(BENCH_HS_DURATION=$hs_duration BENCH_PORT_BASE=$((${BENCH_PORT_BASE:-18000} + 680)) ./bench/policy_handshakes.sh 2>&1) || FAILED=1
  echo "$hs_out" | grep -v '^RESULT'
  echo "bench: handshakes/s with each traffic policy (bench/policy_traffic.sh)"
  tr_out=$(BENCH_TR_DURATION=$hs_duration BENCH_PORT_BASE=$((${BENCH_PORT_BASE:-18000} + 720)) ./bench/policy_traffic.sh 2>&1) || FAILED=1
  echo "$tr_out" | grep -v '^RESULT'
  EXTRA=$(printf '### WebSocket handshakes per second with each policy (Tollgate only)\n\nbench/policy_handshakes.sh and bench/policy_traffic.sh: clients loop on connect → upgrade → 101 → close; the clients share the CPUs with the data plane, so compare policies with each other.\n\n```\n%s\n%s\n```\n' \
    "$(echo "$hs_out" | grep -v '^RESULT' | tail -n 20)" "$(echo "$tr_out" | grep -v '^RESULT' | tail -n 20)")
  echo "bench: what debug-session recording costs HTTP requests (bench/debug_overhead.sh)"
  dbg_out=$(ROUNDS=$( [ "$QUICK" = 1 ] && echo 1 || echo 3 ) DURATION=$( [ "$QUICK" = 1 ] && echo 1 || echo 4 ) \
    PORT_BASE=$((${BENCH_PORT_BASE:-18000} + 760)) ./bench/debug_overhead.sh 2>&1) || FAILED=1
  echo "$dbg_out" | tail -n 4
  EXTRA=$(printf '%s\n### Debug-session recording (bench/debug_overhead.sh, Tollgate only)\n\nwrk keep-alive requests/s, 2 workers: no debug session, a live one on another proxy (matches nothing: what every request pays while an operator debugs something else), one matching every request until its 100 transactions. Rates on this shared machine move by several %%; the load-independent figure (callgrind, `BENCH_DEBUG_OTHER=1 make bench-instructions`) is in [performance.md](performance.md) "Recording costs".\n\n```\n%s\n```\n' \
    "$EXTRA" "$(echo "$dbg_out" | tail -n 4)")
  if [ "$QUICK" != 1 ] && ./tests/k8s/build-tools.sh --path >/dev/null 2>&1; then
    echo "bench: controller list + translate + push of 5,000 ApiProxies (bench/kube_scale.sh)"
    ks_out=$(./bench/kube_scale.sh 2>&1) || FAILED=1
    echo "$ks_out" | tail -n 15
    EXTRA=$(printf '%s\n### Controller at scale (5,000 ApiProxies against a real kube-apiserver)\n\n```\n%s\n```\n' "$EXTRA" "$(echo "$ks_out" | tail -n 15)")
  fi
fi

# ---- TLS termination side by side (bench/tls.sh, issue 12; BENCH_TLS=0 skips it) ----
if [ "${BENCH_TLS:-1}" = 1 ]; then
  echo "bench: TLS termination side by side with nginx and HAProxy (bench/tls.sh)"
  tls_out=$(BENCH_TLS_DURATION=$( [ "$QUICK" = 1 ] && echo 1 || echo 5 ) BENCH_TLS_ROUNDS=${BENCH_TLS_ROUNDS:-$( [ "$QUICK" = 1 ] && echo 1 || echo 3 )} BENCH_PORT_BASE=$((${BENCH_PORT_BASE:-18480} + 3000)) ./bench/tls.sh "$TMP/tls.md" 2>&1) || FAILED=1
  echo "$tls_out" | tail -n 12
  EXTRA=$(printf '%s\n### TLS termination (bench/tls.sh, one worker each)\n\n%s\n' "$EXTRA" "$(cat "$TMP/tls.md" 2>/dev/null)")
fi
# ---- end of the TLS block ----

# ---- docs/benchmarks.md ----
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_total=$(awk '/^MemTotal/ { printf("%.1f GiB", $2 / 1048576) }' /proc/meminfo)
ver_nginx=$(nginx -v 2>&1 | sed 's/^nginx version: nginx\///')
ver_haproxy=$(haproxy -v 2>/dev/null | head -1 | awk '{ print $3 }')
ver_wrk=$(wrk -v 2>&1 | head -1 | awk '{ print $2 }' | sed 's/^debian\///')
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "# Benchmarks"
  echo
  echo "Generated by \`make bench\` (bench/run.sh) on $(date -u +'%Y-%m-%d %H:%M UTC'), Tollgate at commit \`$rev\`$( [ "$QUICK" = 1 ] && echo ", **quick mode** (BENCH_QUICK=1: figures are a smoke test, not measurements)")."
  echo "The whole run took ${ELAPSED} s."
  echo
  echo "## Machine"
  echo
  echo "- CPUs: $NCPU × $cpu_model"
  echo "- Kernel: $(uname -sr), memory: $mem_total"
  echo "- Peers: Tollgate data plane (\`build/tollgate-dataplane\`), nginx $ver_nginx, HAProxy $ver_haproxy (Debian packages); load: tollgate-bench, wrk $ver_wrk"
  echo "- CPU pinning: $PIN_DESC (taskset)"
  echo "- Load average when the run started: $LOAD_START (anything else running on the machine makes the figures noisier; compare ratios within one run, not absolute numbers across runs)"
  echo
  echo "## Setup"
  echo
  echo "- **Same backend for every peer**: \`tollgate-bench backend\` (bench/backend.c), one libev thread: WebSocket echo on any path (frames echoed as they stream in, so 1 MiB messages are never held whole), and a plain-text \`hello\` (6-byte body) for any other HTTP request. The demo backend is not used so that the figures depend on nothing but the proxies."
  echo "- **Same clients for every peer**: \`tollgate-bench echo\` / \`tollgate-bench idle\` (bench/ws_client.c, scenarios.c, idle.c: libev, one masked frame pre-built per connection, echoes counted and skipped) and \`wrk\` for HTTP. Host header \`$BENCH_HOST\`."
  echo "- **direct** is the client talking to the backend with no proxy: the floor the proxies add to for latency. It is not a ceiling for throughput: with the clients and the backend sharing their CPU(s), direct runs on half the CPU a proxied setup has."
  if [ -n "$PIN_PROXY" ] && [ "${PIN_PROXY#taskset -c }" != "${PIN_LOAD#taskset -c }" ]; then
    echo "- With the proxy on its own CPU, a proxied round trip crosses between CPUs four times (client → proxy → backend → proxy → client) and a direct one never does; on a virtual machine each cross-CPU wake-up costs tens of µs, so most of the *added* latency at one connection is that, paid equally by every proxy. The \"proxy on the clients' CPU\" table moves the running proxies onto the clients' CPU for one more 1-connection run: no cross-CPU hop anywhere, so its added latency is the proxy's own work. \`BENCH_PIN=0\` lets the scheduler place everything instead (noisier)."
  fi
  echo "- **Equivalent proxy settings**: 2 workers (Tollgate \`--workers 2\`, nginx \`worker_processes 2\` with a \`reuseport\` listener each, HAProxy \`nbthread 2\`), WebSocket upgrade proxying, keep-alive upstream pools (nginx \`keepalive 256\`, HAProxy \`http-reuse safe\`, Tollgate's per-endpoint pool), no access logs, one-hour idle/tunnel timeouts, X-Forwarded-For/-Proto added. The generated nginx/HAProxy configurations and the Tollgate snapshot are in bench/peers.sh."
  echo "- **Upgrades**: \`tollgate-bench upgrade\` (bench/scenarios.c), $UPGRADE_CONNS connections on one libev loop, each looping connect → upgrade request → 101 (Sec-WebSocket-Accept checked) → masked close frame → the backend's close frame and FIN through the proxy → close: a reconnect storm at constant concurrency. Upgrades/s, the connect-to-101 time, and the proxy's CPU per upgrade. **upgradekey** sends an \`X-Api-Key\` header to \`/key/ws\`: Tollgate's proxy there checks it with \`verifyApiKey\` (bench/peers.sh), nginx and HAProxy proxy it with no policy at all — the issue's goal is that Tollgate checking a key is still at least as fast as HAProxy not checking one."
  echo "- **Idle sessions**: $IDLE_SESSIONS sessions, not 10,000: a relayed session holds two descriptors in the proxy and a process may hold at most 20,000 here, so one proxy process tops out near 9,900 relayed sessions. The client spreads its sessions over several processes (≤ 5,000 each). Memory is VmRSS from /proc/PID/status (nginx: master + workers), read before the sessions open and ${SETTLE} s after the last one opened, while they are still open."
  echo "- **Proxy CPU per message**: the CPU time (user + system, all threads and processes of the proxy, from /proc/PID/stat) used during each client run, divided by the messages relayed in it (the client's count scaled to include its warm-up) or the requests served: less noisy than rates on a shared machine, because it does not depend on how much CPU the clients got. [performance.md](performance.md) has the profiles behind it."
  echo "- All peers run side by side on their own ports, each warmed up with a short echo run. The idle scenario runs first on each, so memory freed by earlier load cannot hide its cost. Every other scenario runs in $ROUNDS round(s) of ${ROUND_DUR} s (after a ${WARM} s warm-up each) that interleave the peers in a rotating order, so drifting background load falls on all of them alike; the tables show the median of the rounds."
  echo
  echo "## Results"
  echo
  echo "Ratios compare Tollgate with the better of nginx and HAProxy. The issue's targets: added latency and throughput at least as good as the better of nginx and HAProxy; ≤ 4 KiB user-space memory per idle relayed session (long-run goal 1 KiB)."
  echo
  echo "$REPORT"
  echo
  if [ -n "$PICTURES" ]; then
    echo "### Pictures"
    echo
    echo "Latency by percentile per scenario (medians of the rounds at each percentile; log scales), and every ratio above as a bar (bench/plots.sh, gnuplot)."
    echo
    echo "$PICTURES"
  fi
  if [ -n "$EXTRA" ]; then
    echo "$EXTRA"
    echo
  fi
  if [ -s "$NOTES" ]; then
    echo "### Notes from this run"
    echo
    sed 's/^/- /' "$NOTES"
    echo
  fi
  echo "## Reproduce"
  echo
  echo '```'
  echo "make bench                      # builds, then runs bench/run.sh (about $(( (ELAPSED + 59) / 60 )) minutes here) and rewrites this file"
  echo "BENCH_QUICK=1 ./bench/run.sh    # a short smoke run; writes build/bench/benchmarks.md"
  echo "make bench-instructions BUILDS=\"build-before build\"   # instructions per message / request (callgrind), two builds, load-independent"
  echo "BENCH_PEERS=\"tollgate nginx\" BENCH_SCENARIOS=\"lat1 tput64\" BENCH_ROUNDS=5 ./bench/run.sh"
  echo '```'
  echo
  echo "Other knobs: \`BENCH_IDLE_SESSIONS\`, \`BENCH_PIN=0\` (no pinning), \`BENCH_LOAD_CPUS\` + \`BENCH_PROXY_CPUS\` (CPU lists for taskset), \`BENCH_PORT_BASE\`, \`BENCH_KEEP_TMP=1\` (keep the generated configs and logs), \`BENCH_DOCS=PATH\`. Raw figures of the last run: build/bench/results.txt. One scenario by hand:"
  echo
  echo '```'
  echo "build/tollgate-bench backend --listen 127.0.0.1:9000 &"
  echo "build/tollgate-bench echo --target 127.0.0.1:9000 --conns 100 --duration 10"
  echo "build/tollgate-bench echo --target 127.0.0.1:9000 --conns 16 --window 16 --size 64"
  echo "build/tollgate-bench upgrade --target 127.0.0.1:8080 --host bench.local --conns 20 --duration 10 --path /key/ws --header 'X-Api-Key: KEY'"
  echo "build/tollgate-bench idle --target 127.0.0.1:8080 --host bench.local --sessions 9000 --rss-pid \$(pgrep -f tollgate-dataplane)"
  echo '```'
} >"$DOCS.tmp" && mv "$DOCS.tmp" "$DOCS"
echo "bench: report written to $DOCS (raw results: $RESULTS), ${ELAPSED} s"
if [ "$FAILED" = 1 ]; then
  echo "bench: some measurements failed or a peer did not work (see the notes in $DOCS)" >&2
  exit 1
fi
