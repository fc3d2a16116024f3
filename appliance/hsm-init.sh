#!/usr/bin/env bash
# Initialise the gateway's HSM token (see appliance/src/hsm-init.ts). Example (local quickstart):
#   appliance/hsm-init.sh --local --domain example.org
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exec node -r ts-node/register/transpile-only -r tsconfig-paths/register appliance/src/hsm-init.ts "$@"
