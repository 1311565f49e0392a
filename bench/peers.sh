# bench/peers.sh — sourced by bench/run.sh. Writes each peer's configuration into $TMP and starts/stops it.
#
# Peers: direct (the client talks to the backend), tollgate, nginx, haproxy. The three proxies get equivalent
# settings: 2 workers/threads, loopback listener, WebSocket upgrade proxying, a keep-alive upstream pool,
# no access logging, hour-long idle/tunnel timeouts, X-Forwarded-For/-Proto added. Each runs in the foreground
# (no daemon) with its pid/temp/log files under $TMP, never touching /etc, pinned with $PIN_PROXY.
#
# Inputs (set by run.sh): TMP BUILD BACKEND_PORT PORT_TOLLGATE PORT_ADMIN PORT_NGINX PORT_HAPROXY PIN_PROXY
#                          BENCH_HOST BENCH_API_KEY
# peer_start NAME sets: PEER_ADDR (client target), PEER_PID (main process), PEER_RSS_PIDS (processes whose RSS
#                        is summed: nginx master + workers), PEER_NOTE (why a peer was skipped). Returns non-zero
#                        when the peer cannot run.

# shellcheck source=bench/lib.sh
. bench/lib.sh # bench_nginx_http_common, bench_nginx_ws_location

PEER_ADDR= PEER_PID= PEER_RSS_PIDS= PEER_NOTE=

# One proxy of the snapshot: tollgate_proxy_json ID BASE_PATH POLICIES_JSON (the same target and WebSocket settings).
tollgate_proxy_json() {
  cat <<JSON
    {
      "id": "$1",
      "environments": ["bench"],
      "basePath": "$2",
      "stripBasePath": false,
      "maxRequestBodyBytes": 0,
      "target": {
        "pathPrefix": "",
        "endpoints": [{"address": "127.0.0.1", "port": $BACKEND_PORT}],
        "tls": {"enabled": false, "serverName": "", "caPem": ""},
        "connectTimeoutMs": 5000,
        "timeoutMs": 3600000,
        "loadBalancing": "roundRobin"
      },
      "websocket": {"enabled": true, "idleTimeoutMs": 3600000, "maxLifetimeMs": 0, "maxMessageBytes": 0},
      "policies": $3
    }
JSON
}

# Two proxies: "/" with no policy (every scenario) and "/key" with verifyApiKey (the upgradekey scenario sends
# BENCH_API_KEY in X-Api-Key; nginx and HAProxy serve that path with no policy at all).
write_tollgate_snapshot() {
  local key_sha256
  key_sha256=$(printf '%s' "$BENCH_API_KEY" | sha256sum | cut -d' ' -f1)
  cat >"$TMP/tollgate/snapshot.json" <<JSON
{
  "version": 1,
  "generatedAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "groups": [
    {"id": "bench/bench", "hostnames": ["$BENCH_HOST"], "environments": ["bench"]}
  ],
  "proxies": [
$(tollgate_proxy_json bench/echo / '[]'),
$(tollgate_proxy_json bench/key /key '[{"type": "verifyApiKey", "keyFrom": ["header:x-api-key"],
                    "keys": [{"id": "bench/key", "app": "bench", "sha256": "'"$key_sha256"'", "expiresAtMs": 0}]}]')
  ]
}
JSON
}

write_nginx_conf() {
  local d=$TMP/nginx
  mkdir -p "$d/tmp"
  chmod 755 "$TMP" "$d" "$d/tmp"
  cat >"$d/nginx.conf" <<CONF
# nginx peer of tollgate-bench (generated). 2 workers, one SO_REUSEPORT listener each (as Tollgate's workers).
worker_processes 2;
worker_rlimit_nofile 20000;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events {
    worker_connections 19500;
}
http {
$(bench_nginx_http_common "$d")
    keepalive_requests 10000000;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 256;
        keepalive_requests 10000000;
        keepalive_timeout 3600s;
    }
    server {
        listen 127.0.0.1:$PORT_NGINX reuseport backlog=4096;
        server_name $BENCH_HOST;
        location / {
$(bench_nginx_ws_location)
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_connect_timeout 5s;
        }
    }
}
CONF
}

write_haproxy_cfg() {
  mkdir -p "$TMP/haproxy"
  cat >"$TMP/haproxy/haproxy.cfg" <<CONF
# HAProxy peer of tollgate-bench (generated). 2 threads; maxconn keeps 2 descriptors per relayed session
# within the 20,000-descriptor process limit.
global
    nbthread 2
    maxconn 9950
    pidfile $TMP/haproxy/haproxy.pid

defaults
    mode http
    maxconn 9950
    option http-keep-alive
    option forwardfor
    http-reuse safe
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 1h
    timeout http-keep-alive 1h

frontend bench
    bind 127.0.0.1:$PORT_HAPROXY
    http-request set-header X-Forwarded-Proto http
    default_backend echo

backend echo
    server backend1 127.0.0.1:$BACKEND_PORT
CONF
}

# Polls "curl URL" (with the bench Host header) until it answers 200; 0 / 1 after timeout seconds.
wait_http_200() {
  local url=$1 timeout=${2:-10} i
  for ((i = 0; i < timeout * 20; i++)); do
    [ "$(curl -s -o /dev/null -m 1 -H "Host: $BENCH_HOST" -w '%{http_code}' "$url" 2>/dev/null)" = 200 ] && return 0
    kill -0 "$PEER_PID" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

peer_start() {
  PEER_ADDR= PEER_PID= PEER_RSS_PIDS= PEER_NOTE=
  case $1 in
  direct)
    PEER_ADDR=127.0.0.1:$BACKEND_PORT
    PEER_PID=$BACKEND_PID
    return 0
    ;;
  tollgate)
    if [ ! -x "$BUILD/tollgate-dataplane" ]; then
      PEER_NOTE="$BUILD/tollgate-dataplane is not built"
      return 1
    fi
    mkdir -p "$TMP/tollgate"
    write_tollgate_snapshot
    $PIN_PROXY "$BUILD/tollgate-dataplane" --listen "127.0.0.1:$PORT_TOLLGATE" --admin "127.0.0.1:$PORT_ADMIN" \
      --snapshot "$TMP/tollgate/snapshot.json" --control-socket "$TMP/tollgate/control.sock" --workers 2 \
      --log-level warn >"$TMP/tollgate/dataplane.log" 2>&1 &
    PEER_PID=$!
    PEER_ADDR=127.0.0.1:$PORT_TOLLGATE
    track_pid "$PEER_PID"
    if ! wait_http_200 "http://127.0.0.1:$PORT_ADMIN/readyz" 15; then
      PEER_NOTE="the data plane did not become ready (log: $TMP/tollgate/dataplane.log)"
      return 1
    fi
    ;;
  nginx)
    command -v nginx >/dev/null || { PEER_NOTE="nginx is not installed"; return 1; }
    write_nginx_conf
    $PIN_PROXY nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
      >"$TMP/nginx/stdout.log" 2>&1 &
    PEER_PID=$!
    PEER_ADDR=127.0.0.1:$PORT_NGINX
    track_pid "$PEER_PID"
    if ! wait_http_200 "http://$PEER_ADDR/hello" 15; then
      PEER_NOTE="nginx did not start (log: $TMP/nginx/error.log)"
      return 1
    fi
    ;;
  haproxy)
    command -v haproxy >/dev/null || { PEER_NOTE="haproxy is not installed"; return 1; }
    write_haproxy_cfg
    $PIN_PROXY haproxy -db -f "$TMP/haproxy/haproxy.cfg" >"$TMP/haproxy/haproxy.log" 2>&1 &
    PEER_PID=$!
    PEER_ADDR=127.0.0.1:$PORT_HAPROXY
    track_pid "$PEER_PID"
    if ! wait_http_200 "http://$PEER_ADDR/hello" 15; then
      PEER_NOTE="haproxy did not start (log: $TMP/haproxy/haproxy.log)"
      return 1
    fi
    ;;
  *)
    PEER_NOTE="unknown peer"
    return 1
    ;;
  esac
  # the proxy's processes: the main one and its direct children (nginx workers)
  PEER_RSS_PIDS="$PEER_PID $(pgrep -P "$PEER_PID" | tr '\n' ' ')"
  return 0
}
