#!/usr/bin/env bash
# `npm run demo`: two DIME organisations on this machine and one message between them; prints
# where it went, what each hop could see and what crossed the wire (scripts/demo/demo.ts).
# Sets up what it needs on a fresh Debian 12 machine first, like scripts/test.sh (idempotent; as
# root with CI=true, or from a terminal with sudo). Skip that with DIME_SKIP_SETUP=1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [ "${DIME_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup/services.sh
  bash scripts/setup/softhsm.sh
  bash scripts/setup/postfix.sh
  bash scripts/setup/dns.sh
  bash scripts/setup/node-deps.sh
fi

exec node -r ts-node/register/transpile-only -r tsconfig-paths/register scripts/demo/demo.ts "$@"
