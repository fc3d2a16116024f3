#!/usr/bin/env bash
# Installs what libs/hsm, its tests and the local quickstart need: SoftHSM2 (the development HSM),
# OpenSC (pkcs11-tool, for operators) and OpenSSL's pkcs11-provider (TLS with HSM-held keys), the
# latter from bookworm-backports. Idempotent and non-interactive: packages already present are
# skipped; the backports source is added only when missing. Run as root (or through sudo).
set -euo pipefail

PACKAGES=(softhsm2 pkcs11-provider opensc)
BACKPORTS_LIST=/etc/apt/sources.list.d/bookworm-backports.list

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "softhsm.sh: ${PACKAGES[*]} already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "softhsm.sh: must run as root to install: ${missing[*]}" >&2
    exit 1
  fi
fi

# pkcs11-provider is only in bookworm-backports on Debian 12; newer releases carry it in main.
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
if [ "$codename" = "bookworm" ] && \
   ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$BACKPORTS_LIST" >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "softhsm.sh: installed ${missing[*]}"
