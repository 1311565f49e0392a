#!/usr/bin/env bash
# Runs each unit-test binary given on the command line; prints its summary and a total.
set -u
passed=0; failed=0
for t in "$@"; do
  if out=$("$t" 2>&1); then passed=$((passed+1)); echo "PASS $(basename "$t") — $(echo "$out" | tail -n 1)"
  else failed=$((failed+1)); echo "FAIL $(basename "$t")"; echo "$out" | tail -n 40; fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
