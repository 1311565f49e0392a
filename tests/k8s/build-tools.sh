#!/usr/bin/env bash
# Builds the Kubernetes test bed's binaries from the Go module proxy and caches them outside the repository:
# kube-apiserver and kubectl (k8s.io/kubernetes, every staging module pinned by `replace`), etcd
# (go.etcd.io/etcd/server/v3) and helm (helm.sh/helm/v3). Versions come from versions.env; the cache directory is
# named after them, so a version change builds anew and an unchanged one reuses what is there.
#
#   build-tools.sh            build what is missing, print the bin directory on stdout
#   build-tools.sh --path     print the bin directory only if every binary is there (exit 1 otherwise)
#
# Environment: TOLLGATE_CACHE (default ~/.cache/tollgate), GOFLAGS/GOPROXY as usual.
# Logs of each build go to <cache>/logs/<tool>.log. A lock makes concurrent callers wait for one build.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${TOLLGATE_CACHE:-$HOME/.cache/tollgate}
dir="$cache_root/k8s-$K8S_VERSION-staging-$K8S_STAGING_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION-r$BUILD_RECIPE"
bin="$dir/bin"
tools=(kube-apiserver kubectl etcd helm)

all_present() {
    local t
    for t in "${tools[@]}"; do [[ -x "$bin/$t" ]] || return 1; done
}

if [[ "${1:-}" == "--path" ]]; then
    all_present && { echo "$bin"; exit 0; }
    exit 1
fi

log() { printf 'build-tools: %s\n' "$*" >&2; }

command -v go >/dev/null || { log "go is not installed"; exit 1; }
mkdir -p "$bin" "$dir/logs" "$dir/src"
exec 9>"$dir/.lock"
flock 9
if all_present; then echo "$bin"; exit 0; fi

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" GOTOOLCHAIN=local

# The version strings a release build stamps; without them the apiserver reports v0.0.0 and its
# compatibility-version checks misbehave.
k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

# A throwaway module that requires k8s.io/kubernetes and replaces every staging module (listed in the
# kubernetes go.mod as `k8s.io/x => ./staging/src/k8s.io/x`) with its published v0.x release.
build_kube() {
    local src="$dir/src/kube" t
    mkdir -p "$src"
    local kmod
    kmod=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [[ -f "$kmod" ]] || { log "could not download k8s.io/kubernetes@$K8S_VERSION"; return 1; }
    {
        echo "module tollgate.local/k8s-build"
        echo
        echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$kmod")"
        echo
        echo "require k8s.io/kubernetes $K8S_VERSION"
        echo
        echo "replace ("
        sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$|\t\1 => \1 '"$K8S_STAGING_VERSION"'|p' "$kmod"
        echo ")"
    } >"$src/go.mod"
    cat >"$src/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    (cd "$src" && go mod tidy)
    for t in kube-apiserver kubectl; do
        [[ -x "$bin/$t" ]] && continue
        log "building $t $K8S_VERSION (log: $dir/logs/$t.log)"
        local start=$SECONDS
        (cd "$src" && go build -trimpath -ldflags "$k8s_ldflags" -o "$bin/$t.tmp" "k8s.io/kubernetes/cmd/$t") \
            >"$dir/logs/$t.log" 2>&1 || { log "$t failed, see $dir/logs/$t.log"; tail -20 "$dir/logs/$t.log" >&2; return 1; }
        mv "$bin/$t.tmp" "$bin/$t"
        log "$t built in $((SECONDS - start))s"
    done
}

# etcd's server module carries `replace` directives to its sibling directories, so it cannot be `go install`ed
# directly: a throwaway module requires it and pins the siblings at the same release.
build_etcd() {
    local src="$dir/src/etcd"
    [[ -x "$bin/etcd" ]] && return 0
    mkdir -p "$src"
    cat >"$src/go.mod" <<GOMOD
module tollgate.local/etcd-build

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
GOMOD
    cat >"$src/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
    (cd "$src" && go mod tidy)
    log "building etcd $ETCD_VERSION (log: $dir/logs/etcd.log)"
    local start=$SECONDS
    (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3) \
        >"$dir/logs/etcd.log" 2>&1 || { log "etcd failed, see $dir/logs/etcd.log"; tail -20 "$dir/logs/etcd.log" >&2; return 1; }
    mv "$bin/etcd.tmp" "$bin/etcd"
    log "etcd built in $((SECONDS - start))s"
}

# helm.sh/helm/v3 has no `replace` directives, so `go install pkg@version` builds it as released. Like helm's
# Makefile, stamp the Kubernetes version of its client-go (+1 major) as the default of `helm template`/`lint`.
build_helm() {
    [[ -x "$bin/helm" ]] && return 0
    local hmod cg major minor
    hmod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    cg=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$hmod" | head -1)
    [[ -n "$cg" ]] || { log "no k8s.io/client-go requirement in helm's go.mod"; return 1; }
    major=1 minor=$cg
    log "building helm $HELM_VERSION (log: $dir/logs/helm.log)"
    local start=$SECONDS ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" p
    for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
        ld+=" -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
    done
    GOBIN="$dir/src/helm-bin" go install -trimpath -ldflags "$ld" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >"$dir/logs/helm.log" 2>&1 ||
        { log "helm failed, see $dir/logs/helm.log"; tail -20 "$dir/logs/helm.log" >&2; return 1; }
    mv "$dir/src/helm-bin/helm" "$bin/helm"
    log "helm built in $((SECONDS - start))s"
}

build_etcd
build_helm
build_kube
all_present || { log "some binaries are missing from $bin"; exit 1; }
echo "$bin"
