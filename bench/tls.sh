#!/usr/bin/env bash
# bench/tls.sh — TLS termination side by side (issue 12): Tollgate, nginx and HAProxy, each with ONE worker/thread,
# the same self-signed ECDSA P-256 certificate, TLS 1.2–1.3, the same TLS 1.2 cipher list, session tickets on,
# proxying to the same echo backend (tollgate-bench backend). The same client for all: bench/tls/tls_load.c
# (built here; blocking threads, OpenSSL 3).
#
# Scenarios: full handshakes/s (TLS 1.3 and 1.2), resumed handshakes/s (TLS 1.3 PSK tickets, TLS 1.2 tickets),
# wss:// 64 B echo messages/s (8 connections × 16 in flight), wss:// 1 MiB echo throughput (2 connections), bytes of
# proxy RSS per idle wss:// session. Handshake rates are also given per CPU-second of the proxy (its utime+stime
# over the run): the client shares the machine's cores, so the wall-clock rate is bounded by the client too.
# kTLS: measured when the kernel offers the "tls" ULP (/proc/sys/net/ipv4/tcp_available_ulp), else reported
# as not available.
#
# Standalone: bench/tls.sh [OUT.md]; bench/run.sh calls it and appends the table to the report.
# Environment: TOLLGATE_BUILD (default build), BENCH_PORT_BASE (default 21480; the first free block of 6 ports from it),
# BENCH_TLS_DURATION (seconds per scenario, default 5), BENCH_TLS_ROUNDS (default 3: the median round per cell), BENCH_TLS_IDLE_SESSIONS (default 1000),
# BENCH_TLS_PEERS (default "tollgate nginx haproxy"), BENCH_TLS_IDLE_ARGS (e.g. "--tls 1.2" for TLS 1.2 idle
# sessions), BENCH_TLS_SCENARIOS (default "full13 full12 res13 res12 ws64 mib idle"), BENCH_TLS_ECHO_ARGS (e.g.
# "--tls 1.2" for the 64 B and 1 MiB relay), BENCH_KEEP_TMP=1.
# kTLS both ways: bench/tls_ktls.sh runs the relay scenarios of this script in a VM with and without the module.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh # bench_free_ports, bench_write_helpers, bench_nginx_*

BUILD=${TOLLGATE_BUILD:-build}
BASE=$(bench_free_ports "${BENCH_PORT_BASE:-21480}" 6) || { echo "bench/tls.sh: no free block of 6 loopback ports from ${BENCH_PORT_BASE:-21480}" >&2; exit 1; }
DUR=${BENCH_TLS_DURATION:-5}
ROUNDS=${BENCH_TLS_ROUNDS:-3}
IDLE=${BENCH_TLS_IDLE_SESSIONS:-1000}
PEERS=${BENCH_TLS_PEERS:-tollgate nginx haproxy}
SCEN=" ${BENCH_TLS_SCENARIOS:-full13 full12 res13 res12 ws64 mib idle} "
want() { [[ $SCEN == *" $1 "* ]]; }
OUT=${1:-}
HOST=bench.local
BACKEND_PORT=$BASE PORT_TG=$((BASE + 1)) PORT_TG_PLAIN=$((BASE + 2)) PORT_TG_ADMIN=$((BASE + 3))
PORT_NGINX=$((BASE + 4)) PORT_HAPROXY=$((BASE + 5))
CIPHERS="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

TMP=$(mktemp -d /tmp/tollgate-tls-bench.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ "${BENCH_KEEP_TMP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
bench_write_helpers "$TMP"
die() { echo "bench/tls.sh: $*" >&2; exit 1; }

[ -x "$BUILD/tollgate-dataplane" ] && [ -x "$BUILD/tollgate-bench" ] || die "build first (make)"
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$TMP/tls_load" bench/tls/tls_load.c -lssl -lcrypto -pthread \
  || die "cannot build bench/tls/tls_load.c"
LOAD=$TMP/tls_load

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$HOST" \
  -addext "subjectAltName=DNS:$HOST" -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
cat "$TMP/cert.pem" "$TMP/key.pem" >"$TMP/haproxy.pem"

KTLS=no
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null && KTLS=yes

"$BUILD/tollgate-bench" backend --listen "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
PIDS+=($!)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { local i; for ((i = 0; i < 200; i++)); do port_open "$1" && return 0; sleep 0.05; done; return 1; }
wait_port "$BACKEND_PORT" || die "the backend did not start"

write_tollgate() {
  PYTHONPATH="$TMP" python3 - "$TMP" "$HOST" "$BACKEND_PORT" <<'PY'
import json, sys
from bench_snapshot import proxy, snapshot
tmp, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
echo = proxy("echo", [], port, base_path="/", strip=False, env="bench", connect_ms=5000, timeout_ms=3600000,
             idle_ms=3600000)
snap = snapshot(host, [echo], env="bench", group_id="bench/bench")
snap["groups"][0]["tls"] = [{"certPem": open(f"{tmp}/cert.pem").read(), "keyPem": open(f"{tmp}/key.pem").read()}]
json.dump(snap, open(f"{tmp}/snapshot.json", "w"))
PY
}

write_nginx() {
  mkdir -p "$TMP/nginx/tmp"
  chmod 755 "$TMP" "$TMP/nginx" "$TMP/nginx/tmp"
  cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 19500; }
http {
$(bench_nginx_http_common "$TMP/nginx")
    upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$PORT_NGINX ssl reuseport backlog=4096;
        server_name $HOST;
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers $CIPHERS;
        ssl_prefer_server_ciphers on;
        ssl_session_tickets on;
        ssl_session_cache off;
        $( [ "$KTLS" = yes ] && echo "ssl_conf_command Options KTLS;" )
        location / {
$(bench_nginx_ws_location)
        }
    }
}
CONF
}

write_haproxy() {
  mkdir -p "$TMP/haproxy"
  cat >"$TMP/haproxy/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 9950
    ssl-default-bind-ciphers $CIPHERS
    ssl-default-bind-options ssl-min-ver TLSv1.2 prefer-client-ciphers
defaults
    mode http
    maxconn 9950
    option http-keep-alive
    http-reuse safe
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
frontend tls
    bind 127.0.0.1:$PORT_HAPROXY ssl crt $TMP/haproxy.pem alpn http/1.1
    default_backend echo
backend echo
    server backend1 127.0.0.1:$BACKEND_PORT
CONF
  # the same server-preference order as the others
  sed -i 's/ prefer-client-ciphers//' "$TMP/haproxy/haproxy.cfg"
}

PEER_PID= PEER_PORT= PEER_PIDS=
start_peer() {
  case $1 in
  tollgate)
    write_tollgate
    "$BUILD/tollgate-dataplane" --listen "127.0.0.1:$PORT_TG_PLAIN" --tls-listen "127.0.0.1:$PORT_TG" \
      --admin "127.0.0.1:$PORT_TG_ADMIN" --snapshot "$TMP/snapshot.json" --control-socket "$TMP/tg.sock" \
      --workers 1 --log-level info >"$TMP/tollgate.log" 2>&1 &
    PEER_PID=$! PEER_PORT=$PORT_TG ;;
  nginx)
    command -v nginx >/dev/null || return 1
    write_nginx
    nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/stdout.log" 2>&1 &
    PEER_PID=$! PEER_PORT=$PORT_NGINX ;;
  haproxy)
    command -v haproxy >/dev/null || return 1
    write_haproxy
    haproxy -db -f "$TMP/haproxy/haproxy.cfg" >"$TMP/haproxy/haproxy.log" 2>&1 &
    PEER_PID=$! PEER_PORT=$PORT_HAPROXY ;;
  esac
  PIDS+=("$PEER_PID")
  wait_port "$PEER_PORT" || return 1
  sleep 0.3
  PEER_PIDS="$PEER_PID $( (pgrep -P "$PEER_PID" || true) | tr '\n' ' ')"
  return 0
}
stop_peer() { kill "$PEER_PID" 2>/dev/null || true; wait "$PEER_PID" 2>/dev/null || true; }

# CPU ticks (utime + stime) of the peer's processes.
cpu_ticks() { local p t=0; for p in $PEER_PIDS; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
HZ=$(getconf CLK_TCK)

declare -A R
hs() { # peer key args...: "rate (per CPU-s)"
  local peer=$1 key=$2; shift 2
  local c0 c1 out n rate res cpu
  c0=$(cpu_ticks)
  out=$("$LOAD" handshakes --target "127.0.0.1:$PEER_PORT" --sni "$HOST" --conns 2 --duration "$DUR" "$@" 2>&1) || true
  c1=$(cpu_ticks)
  n=$(awk '{ print $2 }' <<<"$out"); rate=$(awk '{ print $4 }' <<<"$out"); res=$(awk '{ print $6 }' <<<"$out")
  cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" 'BEGIN { printf("%.2f", t / hz) }')
  if [ -z "$n" ] || [ "$n" = 0 ]; then R[$peer,$key]="failed"; echo "  $key: $out"; return; fi
  local per note=""
  per=$(awk -v n="$n" -v c="$cpu" 'BEGIN { if (c > 0) printf("%.0f", n / c); else print "?" }')
  if [[ $key == res* ]] && [ "$res" != "$n" ]; then note=", $res of $n resumed"; fi
  R[$peer,$key]="$rate/s ($per per CPU-s$note)"
  echo "  $key: $out (proxy CPU ${cpu}s)"
}

# Rounds: every round runs every peer (the order rotating per round, so drifting background load falls on all of
# them alike); each cell of the table is the median round by its first figure (rate, or bytes), and the range of
# that figure over the rounds follows it.
declare -A RR
ROUND_PEERS=($PEERS)
for ((round = 1; round <= ROUNDS; round++)); do
for ((pi = 0; pi < ${#ROUND_PEERS[@]}; pi++)); do
  peer=${ROUND_PEERS[$(((pi + round - 1) % ${#ROUND_PEERS[@]}))]}
  echo "== $peer (round $round of $ROUNDS)"
  if ! start_peer "$peer"; then
    echo "  $peer did not start"; for k in full13 full12 res13 res12 ws64 mib idle; do R[$peer,$k]="n/a"; done
    stop_peer; continue
  fi
  want full13 && hs "$peer" full13 --tls 1.3
  want full12 && hs "$peer" full12 --tls 1.2
  want res13 && hs "$peer" res13 --tls 1.3 --resume
  want res12 && hs "$peer" res12 --tls 1.2 --resume
  # relay scenarios: the rate, and the proxy's CPU per message (µs) or per MiB (ms) over the run
  if want ws64; then
    c0=$(cpu_ticks)
    out=$("$LOAD" echo --target "127.0.0.1:$PEER_PORT" --sni "$HOST" --conns 8 --size 64 --window 16 --duration "$DUR" ${BENCH_TLS_ECHO_ARGS:-} 2>&1) || true
    c1=$(cpu_ticks)
    echo "  ws64: $out"; R[$peer,ws64]=$(awk -v t=$((c1 - c0)) -v hz="$HZ" '/^messages/ { printf("%s msg/s (%.2f µs proxy CPU/msg)", $4, $2 > 0 ? t / hz * 1e6 / $2 : 0) }' <<<"$out"); R[$peer,ws64]=${R[$peer,ws64]:-failed}
  fi
  if want mib; then
    c0=$(cpu_ticks)
    out=$("$LOAD" echo --target "127.0.0.1:$PEER_PORT" --sni "$HOST" --conns 2 --size 1048576 --window 1 --duration "$DUR" ${BENCH_TLS_ECHO_ARGS:-} 2>&1) || true
    c1=$(cpu_ticks)
    echo "  mib: $out"; R[$peer,mib]=$(awk -v t=$((c1 - c0)) -v hz="$HZ" '/^messages/ { printf("%.0f MiB/s (%.2f ms proxy CPU/MiB)", $6 / 1048576, $2 > 0 ? t / hz * 1e3 / $2 : 0) }' <<<"$out"); R[$peer,mib]=${R[$peer,mib]:-failed}
  fi
  if want idle; then
    out=$("$LOAD" idle --target "127.0.0.1:$PEER_PORT" --sni "$HOST" --sessions "$IDLE" --rss-pids "$PEER_PIDS" --settle 2 ${BENCH_TLS_IDLE_ARGS:-} 2>&1) || true
    # BENCH_TLS_SLAB=1 (a quiet machine: the VM of bench/tls_ktls.sh): also the kernel's slab growth per session,
    # the whole machine's (client and backend sockets included), where kernel TLS keeps its per-session state
    echo "  idle: $out"; R[$peer,idle]=$(awk -v slab="${BENCH_TLS_SLAB:-0}" '/^sessions/ { printf("%s B", $4); if (slab == 1) printf(" (+ %s B kernel slab)", $10) }' <<<"$out"); R[$peer,idle]=${R[$peer,idle]:-failed}
  fi
  [ "$peer" = tollgate ] && grep -h "kernel TLS" "$TMP/tollgate.log" | sed 's/^/  /' || true
  stop_peer
  for k in full13 full12 res13 res12 ws64 mib idle; do RR[$peer,$k,$round]=${R[$peer,$k]:-n/a}; done
done
done

# The median round of each cell (by its leading number; failed or n/a rounds are left out unless all are).
for peer in $PEERS; do
  for k in full13 full12 res13 res12 ws64 mib idle; do
    R[$peer,$k]=$(for ((round = 1; round <= ROUNDS; round++)); do
      cell=${RR[$peer,$k,$round]}; n=${cell%%[^0-9]*}
      if [ -n "$n" ]; then printf '%s\t%s\n' "$n" "$cell"; fi
    done | sort -n | awk -F'\t' -v rounds="$ROUNDS" '{ v[NR] = $1; c[NR] = $2 }
      END { if (NR == 0) exit; m = int((NR + 1) / 2); printf("%s", c[m]); if (rounds > 1) printf(" [%s–%s]", v[1], v[NR]) }')
    R[$peer,$k]=${R[$peer,$k]:-${RR[$peer,$k,1]}}
  done
done

ktls_note="kTLS: the kernel here offers no \`tls\` ULP (/proc/sys/net/ipv4/tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null || echo none)), so every figure is user-space TLS; Tollgate asks for kTLS, falls back (logged once) and asks again once a minute."
[ "$KTLS" = yes ] && ktls_note="kTLS: offered by this kernel; Tollgate uses it for TLS 1.2 AES-GCM sessions (TLS 1.3 stays in user space: docs/tls.md), nginx (ssl_conf_command Options KTLS) for AES-GCM; HAProxy 2.6 has no kTLS."
TABLE=$({
  echo "| TLS scenario (1 worker each, ECDSA P-256) | $(echo "$PEERS" | sed 's/ / | /g') |"
  echo "| --- |$(for p in $PEERS; do printf ' --- |'; done)"
  for k in full13:"full handshakes/s, TLS 1.3" full12:"full handshakes/s, TLS 1.2" res13:"resumed handshakes/s, TLS 1.3 tickets" \
           res12:"resumed handshakes/s, TLS 1.2 tickets" ws64:"wss:// 64 B echo messages/s (8 conns × 16)" \
           mib:"wss:// 1 MiB echo throughput (2 conns)" idle:"proxy RSS per idle wss:// session ($IDLE)"; do
    want "${k%%:*}" || continue
    printf '| %s |' "${k#*:}"
    for p in $PEERS; do printf ' %s |' "${R[$p,${k%%:*}]:-n/a}"; done
    echo
  done
  echo
  echo "$ktls_note Load client: bench/tls/tls_load.c on the same machine (handshake rates per proxy CPU-second factor it out). ${DUR} s per scenario; $( [ "$ROUNDS" = 1 ] && echo "one round: noisy on a shared machine" || echo "the median of $ROUNDS rounds (peers in a rotating order), with the range of the first figure over the rounds in brackets")."
})
echo
echo "$TABLE"
[ -n "$OUT" ] && echo "$TABLE" >"$OUT"
exit 0
