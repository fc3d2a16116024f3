#!/usr/bin/env bash
# Installs what libs/hsm, its tests and the local quickstart need: SoftHSM2 (the development HSM),
# OpenSC (pkcs11-tool, for operators) and libp11's OpenSSL engine (TLS with HSM-held keys) at
# version 0.4.13 or later, from bookworm-backports on Debian 12 (bookworm's own 0.4.12 cannot load
# keys from a token that also holds Ed25519 keys). Idempotent and non-interactive: packages
# already present (at a version that will do) are skipped; the backports source is added only
# when missing. Run as root (or through sudo).
set -euo pipefail

PACKAGES=(softhsm2 libengine-pkcs11-openssl opensc)
ENGINE_MIN_VERSION=0.4.13
BACKPORTS_LIST=/etc/apt/sources.list.d/bookworm-backports.list

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  elif [ "$pkg" = libengine-pkcs11-openssl ] && \
       dpkg --compare-versions "$(dpkg-query -W -f='${Version}' "$pkg")" lt "$ENGINE_MIN_VERSION"; then
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

# libengine-pkcs11-openssl >= 0.4.13 is only in bookworm-backports on Debian 12; newer releases
# carry it in main.
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
target=()
if [ "$codename" = "bookworm" ]; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$BACKPORTS_LIST" >/dev/null
  fi
  target=(-t bookworm-backports)
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# the engine from backports; the rest from the release itself
others=()
for pkg in "${missing[@]}"; do
  if [ "$pkg" = libengine-pkcs11-openssl ]; then
    $SUDO apt-get install -y -qq --no-install-recommends "${target[@]}" "$pkg"
  else
    others+=("$pkg")
  fi
done
if [ "${#others[@]}" -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${others[@]}"
fi
engine_version="$(dpkg-query -W -f='${Version}' libengine-pkcs11-openssl)"
if dpkg --compare-versions "$engine_version" lt "$ENGINE_MIN_VERSION"; then
  echo "softhsm.sh: libengine-pkcs11-openssl $engine_version is older than $ENGINE_MIN_VERSION" >&2
  exit 1
fi
echo "softhsm.sh: installed ${missing[*]}"
