#!/usr/bin/env bash
# Makes sure the system programs eddy's tests run are present: git (and its
# http-backend), the OpenSSH client and server. Installs them with apt-get when
# run as root on Debian or Ubuntu; otherwise says what to install.
set -euo pipefail

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
[[ -x "$(git --exec-path 2>/dev/null)/git-http-backend" ]] || missing+=(git)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
[[ -x /usr/sbin/sshd ]] || command -v sshd >/dev/null 2>&1 || missing+=(openssh-server)

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
