#!/usr/bin/env bash
# run_all.sh — the whole suite behind `make test` (and `make asan` with TOLLGATE_BUILD=build-asan):
#   1. C unit tests (build/tests/test_*), 2. pytest: integration tests against the real binaries and peers
#   (tests/integration), the Kubernetes test bed, CRDs and chart (tests/k8s), the controller against the real
#   apiserver (tests/kube). Prints progress and ends with one line: "N passed, N failed".
# Environment: TOLLGATE_BUILD (default build), PYTEST_ARGS (extra pytest arguments, e.g. "-k websocket").
set -u
cd "$(dirname "$0")/.."
build=${TOLLGATE_BUILD:-build}
export TOLLGATE_BUILD=$build
passed=0; failed=0

echo "== unit tests ($build/tests)"
make -s BUILD="$build" $(for f in tests/unit/test_*.c; do n=$(basename "$f" .c); echo "$build/tests/$n"; done) >/dev/null || { echo "unit test build failed"; failed=$((failed+1)); }
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  if out=$("$t" 2>&1); then
    line=$(echo "$out" | tail -n 1)
    n=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
    passed=$((passed + ${n:-1})); echo "PASS $(basename "$t"): $line"
  else
    failed=$((failed+1)); echo "FAIL $(basename "$t")"; echo "$out" | tail -n 30
  fi
done

echo "== pytest (integration, k8s, kube)"
dirs=()
for d in tests/integration tests/k8s tests/kube; do
  ls "$d"/test_*.py >/dev/null 2>&1 && dirs+=("$d")
done
junit=$(mktemp /tmp/tollgate-junit.XXXXXX.xml)
if [ ${#dirs[@]} -gt 0 ]; then
  # shellcheck disable=SC2086
  python3 -m pytest -p no:cacheprovider -o junit_family=xunit2 --junitxml="$junit" -rfE --durations=15 \
    ${PYTEST_ARGS:-} "${dirs[@]}"
  read -r pp pf < <(python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f)
PY
  ) || { pp=0; pf=1; }
  passed=$((passed + pp)); failed=$((failed + pf))
fi
rm -f "$junit"
# nothing the suite started may outlive it
pkill -f "$build/tollgate-(dataplane|controller|demo-backend)" 2>/dev/null || true
echo "== total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
