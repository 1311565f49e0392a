#!/usr/bin/env bash
# bench/tls_ktls.sh — the wss:// relay over TLS with kernel TLS and without it (issue 12 item 5): bench/tls.sh's
# relay scenarios (64 B messages/s, 1 MiB throughput, each with the proxy's CPU per message, and RSS per idle
# session) run twice inside one VM booted from Debian's kernel package (tests/vm/run_in_vm.sh): once with the
# `tls` module (OpenSSL hands AES-GCM records to the kernel) and once with it removed and not loadable (records
# in user space, the data plane's logged fallback). Tollgate and nginx (`ssl_conf_command Options KTLS`), TLS 1.2
# AES-GCM sessions (the data plane keeps TLS 1.3 in user space: docs/tls.md "kTLS").
#
#   bench/tls_ktls.sh [OUT.md]          (make bench-ktls; prints the two tables, writes them to OUT.md if given)
# Environment: BENCH_TLS_DURATION (default 5), BENCH_TLS_IDLE_SESSIONS (default 500), BENCH_KTLS_PEERS
# (default "tollgate nginx"), BENCH_KTLS_CPUS / BENCH_KTLS_MEM (the VM: default 2 vCPUs, 2048 MiB),
# BENCH_PORT_BASE (default 25000), TOLLGATE_BUILD, TOLLGATE_VM_ACCEL (kvm|tcg|auto).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --guest ]; then
  # inside the VM: both modes, one after the other; tables into $TOLLGATE_VM_OUT
  out=${TOLLGATE_VM_OUT:?run through bench/tls_ktls.sh, not directly}
  helper=$(cat /proc/sys/kernel/modprobe)
  export BENCH_TLS_PEERS=${BENCH_KTLS_PEERS:-tollgate nginx} BENCH_TLS_SCENARIOS="ws64 mib idle"
  export BENCH_TLS_IDLE_SESSIONS=${BENCH_TLS_IDLE_SESSIONS:-500} BENCH_TLS_SLAB=1 BENCH_TLS_ROUNDS=${BENCH_TLS_ROUNDS:-1}
  export BENCH_TLS_ECHO_ARGS=${BENCH_TLS_ECHO_ARGS:---tls 1.2} BENCH_TLS_IDLE_ARGS=${BENCH_TLS_IDLE_ARGS:---tls 1.2}
  {
    echo "guest: $(uname -r), $(nproc) vCPUs, $(awk '/MemTotal/ { printf("%d MiB", $2 / 1024) }' /proc/meminfo), $(openssl version)"
    grep -m1 "model name" /proc/cpuinfo
  } >"$out/vm.txt"
  echo "== kTLS: the tls module loaded ($(cat /proc/sys/net/ipv4/tcp_available_ulp))"
  bench/tls.sh "$out/ktls.md"
  grep -E "TlsTxSw|TlsRxSw" /proc/net/tls_stat | tr -s '\t ' ' ' >"$out/tls_stat.txt"
  modprobe -r tls
  echo /nonexistent-modprobe >/proc/sys/kernel/modprobe # the kernel would load it again on the first TCP_ULP
  echo "== user-space TLS: no tls module ($(cat /proc/sys/net/ipv4/tcp_available_ulp))"
  bench/tls.sh "$out/user.md"
  echo "$helper" >/proc/sys/kernel/modprobe
  exit 0
fi

OUT=${1:-}
res=$(mktemp -d /tmp/tollgate-ktls-bench.XXXXXX)
trap 'rm -rf "$res"' EXIT
export BENCH_PORT_BASE=${BENCH_PORT_BASE:-25000}
rc=0
tests/vm/run_in_vm.sh --cpus "${BENCH_KTLS_CPUS:-2}" --mem "${BENCH_KTLS_MEM:-2048}" --out "$res" -- \
  bench/tls_ktls.sh --guest || rc=$?
[ "$rc" = 77 ] && { echo "bench/tls_ktls.sh: skipped (no VM here, reason above)"; exit 0; }
[ "$rc" = 0 ] && [ -f "$res/ktls.md" ] && [ -f "$res/user.md" ] || { echo "bench/tls_ktls.sh: the VM run failed ($rc)" >&2; exit 1; }
report=$({
  echo "VM: $(head -n 1 "$res/vm.txt"); $(sed -n 2p "$res/vm.txt" | sed 's/.*: //')"
  echo
  echo "With kernel TLS (the \`tls\` module loaded; /proc/net/tls_stat after the run: $(tr '\n' ' ' <"$res/tls_stat.txt")):"
  echo
  sed '/^kTLS:/d;/^$/d' "$res/ktls.md"
  echo
  echo "User-space TLS (no \`tls\` module):"
  echo
  sed '/^kTLS:/d;/^$/d' "$res/user.md"
})
echo
echo "$report"
[ -n "$OUT" ] && echo "$report" >"$OUT"
exit 0
