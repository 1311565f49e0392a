#!/usr/bin/env bash
# lint.sh — static analysis of the project's C (clang-tidy with the bug-finding checks, cppcheck); exits non-zero
# on any finding. `make lint`.
set -u
cd "$(dirname "$0")/.."
status=0
echo "== layers"
python3 scripts/layers.py || status=1
# include_root FILE: the binary include root a source file is compiled with (the Makefile's DP_INC/CTL_INC)
include_root() {
  case $1 in dataplane/* | bench/tls/*) echo -Idataplane/src ;; controller/*) echo -Icontroller/src ;; cli/*) echo -Icli/src ;; *) echo ;; esac
}
echo "== cppcheck"
for tree in "common examples/demo-backend bench" dataplane/src controller/src cli/src; do
  # shellcheck disable=SC2086
  files=$(find $tree -name '*.c' | sort)
  # shellcheck disable=SC2086
  cppcheck --quiet --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
    --suppress=missingIncludeSystem --suppress=unknownMacro -Icommon $(include_root "$tree/") -D_GNU_SOURCE $files || status=1
done
files=$(find common dataplane/src controller/src cli/src examples/demo-backend bench -name '*.c' | sort)
echo "== clang-tidy"
checks='-*,bugprone-*,-bugprone-sizeof-expression,-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,-bugprone-narrowing-conversions,-bugprone-implicit-widening-of-multiplication-result,-bugprone-assignment-in-if-condition,clang-analyzer-*,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,-clang-analyzer-security.insecureAPI.strcpy'
for f in $files; do
  out=$(clang-tidy --quiet -checks="$checks" "$f" -- -std=c11 -D_GNU_SOURCE -Icommon $(include_root "$f") 2>/dev/null | grep -E 'warning:|error:')
  if [ -n "$out" ]; then echo "$out"; status=1; fi
done
[ $status -eq 0 ] && echo "lint: clean"
exit $status
