#!/usr/bin/env bash
# run_all.sh — the whole suite behind `make test` (and `make asan` with TOLLGATE_BUILD=build-asan):
#   1. C unit tests (build/tests/test_*), 2. pytest: integration tests against the real binaries and peers
#   (tests/integration), the Kubernetes test bed, CRDs and chart (tests/k8s), the controller against the real
#   apiserver (tests/kube). Before them, the layer check (scripts/layers.py), and after the unit tests a 10 s run of
#   each libFuzzer target when clang is installed. Prints progress and ends with one
#   line: "N passed, N failed", counting tests — the layer check, each C unit-test program and each pytest test —
#   with the unit programs' assertions reported apart.
# Environment: TOLLGATE_BUILD (default build), PYTEST_ARGS (extra pytest arguments, e.g. "-k websocket"),
# TOLLGATE_SKIP_K8S=1 (leave out the tests that need the real kube-apiserver and its ~30 min first build).
set -u
cd "$(dirname "$0")/.."
build=${TOLLGATE_BUILD:-build}
export TOLLGATE_BUILD=$build
passed=0; failed=0; assertions=0

# The Kubernetes test bed's binaries (kube-apiserver, etcd, kubectl, helm) are built from Go modules on a fresh
# machine (~20-30 min on 2 cores) and cached; the build starts now, at low priority, while the C and integration
# tests run, and the k8s/kube tests wait for it.
tools_pid=""
mkdir -p "$build"
if [ "${TOLLGATE_SKIP_K8S:-0}" != 1 ] && ! ./tests/k8s/build-tools.sh --path >/dev/null 2>&1; then
  echo "== building the Kubernetes test bed's tools in the background (log: $build/k8s-tools-build.log)"
  nice -n 19 ./tests/k8s/build-tools.sh >"$build/k8s-tools-build.log" 2>&1 &
  tools_pid=$!
fi

echo "== layers (scripts/layers.py: include cycles, upward includes, header names)"
if python3 scripts/layers.py; then passed=$((passed+1)); else failed=$((failed+1)); fi

echo "== unit tests ($build/tests)"
# TOLLGATE_MAKE_ARGS: the build's flags (make asan passes its sanitizer flags, so nothing is rebuilt without them)
eval "make -s ${TOLLGATE_MAKE_ARGS:-BUILD=$build}" $(for f in tests/unit/test_*.c; do n=$(basename "$f" .c); echo "$build/tests/$n"; done) >/dev/null || { echo "unit test build failed"; failed=$((failed+1)); }
# the programs of today's sources only (a build directory may hold binaries of tests since renamed or removed)
for src in tests/unit/test_*.c; do
  t="$build/tests/$(basename "$src" .c)"
  [ -x "$t" ] || { failed=$((failed+1)); echo "FAIL $(basename "$t") (not built)"; continue; }
  if out=$("$t" 2>&1); then
    line=$(echo "$out" | tail -n 1)
    n=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
    passed=$((passed + 1)); assertions=$((assertions + ${n:-0})); echo "PASS $(basename "$t"): $line"
  else
    failed=$((failed+1)); echo "FAIL $(basename "$t")"; echo "$out" | tail -n 30
  fi
done

# A short run of each libFuzzer target (FUZZ_SECONDS, default 10 s; one test each) when clang is installed;
# TOLLGATE_SKIP_FUZZ=1 leaves them out. Long runs: `make fuzz` (docs/testing.md).
if [ "${TOLLGATE_SKIP_FUZZ:-0}" != 1 ] && command -v clang >/dev/null 2>&1; then
  echo "== fuzz targets, ${FUZZ_SECONDS:-10} s each (tests/fuzz/run.sh)"
  for src in tests/fuzz/fuzz_*.c; do
    bin="$build/fuzz/$(basename "$src" .c)"
    if make -s BUILD="$build" "$bin" >/dev/null 2>&1 &&
       FUZZ_SECONDS=${FUZZ_SECONDS:-10} FUZZ_WORK="$build/fuzz/short" ./tests/fuzz/run.sh "$bin"; then
      passed=$((passed+1))
    else
      failed=$((failed+1)); echo "FAIL $(basename "$bin")"
    fi
  done
else
  echo "== fuzz targets skipped (no clang, or TOLLGATE_SKIP_FUZZ=1)"
fi

# pytest_run NAME DIR...: runs the suites, adds their counts to the totals.
pytest_run() {
  local name=$1; shift
  local junit pp pf
  junit=$(mktemp /tmp/tollgate-junit.XXXXXX.xml)
  echo "== pytest: $name ($*)"
  # shellcheck disable=SC2086
  python3 -m pytest -p no:cacheprovider -o junit_family=xunit2 --junitxml="$junit" -rfE --durations=10 \
    ${PYTEST_ARGS:-} "$@"
  read -r pp pf < <(python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1); sys.exit()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f)
PY
  ) || { pp=0; pf=1; }
  passed=$((passed + pp)); failed=$((failed + pf))
  rm -f "$junit"
}

ls tests/integration/test_*.py >/dev/null 2>&1 && pytest_run integration tests/integration
if [ "${TOLLGATE_SKIP_K8S:-0}" != 1 ]; then
  if [ -n "$tools_pid" ]; then
    echo "== waiting for the Kubernetes tools build (pid $tools_pid)"
    while kill -0 "$tools_pid" 2>/dev/null; do sleep 30; echo "   ... still building ($(tail -n 1 "$build/k8s-tools-build.log" 2>/dev/null))"; done
    wait "$tools_pid" || { echo "k8s tools build failed:"; tail -n 30 "$build/k8s-tools-build.log"; }
  fi
  k8s_dirs=()
  for d in tests/k8s tests/kube; do ls "$d"/test_*.py >/dev/null 2>&1 && k8s_dirs+=("$d"); done
  [ ${#k8s_dirs[@]} -gt 0 ] && pytest_run "Kubernetes (real apiserver)" "${k8s_dirs[@]}"
fi
# nothing the suite started may outlive it (this checkout's binaries only, by absolute path: another checkout's
# suite may be running on the same machine)
case $build in /*) own=$build ;; *) own=$PWD/$build ;; esac
pkill -f "^$own/tollgate-(dataplane|controller|demo-backend|bench)" 2>/dev/null || true
[ -n "$tools_pid" ] && kill "$tools_pid" 2>/dev/null
echo "== not in this run: kernel TLS in a VM (\`make test-ktls\`: tests/integration/test_ktls.py is skipped above unless this kernel offers the tls ULP)"
echo "== ($assertions assertions in the C unit-test programs)"
echo "== total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
