#!/usr/bin/env bash
# kube_scale.sh — how long tollgate-controller --source kube takes to list, translate and push 5,000 ApiProxies.
#
# Uses the real test bed (tests/k8s/cluster.sh: etcd + kube-apiserver on loopback) in its own state directory
# (build/cluster-bench, or $TOLLGATE_CLUSTER_DIR; reused when already up, stopped at the end only if this script
# started it), loads N ApiProxies (default 5000) and one EnvironmentGroup into namespace tollgate-bench (once:
# a later run with the same N reuses them), starts a real data plane on a control socket, then times
#   tollgate-controller --source kube --namespace tollgate-bench --once
# from exec to exit (configuration load, paginated lists of every watched resource, translation, PUT /snapshot
# acknowledged by the data plane). Prints one line per measurement and a final summary line:
#   kube_scale: 5000 ApiProxies listed, translated and pushed in 1.234 s (best of 3)
# Environment: N (objects), RUNS (timed runs, default 3), TOLLGATE_BUILD (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
build=${TOLLGATE_BUILD:-build}
n=${N:-5000}
runs=${RUNS:-3}
ns=tollgate-bench
export TOLLGATE_CLUSTER_DIR=${TOLLGATE_CLUSTER_DIR:-$repo/build/cluster-bench}

for b in "$build/tollgate-controller" "$build/tollgate-dataplane"; do
  [[ -x "$b" ]] || { echo "kube_scale: $b missing (run make)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/tollgate-kube-scale.XXXXXX)
dp_pid=""
started_cluster=0
cleanup() {
  [[ -n "$dp_pid" ]] && kill "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null || true
  if [[ $started_cluster -eq 1 && "${TOLLGATE_KEEP_CLUSTER:-0}" != 1 ]]; then
    ./tests/k8s/cluster.sh down >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if ! ./tests/k8s/cluster.sh status >/dev/null 2>&1; then
  echo "kube_scale: starting the test bed in $TOLLGATE_CLUSTER_DIR" >&2
  ./tests/k8s/cluster.sh up >/dev/null
  started_cluster=1
fi
eval "$(./tests/k8s/cluster.sh env)"
kc=(kubectl --kubeconfig "$KUBECONFIG")

"${kc[@]}" create namespace "$ns" >/dev/null 2>&1 || true
have=$("${kc[@]}" get apiproxies -n "$ns" -o name 2>/dev/null | wc -l)
if [[ "$have" -ne "$n" ]]; then
  echo "kube_scale: loading $n ApiProxies into namespace $ns (have $have)" >&2
  "${kc[@]}" delete apiproxies --all -n "$ns" >/dev/null 2>&1 || true
  t0=$(date +%s.%N)
  # Ten parallel kubectl clients, each creating a tenth of the objects (one List each).
  python3 - "$n" "$ns" "$work" <<'PY'
import json, sys
n, ns, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
chunks = [[] for _ in range(10)]
chunks[0].append({"apiVersion": "tollgate.dev/v1alpha1", "kind": "EnvironmentGroup",
                  "metadata": {"name": "bench", "namespace": ns},
                  "spec": {"hostnames": ["bench.example.com"], "environments": ["prod"]}})
for i in range(n):
    chunks[i % 10].append({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "ApiProxy",
        "metadata": {"name": f"p{i:05d}", "namespace": ns},
        "spec": {"environments": ["prod"], "basePath": f"/svc/{i}",
                 "target": {"url": f"http://10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:8080"},
                 "websocket": {"enabled": True, "idleTimeout": "300s"}}})
for k, items in enumerate(chunks):
    with open(f"{work}/chunk{k}.json", "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
PY
  pids=()
  for k in 0 1 2 3 4 5 6 7 8 9; do
    "${kc[@]}" create -f "$work/chunk$k.json" -o name >/dev/null 2>"$work/create$k.err" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { cat "$work"/create*.err >&2; exit 1; }; done
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "kube_scale: loaded %d ApiProxies with kubectl in %.2f s\n", n, b - a }'
fi

sock="$work/control.sock"
admin_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/tollgate-dataplane" --listen 127.0.0.1:0 --admin "127.0.0.1:$admin_port" --control-socket "$sock" \
  --workers 1 --log-level warn >"$work/dataplane.log" 2>&1 &
dp_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

best=""
for r in $(seq 1 "$runs"); do
  t0=$(date +%s.%N)
  "$build/tollgate-controller" --source kube --kubeconfig "$KUBECONFIG" --namespace "$ns" \
    --dataplane-socket "$sock" --health off --once --log-level warn >"$work/controller.log" 2>&1 \
    || { echo "kube_scale: controller failed:" >&2; tail -n 20 "$work/controller.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  got=$(curl -sf "http://127.0.0.1:$admin_port/config" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["proxies"]))')
  [[ "$got" -eq "$n" ]] || { echo "kube_scale: the data plane has $got proxies, expected $n" >&2; exit 1; }
  printf 'kube_scale: run %d: %.3f s\n' "$r" "$s"
  if [[ -z "$best" ]] || awk -v s="$s" -v b="$best" 'BEGIN { exit !(s < b) }'; then best=$s; fi
done
printf 'kube_scale: %d ApiProxies listed, translated and pushed in %.3f s (best of %d)\n' "$n" "$best" "$runs"
