#!/usr/bin/env bash
# `make images`: builds the two container images (docker/Dockerfile.dataplane, docker/Dockerfile.controller) with
# the names and tag the Helm chart uses by default, then checks each one by running its binaries inside it
# (`tollgatectl version`, `tollgate-controller --help`). Engines, first that works: docker or podman with a running
# daemon/runtime, else buildah (daemonless; `--isolation chroot`, so it also builds inside unprivileged sandboxes
# and CI runners). Where there is none it says so and exits 0, so `make images` is harmless on build machines
# without one.
#
# Base image: DEBIAN_IMAGE (default debian:bookworm-slim from the registry). BASE=debootstrap builds that base
# locally instead, from the Debian package mirror (debootstrap --variant=minbase bookworm), as
# localhost/debian:bookworm-slim — for machines that reach a Debian mirror but no container registry.
#
# Environment: IMAGE_REGISTRY (prefix such as "registry.example.com/", default none), IMAGE_TAG (default: the
# chart's appVersion), ENGINE (docker|podman|buildah), BASE=debootstrap, PUSH=1 to push after building,
# COMPONENTS (default "dataplane controller").
set -euo pipefail
cd "$(dirname "$0")/.."

registry=${IMAGE_REGISTRY:-}
tag=${IMAGE_TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/tollgate/Chart.yaml)}
[[ -n "$tag" ]] || { echo "images: no IMAGE_TAG and no appVersion in charts/tollgate/Chart.yaml" >&2; exit 1; }
components=${COMPONENTS:-dataplane controller}
base=${DEBIAN_IMAGE:-debian:bookworm-slim}

engine=${ENGINE:-}
if [[ -z "$engine" ]]; then
    for e in docker podman; do
        if command -v "$e" >/dev/null && timeout 20 "$e" info >/dev/null 2>&1; then engine=$e; break; fi
    done
    [[ -z "$engine" ]] && command -v buildah >/dev/null && engine=buildah
fi
if [[ -z "$engine" ]]; then
    echo "images: no container engine (a running docker or podman, or buildah) here; skipping the image build." \
        "On Debian: apt-get install buildah (daemonless)."
    exit 0
fi

image_exists() { # image_exists REF
    if [[ "$engine" == buildah ]]; then buildah inspect --type image "$1" >/dev/null 2>&1
    else "$engine" image inspect "$1" >/dev/null 2>&1; fi
}
image_size_mib() { # image_size_mib REF
    local bytes
    if [[ "$engine" == buildah ]]; then
        bytes=$(buildah images --format '{{.Size}}' --noheading "$1" 2>/dev/null | head -1)
        echo "${bytes:-?}"
    else
        bytes=$("$engine" image inspect --format '{{.Size}}' "$1" 2>/dev/null || echo 0)
        echo "$((bytes / 1048576)) MiB"
    fi
}

if [[ "${BASE:-}" == debootstrap ]]; then
    base=localhost/debian:bookworm-slim
    if ! image_exists "$base"; then
        command -v debootstrap >/dev/null || { echo "images: BASE=debootstrap needs debootstrap" >&2; exit 1; }
        rootfs=$(mktemp -d /tmp/tollgate-rootfs.XXXXXX)
        trap 'rm -rf "$rootfs"' EXIT
        echo "images: building the base $base with debootstrap (bookworm, minbase)"
        debootstrap --variant=minbase bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        if [[ "$engine" == buildah ]]; then
            ctr=$(buildah from scratch)
            tar -C "$rootfs" -c . | tar -C "$(buildah mount "$ctr")" -x # root: no user namespace needed
            buildah umount "$ctr" >/dev/null
            buildah commit -q "$ctr" "$base" >/dev/null
            buildah rm "$ctr" >/dev/null
        else
            tar -C "$rootfs" -c . | "$engine" import - "$base" >/dev/null
        fi
    fi
fi

build() { # build COMPONENT REF
    if [[ "$engine" == buildah ]]; then
        buildah bud --isolation chroot --network host --build-arg "DEBIAN_IMAGE=$base" \
            -f "docker/Dockerfile.$1" -t "$2" .
    else
        DOCKER_BUILDKIT=1 "$engine" build --build-arg "DEBIAN_IMAGE=$base" -f "docker/Dockerfile.$1" -t "$2" .
    fi
}

check() { # check REF COMMAND...: runs COMMAND inside the image
    local ref=$1; shift
    if [[ "$engine" == buildah ]]; then
        local ctr
        ctr=$(buildah from -q "$ref")
        buildah run --isolation chroot "$ctr" -- "$@"
        local rc=$?
        buildah rm "$ctr" >/dev/null
        return $rc
    fi
    "$engine" run --rm --entrypoint "$1" "$ref" "${@:2}"
}

for component in $components; do
    ref="${registry}tollgate/tollgate-$component:$tag"
    echo "images: building $ref with $engine (base $base)"
    build "$component" "$ref"
    case $component in
        dataplane) check "$ref" /usr/local/bin/tollgatectl version --client
                   check "$ref" /usr/local/bin/tollgate-dataplane --help >/dev/null ;;
        controller) check "$ref" /usr/local/bin/tollgate-controller --help >/dev/null ;;
    esac
    echo "images: $ref built and runs ($(image_size_mib "$ref"))"
    if [[ "${PUSH:-0}" == 1 ]]; then
        "$engine" push "$ref"
    fi
done
echo "images: done; install with: helm install tollgate charts/tollgate --set imageRegistry=$registry" \
    "--set dataplane.image.tag=$tag --set controller.image.tag=$tag"
