#!/usr/bin/env bash
# Installs the npm dependencies from the lockfile when node_modules is missing or older than it,
# and builds the project (dist/) when sources changed. Native addons (pkcs11js, secp256k1) build
# with the machine's g++ and Node headers; build tools come from Debian if missing.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
cd "$root"

command -v g++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || apt_install build-essential python3
# python3: node-gyp, and the escrow ZIP64 test checks archives with Python's own zipfile reader
command -v python3 >/dev/null 2>&1 || apt_install python3
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund >&2
fi
