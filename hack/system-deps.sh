#!/usr/bin/env bash
# Makes sure the system programs eddy's tests run are present: git (and its
# http-backend), the OpenSSH client and server; for the local node and the
# image builds, containerd, runc, the CNI plugins, iptables, iproute2, buildah,
# skopeo and mmdebstrap; Chromium with its driver (and a font) for the
# dashboard's browser tests and screenshots; Java and Maven, which fetch and run
# S3Proxy (the Bucket tests' S3 server); tinyproxy, the HTTP proxy the
# proxySecretRef tests go through; GnuPG (the kustomize-controller's OpenPGP
# decryption) and age (the SOPS tests' keys). Installs them with apt-get when run
# as root on Debian or Ubuntu; otherwise says what to install.
set -euo pipefail

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
[[ -x "$(git --exec-path 2>/dev/null)/git-http-backend" ]] || missing+=(git)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
[[ -x /usr/sbin/sshd ]] || command -v sshd >/dev/null 2>&1 || missing+=(openssh-server)
command -v containerd >/dev/null 2>&1 || missing+=(containerd)
command -v runc >/dev/null 2>&1 || missing+=(runc)
[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v tinyproxy >/dev/null 2>&1 || missing+=(tinyproxy)
command -v gpg >/dev/null 2>&1 && command -v gpgconf >/dev/null 2>&1 || missing+=(gnupg)
command -v age-keygen >/dev/null 2>&1 || missing+=(age)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "eddy's tests need these system packages: ${missing[*]}" >&2
echo "install them (e.g. 'sudo apt-get install ${missing[*]}') and run again" >&2
exit 1
