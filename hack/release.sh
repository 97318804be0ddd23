#!/usr/bin/env bash
# The release steps, shared by the CI workflow and `make release-local`: build
# eddy's image for each architecture (hack/images.sh), push them under one
# multi-arch reference, then sign that reference with cosign when it is
# installed (keyless in CI; with $COSIGN_KEY when set). EDDY_RELEASE_SIGNER=none
# leaves signing to the caller.
#
#   hack/release.sh REFERENCE [ARCH...]   host/repository:tag; ARCH defaults to this machine's
#
# $REGISTRY_USER and $REGISTRY_PASSWORD log in first when set. A registry on
# 127.0.0.1 or localhost is spoken to over plain HTTP. Prints the pushed digest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { printf 'hack/release.sh: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: hack/release.sh HOST/REPOSITORY:TAG [ARCH...]"
reference=$1
shift
[[ $# -gt 0 ]] || set -- "$(dpkg --print-architecture 2>/dev/null || echo amd64)"
host=${reference%%/*}
tls=true
case $host in 127.0.0.1:*|localhost:*) tls=false ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/eddy-release.XXXXXX")
store=(--root "$tmp/storage" --runroot "$tmp/run" --storage-driver vfs)
trap 'buildah "${store[@]}" rm --all >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

if [[ -n ${REGISTRY_USER:-} ]]; then
  printf '%s' "${REGISTRY_PASSWORD:-}" |
    buildah "${store[@]}" login --tls-verify=$tls --username "$REGISTRY_USER" --password-stdin "$host"
fi

list=eddy-release
buildah "${store[@]}" manifest create "$list" >/dev/null
for arch in "$@"; do
  archive=$(EDDY_IMAGE_ARCH=$arch "$here/images.sh" build)
  echo "==> $arch: $archive" >&2
  buildah "${store[@]}" manifest add --arch "$arch" "$list" "oci-archive:$archive" >/dev/null
done
buildah "${store[@]}" manifest push --all --tls-verify=$tls --digestfile "$tmp/digest" \
  "$list" "docker://$reference" >&2
digest=$(cat "$tmp/digest")
echo "==> pushed $reference@$digest" >&2

if [[ ${EDDY_RELEASE_SIGNER:-cosign} == none ]]; then
  echo "==> signing left to the caller" >&2
elif command -v cosign >/dev/null 2>&1; then
  signing=(--yes)
  [[ -n ${COSIGN_KEY:-} ]] && signing+=(--key "$COSIGN_KEY" --tlog-upload=false)
  [[ $tls == false ]] && signing+=(--allow-insecure-registry --allow-http-registry)
  cosign sign "${signing[@]}" "${reference%:*}@$digest" >&2
  echo "==> signed ${reference%:*}@$digest" >&2
else
  echo "==> cosign is not installed: $reference is pushed but not signed" >&2
fi
printf '%s\n' "$digest"
