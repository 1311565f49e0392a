#!/usr/bin/env bash
# `make images`: builds the two container images (docker/Dockerfile.dataplane, docker/Dockerfile.controller) with
# the names and tag the Helm chart uses by default. Needs a running container engine (docker or podman); where
# there is none (a docker CLI without a daemon, or no CLI at all) it says so and exits 0, so `make images` is
# harmless on build machines without one.
#
# Environment: IMAGE_REGISTRY (prefix such as "registry.example.com/", default none), IMAGE_TAG (default: the
# chart's appVersion), ENGINE (docker|podman, default: the first that answers), PUSH=1 to push after building.
set -euo pipefail
cd "$(dirname "$0")/.."

registry=${IMAGE_REGISTRY:-}
tag=${IMAGE_TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/tollgate/Chart.yaml)}
[[ -n "$tag" ]] || { echo "images: no IMAGE_TAG and no appVersion in charts/tollgate/Chart.yaml" >&2; exit 1; }

engine=${ENGINE:-}
if [[ -z "$engine" ]]; then
    for e in docker podman; do
        if command -v "$e" >/dev/null && timeout 20 "$e" info >/dev/null 2>&1; then engine=$e; break; fi
    done
fi
if [[ -z "$engine" ]]; then
    found=""
    for e in docker podman; do command -v "$e" >/dev/null && found+=" $e"; done
    if [[ -n "$found" ]]; then
        echo "images: no container engine is running here (the${found} CLI is installed but no daemon answers);" \
            "skipping the image build. Run \`make images\` on a machine with a running docker or podman."
    else
        echo "images: no container engine (docker or podman) is installed; skipping the image build."
    fi
    exit 0
fi

for component in dataplane controller; do
    ref="${registry}tollgate/tollgate-$component:$tag"
    echo "images: building $ref with $engine"
    DOCKER_BUILDKIT=1 "$engine" build -f "docker/Dockerfile.$component" -t "$ref" .
    if [[ "${PUSH:-0}" == 1 ]]; then
        "$engine" push "$ref"
    fi
done
echo "images: done; install with: helm install tollgate charts/tollgate --set imageRegistry=$registry" \
    "--set dataplane.image.tag=$tag --set controller.image.tag=$tag"
