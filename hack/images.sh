#!/usr/bin/env bash
# Builds eddy's container image without a daemon, from packages alone: a Debian
# root filesystem made by mmdebstrap (python3, git, openssh-client, gnupg), eddy and
# its dependencies installed from wheels into /opt/eddy, and the pinned kustomize,
# helm and sops from hack/tools.sh in /usr/local/bin. buildah assembles and pushes it.
#
#   hack/images.sh build            build (or reuse) the image; print its OCI archive
#   hack/images.sh push REFERENCE   build, then push to REFERENCE (host/repo:tag)
#
# EDDY_IMAGE_ARCH=arm64 builds for another architecture (Debian's name); the
# steps that run inside the image then need qemu-user-static's binfmt handlers.
#
# The image matches docker/Dockerfile: the four controllers as commands on PATH,
# user 65534, HOME=/tmp, ports 8080 (metrics), 9440 (probes), 9090 (artifacts).
# Results are cached in $EDDY_IMAGES_CACHE (default ~/.cache/eddy/images): the
# Debian base by its package list, the image by the hash of its inputs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${EDDY_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/eddy/images}
suite=bookworm
mirror=${EDDY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=python3,python3-venv,git,openssh-client,gnupg,ca-certificates
python=${PYTHON:-$root/.venv/bin/python}
arch=${EDDY_IMAGE_ARCH:-$(dpkg --print-architecture 2>/dev/null || echo amd64)}
goarch=$arch
[[ $arch == armhf ]] && goarch=arm
pyplatform() {
  case $arch in amd64) echo x86_64 ;; arm64) echo aarch64 ;; *) echo "$arch" ;; esac
}
# pip's --platform flags for every manylinux wheel Debian 12's glibc 2.36 runs.
platforms() {
  local p v
  p=$(pyplatform)
  for v in $(seq 36 -1 17); do printf -- '--platform manylinux_2_%s_%s ' "$v" "$p"; done
  printf -- '--platform manylinux2014_%s --platform any' "$p"
}

die() { printf 'hack/images.sh: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed; run 'make system-deps' (Debian package: $2)"
}

version() { sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml" | head -n1; }

# A minimal Debian root filesystem, downloaded once per package list.
base() {
  local key out
  key=$(printf '%s %s %s' "$suite" "$packages" "$mirror" | sha256sum | cut -c1-12)
  [[ $arch == amd64 ]] || key="$arch-$key"
  out="$cache/base-$suite-$key.tar"
  # A tar file: mmdebstrap picks its output format by name, and `.tmp` alone would
  # make it write a directory.
  [[ -f $out ]] || rm -rf "$out"
  if [[ ! -s $out ]]; then
    need mmdebstrap mmdebstrap
    echo "==> Debian $suite base ($packages), first time only" >&2
    mkdir -p "$cache"
    mmdebstrap --quiet --format=tar --variant=minbase --architectures="$arch" --include="$packages" \
      --aptopt='Apt::Install-Recommends "false"' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      "$suite" "$out.tmp" "$mirror" >&2
    mv -f "$out.tmp" "$out"
  fi
  printf '%s\n' "$out"
}

build() {
  need buildah buildah
  local base_tar kustomize helm helm_server sops key out c v
  base_tar=$(base)
  GOARCH=$goarch "$here/tools.sh" build kustomize helm eddy-helm-server sops >&2
  kustomize=$(GOARCH=$goarch "$here/tools.sh" path kustomize)
  helm=$(GOARCH=$goarch "$here/tools.sh" path helm)
  helm_server=$(GOARCH=$goarch "$here/tools.sh" path eddy-helm-server)
  sops=$(GOARCH=$goarch "$here/tools.sh" path sops)
  v=$(version)
  key=$( (cd "$root" && git ls-files -z pyproject.toml README.md libs controllers | xargs -0 sha256sum
         sha256sum "$base_tar" "$kustomize" "$helm" "$helm_server" "$sops" "$here/images.sh") | sha256sum | cut -c1-12)
  out="$cache/eddy-$v-$arch-$key.tar"
  if [[ -s $out ]]; then
    printf '%s\n' "$out"
    return
  fi
  echo "==> eddy image $v" >&2
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/eddy-image.XXXXXX")
  store=(--root "$tmp/storage" --runroot "$tmp/run" --storage-driver vfs)
  b() { buildah "${store[@]}" "$@"; }
  trap '[[ -n ${tmp:-} ]] && { b rm --all >/dev/null 2>&1 || true; rm -rf "$tmp"; }' EXIT
  [[ -x $python ]] || python=python3
  # From the tracked files only: a stale build/ folder in the checkout never leaks in.
  mkdir -p "$tmp/src"
  (cd "$root" && git ls-files -z pyproject.toml README.md libs controllers | tar --null -T - -cf -) |
    tar -xf - -C "$tmp/src"
  "$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$tmp/wheels" "$tmp/src" >&2
  # Dependencies as published wheels for the image's platform and Python (Debian's 3.11).
  "$python" -m pip download --quiet --disable-pip-version-check --dest "$tmp/wheels" \
    --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
    $(platforms) \
    "$(ls "$tmp"/wheels/eddy-*.whl)" >&2
  c=$(b from --arch "$goarch" scratch)
  b add "$c" "$base_tar" / >&2
  b copy "$c" "$tmp/wheels" /wheels >&2
  b run --isolation=chroot "$c" -- python3 -m venv /opt/eddy >&2
  b run --isolation=chroot "$c" -- /opt/eddy/bin/pip install --quiet \
    --no-index --no-cache-dir --find-links /wheels eddy >&2
  b run --isolation=chroot "$c" -- rm -rf /wheels >&2
  b copy --chmod 0755 "$c" "$kustomize" /usr/local/bin/kustomize >&2
  b copy --chmod 0755 "$c" "$helm" /usr/local/bin/helm >&2
  b copy --chmod 0755 "$c" "$sops" /usr/local/bin/sops >&2
  b copy --chmod 0755 "$c" "$helm_server" /usr/local/bin/eddy-helm-server >&2
  b config \
    --env PATH=/opt/eddy/bin:/usr/local/bin:/usr/bin:/bin \
    --env HOME=/tmp --env PYTHONDONTWRITEBYTECODE=1 --env PYTHONUNBUFFERED=1 \
    --user 65534:65534 --workingdir / \
    --port 8080 --port 9440 --port 9090 \
    --cmd source-controller \
    --label org.opencontainers.image.title=eddy \
    --label "org.opencontainers.image.version=$v" \
    "$c" >&2
  mkdir -p "$cache"
  b commit --quiet --format oci "$c" "oci-archive:$out.tmp:eddy:$v" >&2
  mv -f "$out.tmp" "$out"
  printf '%s\n' "$out"
}

cmd=${1:-build}
shift || true
case $cmd in
  build) build ;;
  push)
    [[ $# -eq 1 ]] || die "usage: hack/images.sh push HOST/REPOSITORY:TAG"
    archive=$(build)
    need skopeo skopeo
    tls=true
    case $1 in 127.0.0.1:*|localhost:*) tls=false ;; esac
    skopeo copy --quiet --dest-tls-verify=$tls "oci-archive:$archive" "docker://$1"
    echo "pushed $1" ;;
  *) die "unknown command '$cmd' (build, push)" ;;
esac
