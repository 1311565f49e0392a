#!/usr/bin/env bash
# lint.sh — static analysis of the project's C (clang-tidy with the bug-finding checks, cppcheck); exits non-zero
# on any finding. `make lint`.
set -u
cd "$(dirname "$0")/.."
files=$(ls common/*.c dataplane/src/*.c controller/src/*.c examples/demo-backend/*.c bench/*.c 2>/dev/null)
status=0
echo "== cppcheck"
cppcheck --quiet --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
  --suppress=missingIncludeSystem --suppress=unknownMacro -Icommon -Idataplane/src -Icontroller/src -D_GNU_SOURCE $files || status=1
echo "== clang-tidy"
checks='-*,bugprone-*,-bugprone-sizeof-expression,-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,-bugprone-narrowing-conversions,-bugprone-implicit-widening-of-multiplication-result,-bugprone-assignment-in-if-condition,clang-analyzer-*,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,-clang-analyzer-security.insecureAPI.strcpy'
for f in $files; do
  out=$(clang-tidy --quiet -checks="$checks" "$f" -- -std=c11 -D_GNU_SOURCE -Icommon -Idataplane/src -Icontroller/src 2>/dev/null | grep -E 'warning:|error:')
  if [ -n "$out" ]; then echo "$out"; status=1; fi
done
[ $status -eq 0 ] && echo "lint: clean"
exit $status
