#!/usr/bin/env bash
# `npm test`: sets up what the tests need on a fresh Debian 12 machine (idempotent), then runs
# the static checks and all three test tiers. `.ci/run` calls exactly this.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup/services.sh
bash scripts/setup/softhsm.sh
bash scripts/setup/postfix.sh
bash scripts/setup/dns.sh
bash scripts/setup/node-deps.sh

echo '== build, type-check, lint, import rules'
npm run --silent build
npx tsc -p tsconfig.json --noEmit
npx eslint .
npx depcruise apps libs bench test appliance --config .dependency-cruiser.js

echo '== tests: unit, medium, e2e'
results=$(mktemp -d)
status=0
npx jest --ci --selectProjects unit --json --outputFile="$results/unit.json" || status=1
npx jest --ci --selectProjects medium --runInBand --json --outputFile="$results/medium.json" || status=1
npx jest --ci --selectProjects e2e --runInBand --passWithNoTests --json --outputFile="$results/e2e.json" || status=1
node scripts/test-summary.js "$results/unit.json" "$results/medium.json" "$results/e2e.json"
rm -rf "$results"
exit $status
