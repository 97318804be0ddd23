#!/usr/bin/env bash
# Builds the pinned programs eddy runs (etcd, kube-apiserver,
# kube-controller-manager, kubectl, kustomize, helm), the OCI registry its
# tests push to, Dex (the OIDC provider the dashboard's login tests use), and
# the local node's kube-scheduler, kubelet, kube-proxy and CoreDNS from the Go
# module proxy, once, into a cache outside the repository; and the node's pause
# program from hack/pause.
#
#   hack/tools.sh build [NAME...]   build what is missing (all by default)
#   hack/tools.sh path NAME         print the cached binary's path
#   hack/tools.sh link DIR          build what is missing, then symlink all into DIR
#
# The cache lives in $EDDY_TOOLS_CACHE (default ~/.cache/eddy/tools), one folder
# per name and version, so a version bump builds anew and nothing else does.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${EDDY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/eddy/tools}
export GOTOOLCHAIN=local

# name | wrapper module under hack/tools | package to build | module whose version names the cache entry
# ("-": eddy's own source, named by the hash of its files)
tools=(
  "etcd|etcd|./cmd/etcd|go.etcd.io/etcd/server/v3"
  "kube-apiserver|kube|k8s.io/kubernetes/cmd/kube-apiserver|k8s.io/kubernetes"
  "kube-controller-manager|kube|k8s.io/kubernetes/cmd/kube-controller-manager|k8s.io/kubernetes"
  "kubectl|kube|k8s.io/kubernetes/cmd/kubectl|k8s.io/kubernetes"
  "kube-scheduler|kube|k8s.io/kubernetes/cmd/kube-scheduler|k8s.io/kubernetes"
  "kubelet|kube|k8s.io/kubernetes/cmd/kubelet|k8s.io/kubernetes"
  "kube-proxy|kube|k8s.io/kubernetes/cmd/kube-proxy|k8s.io/kubernetes"
  "coredns|coredns|.|github.com/coredns/coredns"
  "kustomize|kustomize|sigs.k8s.io/kustomize/kustomize/v5|sigs.k8s.io/kustomize/kustomize/v5"
  "helm|helm|helm.sh/helm/v3/cmd/helm|helm.sh/helm/v3"
  "registry|registry|github.com/distribution/distribution/v3/cmd/registry|github.com/distribution/distribution/v3"
  "podinfo|podinfo|github.com/stefanprodan/podinfo/cmd/podinfo|github.com/stefanprodan/podinfo"
  "podcli|podinfo|github.com/stefanprodan/podinfo/cmd/podcli|github.com/stefanprodan/podinfo"
  "pause|../pause|.|-"
  "dex|dex|github.com/dexidp/dex/cmd/dex|github.com/dexidp/dex"
)

die() { printf 'hack/tools.sh: %s\n' "$*" >&2; exit 1; }

row() {
  local t
  for t in "${tools[@]}"; do
    [[ ${t%%|*} == "$1" ]] && { printf '%s\n' "$t"; return; }
  done
  die "unknown tool '$1' (known: $(names))"
}

names() { local t; for t in "${tools[@]}"; do printf '%s ' "${t%%|*}"; done; }

# The version pinned in the wrapper's go.mod for the named module.
version_of() {
  local dir=$1 module=$2 v
  if [[ $module == - ]]; then
    printf 'src-%s\n' "$(cat "$here/tools/$dir"/go.mod "$here/tools/$dir"/*.go | sha256sum | cut -c1-12)"
    return
  fi
  v=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$here/tools/$dir/go.mod")
  [[ -n $v ]] || die "no version of $module in hack/tools/$dir/go.mod"
  printf '%s\n' "$v"
}

# GOARCH other than this machine's (for image builds) gets a cache entry of its own.
arch_suffix() {
  if [[ -n ${GOARCH:-} && $GOARCH != "$(go env GOHOSTARCH)" ]]; then printf -- '-linux-%s' "$GOARCH"; fi
}

path_of() {
  local name dir pkg module
  IFS='|' read -r name dir pkg module <<<"$(row "$1")"
  printf '%s/%s-%s%s/%s\n' "$cache" "$name" "$(version_of "$dir" "$module")" "$(arch_suffix)" "$name"
}

# Version stamps, so `kubectl version` and `helm version` tell the truth.
ldflags_for() {
  local name=$1 v=$2 minor
  case $name in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kubelet|kube-proxy)
      minor=$(cut -d. -f2 <<<"$v")
      printf -- '-X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=%s -X k8s.io/client-go/pkg/version.gitVersion=%s -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=%s -X k8s.io/component-base/version.gitTreeState=clean' "$v" "$minor" "$v" "$minor" ;;
    kustomize) printf -- '-X sigs.k8s.io/kustomize/api/provenance.version=%s' "$v" ;;
    helm) printf -- '-X helm.sh/helm/v3/internal/version.version=%s' "$v" ;;
    registry) printf -- '-X github.com/distribution/distribution/v3/version.version=%s' "$v" ;;
    dex) printf -- '-X main.version=%s' "$v" ;;
  esac
}

check_go() {
  command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH. eddy builds etcd, kube-apiserver, kubectl, kustomize, helm and the test registry from source with Go; install Go 1.26 or newer and run 'make tools' again."
}

build_one() {
  local name dir pkg module v out tmp start
  IFS='|' read -r name dir pkg module <<<"$(row "$1")"
  v=$(version_of "$dir" "$module")
  out="$cache/$name-$v$(arch_suffix)/$name"
  if [[ -x $out ]]; then
    printf '  %-24s %-8s cached  %s\n' "$name" "$v" "$out"
    return
  fi
  check_go
  printf '  %-24s %-8s building from the Go module proxy (first time only)...\n' "$name" "$v"
  start=$SECONDS
  if [[ $name == dex ]]; then
    # Dex's api/v2 is a nested module pinned at the same commit as Dex (no tag
    # has its current API); the proxy hands out that commit's version only when
    # asked by branch, so ask once before the pinned download.
    (cd "$here/tools/$dir" && go mod download github.com/dexidp/dex/api/v2@master >/dev/null 2>&1) || true
  fi
  (cd "$here/tools/$dir" && go mod download -x >/dev/null 2>"$cache/.download-$name.log") || {
    tail -n 5 "$cache/.download-$name.log" >&2
    die "could not download the Go modules for $name $v. Check that the Go module proxy ($(go env GOPROXY)) is reachable from this machine."
  }
  mkdir -p "$(dirname "$out")"
  tmp="$out.tmp.$$"
  (cd "$here/tools/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $(ldflags_for "$name" "$v")" -o "$tmp" "$pkg") || {
    rm -f "$tmp"
    die "building $name $v failed (see the Go errors above)"
  }
  mv -f "$tmp" "$out"
  printf '  %-24s %-8s built in %ss  %s\n' "$name" "$v" "$((SECONDS - start))" "$out"
}

cmd=${1:-build}
shift || true
case $cmd in
  build)
    mkdir -p "$cache"
    [[ $# -gt 0 ]] || set -- $(names)
    echo "eddy tools (cache: $cache)"
    for n in "$@"; do build_one "$n"; done ;;
  path)
    [[ $# -eq 1 ]] || die "usage: hack/tools.sh path NAME"
    path_of "$1" ;;
  link)
    [[ $# -eq 1 ]] || die "usage: hack/tools.sh link DIR"
    dest=$1
    "$0" build
    mkdir -p "$dest"
    for n in $(names); do ln -sfn "$(path_of "$n")" "$dest/$n"; done ;;
  *) die "unknown command '$cmd' (build, path, link)" ;;
esac
