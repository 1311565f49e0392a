#!/usr/bin/env bash
# Installs what Tollgate needs to build, test, run the demo and benchmark, when it is missing.
# Idempotent and quiet when everything is present: the Makefile calls it before `make run`/`make test`.
# `--vm` (optional group, `make test-ktls`): also qemu-system-x86, and Debian's kernel package and busybox-static
# downloaded (not installed: tests/vm/run_in_vm.sh unpacks them) into TOLLGATE_VM_CACHE (~/.cache/tollgate-vm).
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_VM=0; [ "${1:-}" = --vm ] && WITH_VM=1

DEBIAN_PACKAGES=(
  build-essential pkg-config
  libev-dev libssl-dev libjansson-dev libyaml-dev libcurl4-openssl-dev libhiredis-dev libcjose-dev
  clang clang-tidy cppcheck libclang-rt-14-dev libbpf-dev
  nginx-light haproxy redis-server wrk curl openssl netcat-openbsd procps iproute2 psmisc valgrind strace gnuplot-nox
  python3 python3-pip nodejs npm chromium
)
[ "$WITH_VM" = 1 ] && DEBIAN_PACKAGES+=(qemu-system-x86)
PY_PACKAGES=(websockets==12.0 pytest==8.3.3 pyyaml==6.0.2 redis==5.0.8 requests==2.32.3 cryptography==48.0.0 prometheus-client==0.21.0)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Tools that may come from outside Debian on some machines (node, python) count as present when on PATH.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null || filtered+=("$p") ;;
    npm) command -v npm >/dev/null || filtered+=("$p") ;;
    python3) command -v python3 >/dev/null || filtered+=("$p") ;;
    python3-pip) python3 -m pip --version >/dev/null 2>&1 || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done
if [ ${#filtered[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${filtered[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
  # nginx/haproxy/redis packages start system services; the project starts its own on loopback.
  for svc in nginx haproxy redis-server; do $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; $SUDO service "$svc" stop >/dev/null 2>&1 || true; done
fi

py_missing=()
for spec in "${PY_PACKAGES[@]}"; do
  name=${spec%%==*}
  python3 -m pip show -q "$name" >/dev/null 2>&1 || py_missing+=("$spec")
done
if [ ${#py_missing[@]} -gt 0 ]; then
  echo "deps: installing Python packages: ${py_missing[*]}"
  python3 -m pip install -q --disable-pip-version-check "${py_missing[@]}" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages --disable-pip-version-check "${py_missing[@]}"
fi

if [ ! -d tests/node/node_modules/ws ] || [ ! -d tests/node/node_modules/playwright-core ]; then
  echo "deps: installing npm test clients (ws, playwright-core)"
  (cd tests/node && npm install --silent --no-audit --no-fund >/dev/null)
fi

if [ "$WITH_VM" = 1 ]; then
  vm_cache=${TOLLGATE_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate-vm}
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  [ -n "$kpkg" ] || { apt-get update -qq; kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}'); }
  mkdir -p "$vm_cache"
  for p in "$kpkg" busybox-static; do
    if ! ls "$vm_cache/${p}_"*.deb >/dev/null 2>&1; then
      echo "deps: downloading $p into $vm_cache (not installed)"
      (cd "$vm_cache" && apt-get download -q=2 "$p" 2>&1 | grep -v "unsandboxed" || true)
      ls "$vm_cache/${p}_"*.deb >/dev/null 2>&1 || { echo "deps: cannot download $p" >&2; exit 1; }
    fi
  done
fi
