#!/usr/bin/env bash
# The local Kubernetes test bed: a real etcd and kube-apiserver on 127.0.0.1 (no kubelet, no controller-manager),
# RBAC on, service-account tokens (TokenRequest) issued, Tollgate's CRDs applied. People start it with
# `make cluster`, the pytest suite through tests/k8s/cluster.py; both run this script.
#
#   cluster.sh up       start it in the background (idempotent: a running test bed is left as it is)
#   cluster.sh down     stop it and remove its state (idempotent)
#   cluster.sh status   say whether it runs (exit 0) or not (exit 1)
#   cluster.sh env      print shell exports (KUBECONFIG, PATH with kubectl and helm)
#
# State lives in $TOLLGATE_CLUSTER_DIR (default build/cluster): pki/, etcd/, logs/, *.pid, kubeconfig and
# cluster.json (ports, paths; read by cluster.py). Binaries come from build-tools.sh (cached outside the repo).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${TOLLGATE_CLUSTER_DIR:-$repo/build/cluster}
mkdir -p "$(dirname "$dir")"
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")
ready_timeout=${TOLLGATE_CLUSTER_TIMEOUT:-120}

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# A pid file names a live process of ours only if that process still runs with our state directory on its
# command line (guards against a recycled pid), or is this shell's own child not yet through its exec: between
# the fork and the exec the child still carries this script's command line, a window a loaded machine stretches
# past the first readiness probe (CI once read it as "exited before ready" with an empty log).
pid_alive() {
    local f="$dir/$1.pid" pid
    [[ -f "$f" ]] || return 1
    pid=$(<"$f")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -F -- "$dir/" >/dev/null; then
        own_child_running "$pid" || return 1
    fi
    echo "$pid"
}

# True while PID is a child of this shell (ppid is $$) that has not exited (a zombie waits to be reaped).
own_child_running() {
    local stat rest state ppid
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    rest=${stat##*) }
    read -r state ppid _ <<<"$rest"
    [[ "$state" != Z && "$ppid" == "$$" ]]
}

stop_one() {
    local name=$1 pid i
    pid=$(pid_alive "$name") || { rm -f "$dir/$name.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$name.pid"
}

do_down() {
    stop_one kube-apiserver
    stop_one etcd
    rm -rf "$dir"
}

admin_curl() {
    curl -sS --max-time 5 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" "$@"
}

is_up() {
    pid_alive etcd >/dev/null && pid_alive kube-apiserver >/dev/null && [[ -f "$dir/cluster.json" ]] || return 1
    local port
    port=$(sed -n 's/.*"apiserverPort": \([0-9]*\).*/\1/p' "$dir/cluster.json")
    [[ "$(admin_curl "https://127.0.0.1:$port/readyz" 2>/dev/null)" == ok ]]
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

gen_pki() {
    local p="$dir/pki"
    mkdir -p "$p"
    (
        cd "$p"
        umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=tollgate-test-ca" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        cat >serving.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1
EXT
        cat >client.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EXT
        openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
        openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
            -extfile serving.ext -out apiserver.crt 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr \
            -subj "/O=system:masters/CN=tollgate-admin" 2>/dev/null
        openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
            -extfile client.ext -out admin.crt 2>/dev/null
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
        openssl pkey -in sa.key -pubout -out sa.pub
        rm -f ./*.csr ./*.ext ca.srl
    )
}

write_kubeconfig() {
    local port=$1 b64="base64 -w0"
    cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tollgate-test
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $($b64 <"$dir/pki/ca.crt")
users:
- name: tollgate-admin
  user:
    client-certificate-data: $($b64 <"$dir/pki/admin.crt")
    client-key-data: $($b64 <"$dir/pki/admin.key")
contexts:
- name: tollgate-test
  context: {cluster: tollgate-test, user: tollgate-admin, namespace: default}
current-context: tollgate-test
EOF
    chmod 600 "$dir/kubeconfig"
}

# Starts a binary detached from this shell (its own session, output to logs/NAME.log, without the lock's fd 8,
# which would otherwise keep the lock held for its whole life) and records its pid.
start_bg() {
    local name=$1
    shift
    setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null 8>&- &
    echo $! >"$dir/$name.pid"
}

wait_for() {
    local what=$1 name=$2 i
    shift 2
    for ((i = 0; i < ready_timeout * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        pid_alive "$name" >/dev/null || report_exit "$name" "$what"
        sleep 0.2
    done
    tail -n 30 "$dir/logs/$name.log" >&2
    die "$name not $what after ${ready_timeout}s"
}

# A process that died while being waited for: its log's tail, its exit status (it is this shell's child, so
# `wait` still has it) and, when the log is empty, that fact, so a CI log says what happened.
report_exit() {
    local name=$1 what=$2 pid rc=0
    pid=$(<"$dir/$name.pid")
    wait "$pid" 2>/dev/null || rc=$?
    if [[ -s "$dir/logs/$name.log" ]]; then
        tail -n 30 "$dir/logs/$name.log" >&2
    else
        log "$name wrote nothing to its log"
    fi
    if ((rc > 128)); then
        die "$name (pid $pid) exited before $what: killed by signal $((rc - 128))"
    fi
    die "$name (pid $pid) exited before $what: exit status $rc"
}

apiserver_ready() { [[ "$(admin_curl "https://127.0.0.1:$1/readyz")" == ok ]]; }

do_up() {
    local bin
    if is_up; then
        log "already running ($dir)"
        print_usage
        return 0
    fi
    # Anything left from an earlier run that died half way is removed first.
    do_down
    bin=$("$here/build-tools.sh") || die "could not build the test bed's binaries (see the build-tools messages above)"
    mkdir -p "$dir/logs" "$dir/etcd"
    trap on_fail EXIT

    local etcd_port etcd_peer api_port
    etcd_port=$(free_port)
    etcd_peer=$(free_port)
    api_port=$(free_port)
    gen_pki

    start_bg etcd "$bin/etcd" --name tollgate-test --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
        --initial-cluster "tollgate-test=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync --log-level warn
    wait_for healthy etcd curl -sf --max-time 2 "http://127.0.0.1:$etcd_port/health"

    start_bg kube-apiserver "$bin/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$etcd_port" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
        --endpoint-reconciler-type none \
        --cert-dir "$dir/pki/generated" \
        --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
        --client-ca-file "$dir/pki/ca.crt" \
        --authorization-mode Node,RBAC \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$dir/pki/sa.pub" \
        --service-account-signing-key-file "$dir/pki/sa.key" \
        --service-cluster-ip-range 10.96.0.0/16 \
        --allow-privileged=false --profiling=false --v=1
    wait_for ready kube-apiserver apiserver_ready "$api_port"

    write_kubeconfig "$api_port"
    cat >"$dir/cluster.json" <<EOF
{
  "dir": "$dir",
  "bin": "$bin",
  "kubeconfig": "$dir/kubeconfig",
  "server": "https://127.0.0.1:$api_port",
  "apiserverPort": $api_port,
  "etcdPort": $etcd_port,
  "caFile": "$dir/pki/ca.crt"
}
EOF
    local kc=("$bin/kubectl" --kubeconfig "$dir/kubeconfig")
    # RBAC's bootstrap roles are written by a post-start hook; wait for them before anyone relies on them.
    wait_for "serving RBAC" kube-apiserver "${kc[@]}" get clusterrole cluster-admin
    "${kc[@]}" apply --server-side --field-manager tollgate-test-bed -f "$repo/crds/" >/dev/null
    "${kc[@]}" wait --for condition=Established --timeout 60s -f "$repo/crds/" >/dev/null
    # No controller-manager runs, so nothing creates the default ServiceAccount; tests and people expect it.
    "${kc[@]}" create serviceaccount default -n default >/dev/null 2>&1 || true
    trap - EXIT
    print_usage
}

on_fail() {
    local rc=$?
    trap - EXIT
    [[ $rc -eq 0 ]] && return 0
    log "start failed (exit $rc); stopping what was started"
    stop_one kube-apiserver
    stop_one etcd
    if [[ -d "$dir/logs" ]]; then
        rm -rf "$dir.failed-logs"
        mv "$dir/logs" "$dir.failed-logs"
        log "logs kept in $dir.failed-logs"
    fi
    rm -rf "$dir"
    exit "$rc"
}

print_usage() {
    local bin
    bin=$(sed -n 's/.*"bin": "\(.*\)".*/\1/p' "$dir/cluster.json")
    cat >&2 <<EOF
cluster: kube-apiserver $(sed -n 's/.*"server": "\(.*\)".*/\1/p' "$dir/cluster.json") is up (etcd on 127.0.0.1:$(sed -n 's/.*"etcdPort": \([0-9]*\).*/\1/p' "$dir/cluster.json")), CRDs applied.
  export KUBECONFIG=$dir/kubeconfig PATH=$bin:\$PATH
  kubectl get crds; kubectl explain apiproxy.spec.policies; kubectl get tollgate -A
  (or: eval "\$(./tests/k8s/cluster.sh env)")   logs: $dir/logs/   stop: make cluster-down
EOF
}

do_env() {
    [[ -f "$dir/cluster.json" ]] || die "not running; start it with make cluster"
    local bin
    bin=$(sed -n 's/.*"bin": "\(.*\)".*/\1/p' "$dir/cluster.json")
    printf 'export KUBECONFIG=%q\nexport PATH=%q:"$PATH"\n' "$dir/kubeconfig" "$bin"
}

command -v openssl >/dev/null || die "openssl is required"
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

# One up/down at a time per state directory.
exec 8>"$dir.lock"
flock 8

case "${1:-}" in
up) do_up ;;
down) do_down; log "stopped ($dir removed)" ;;
status)
    if is_up; then echo "running: $dir"; else echo "not running"; exit 1; fi
    ;;
env) do_env ;;
*) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
