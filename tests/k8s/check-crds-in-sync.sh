#!/usr/bin/env bash
# Checks that charts/tollgate/crds/ holds exactly the files of crds/, byte for byte (Helm installs the chart's
# copy; kubectl users and the test bed apply the top-level one). Exit 1 with a diff when they differ.
#   check-crds-in-sync.sh          check
#   check-crds-in-sync.sh --fix    copy crds/*.yaml over the chart's copy (and remove stale files)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
src="$repo/crds" dst="$repo/charts/tollgate/crds"

if [[ "${1:-}" == "--fix" ]]; then
    mkdir -p "$dst"
    rm -f "$dst"/*.yaml
    cp "$src"/*.yaml "$dst"/
    echo "check-crds-in-sync: copied crds/ to charts/tollgate/crds/"
    exit 0
fi

if ! diff -r "$src" "$dst"; then
    echo "check-crds-in-sync: charts/tollgate/crds/ differs from crds/; run tests/k8s/check-crds-in-sync.sh --fix" >&2
    exit 1
fi
echo "check-crds-in-sync: crds/ and charts/tollgate/crds/ are identical"
