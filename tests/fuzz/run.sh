#!/usr/bin/env bash
# run.sh — runs each libFuzzer binary given on the command line for ${FUZZ_SECONDS:-30} s.
# For build/fuzz/fuzz_<name>: seeds from tests/fuzz/corpus/<name>/ and dictionary tests/fuzz/<name>.dict when
# present; if not, from the longest "_"-separated prefix of <name> that has one (fuzz_http1_parser uses
# corpus/http1/ and http1.dict). Seeds are read only: new inputs go to a scratch corpus $FUZZ_WORK/<name>/corpus
# (FUZZ_WORK defaults to build/fuzz/work), crash artifacts to $FUZZ_WORK/<name>/artifacts/, output to
# $FUZZ_WORK/<name>/log. Extra libFuzzer flags may be given in $FUZZ_FLAGS.
# Prints one line per target; exits non-zero if any target fails.
set -u
here=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-30}
work_root=${FUZZ_WORK:-build/fuzz/work}
status=0
if [ "$#" -eq 0 ]; then
  echo "usage: $0 build/fuzz/fuzz_<name>..." >&2
  exit 2
fi

# find_for NAME TEST SUFFIX: prints $here/PREFIX$SUFFIX for the longest "_"-prefix of NAME passing `test`.
find_for() {
  local n=$1 flag=$2 suffix=$3
  while :; do
    if [ "$flag" "$here/$n$suffix" ]; then echo "$here/$n$suffix"; return 0; fi
    [ "${n%_*}" = "$n" ] && return 1
    n=${n%_*}
  done
}

for bin in "$@"; do
  base=$(basename "$bin")
  name=${base#fuzz_}
  work="$work_root/$name"
  mkdir -p "$work/corpus" "$work/artifacts"
  args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  dirs=("$work/corpus")
  seeds=$(find_for "corpus/$name" -d "") && dirs+=("$seeds") || seeds=""
  dict=$(find_for "$name" -f ".dict") && args+=(-dict="$dict") || dict=""
  # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
  if "$bin" "${args[@]}" ${FUZZ_FLAGS:-} "${dirs[@]}" >"$work/log" 2>&1; then
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$')
    echo "PASS $base (${runs:-?} runs in ${seconds}s; seeds: ${seeds:-none}; dict: ${dict:-none})"
  else
    status=1
    echo "FAIL $base — see $work/log and $work/artifacts/"
    tail -n 30 "$work/log"
  fi
done
exit $status
