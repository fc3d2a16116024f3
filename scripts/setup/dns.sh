#!/usr/bin/env bash
# Installs Debian's dnsmasq binary (package dnsmasq-base: no system service, no config) for the
# DIME discovery tests and the two-organisation demo, which run their OWN dnsmasq on a loopback
# port answering `_dx` TXT, MX and A records of test domains (test/dns/). Idempotent.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

apt_install dnsmasq-base
[ -x /usr/sbin/dnsmasq ] || { log "missing /usr/sbin/dnsmasq after installing dnsmasq-base"; exit 1; }
log "$(/usr/sbin/dnsmasq --version | head -n1) ready (no system service)"
