#!/usr/bin/env bash
# Prints a SUBMISSION_AUTH_FILE line (`user:scrypt$...`) for USER; the password is read from stdin
# (one line; pipe it in, a terminal echoes it). Append the line to the file the gateway's SUBMISSION_AUTH_FILE names.
#   appliance/submission-passwd.sh legacy-exchange >> /etc/dime-gateway/submission-users
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exec node -r ts-node/register/transpile-only -r tsconfig-paths/register appliance/src/submission-passwd.ts "$@"
