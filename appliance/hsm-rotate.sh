#!/usr/bin/env bash
# Rotate the org POK / TLS keys in the HSM token and regenerate the outputs (see
# appliance/src/hsm-rotate.ts). Examples (local quickstart):
#   appliance/hsm-rotate.sh --local --role org-primary --overlap 30d
#   appliance/hsm-rotate.sh --local --retire-expired
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exec node -r ts-node/register/transpile-only -r tsconfig-paths/register appliance/src/hsm-rotate.ts "$@"
