#!/usr/bin/env bash
# `npm start`: the local quickstart of the gateway on a fresh Debian machine (run as root, or as a
# user with sudo), idempotent: a second run reuses everything the first one made.
#   1. PostgreSQL + Redis (scripts/setup/services.sh), SoftHSM2 + libp11's OpenSSL engine (softhsm.sh),
#      npm dependencies (node-deps.sh), then `npm run build`;
#   2. the local HSM token, TLS certificates and org signet, once (appliance/hsm-init.sh --local;
#      it writes .local/appliance.env);
#   3. the gateway in the foreground, with the OpenSSL pkcs11 engine config so that STARTTLS
#      uses the HSM-held key. Ctrl-C / SIGTERM stops it gracefully.
# Settings, highest precedence first: the environment of `npm start`, .local/gateway.env (your own
# KEY=VALUE lines, e.g. LEGACY_HOST=exchange.corp.example LEGACY_PORT=25 to relay inbound mail to
# your real server), .local/appliance.env, then the local defaults below. Every key is documented
# in appliance/gateway.env.example. Skip steps with DIME_SKIP_SETUP=1 / DIME_SKIP_BUILD=1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[start] %s\n' "$*" >&2; }

if [ "${DIME_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup/services.sh
  bash scripts/setup/softhsm.sh
  bash scripts/setup/dns.sh
  bash scripts/setup/node-deps.sh
fi
if [ "${DIME_SKIP_BUILD:-0}" != 1 ]; then
  log "npm run build"
  npm run --silent build >&2
fi

mkdir -p .local
chmod 700 .local
DOMAIN="${ORG_DOMAIN:-example.test}"
if [ ! -f .local/appliance.env ]; then
  log "initialising the local HSM token for $DOMAIN (appliance/hsm-init.sh --local)"
  appliance/hsm-init.sh --local --domain "$DOMAIN" >&2
fi
for key in SOFTHSM2_CONF HSM_MODULE HSM_TOKEN_LABEL HSM_PIN_FILE HSM_OPENSSL_CONF; do
  grep -q "^${key}=" .local/appliance.env || { log ".local/appliance.env lacks $key: remove it and run again to re-initialise"; exit 1; }
done

# load KEY=VALUE lines without overriding what the environment already sets
load_env() {
  local line key
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key="${line%%=*}"
    [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || { log "$1: ignoring malformed line"; continue; }
    [ -n "${!key+x}" ] || export "$key=${line#*=}"
  done < "$1"
}
[ -f .local/gateway.env ] && load_env .local/gateway.env
load_env .local/appliance.env

# a token initialised before 2026-11-27 has a pkcs11-provider config: TLS now goes through libp11's
# engine (docs/hsm.md says why), so such a config is written again, for the same module
if ! grep -q '^engine_id = pkcs11$' "$HSM_OPENSSL_CONF" 2>/dev/null; then
  log "rewriting $HSM_OPENSSL_CONF for the OpenSSL pkcs11 engine"
  node -e 'const h = require(process.argv[1]); h.writeOpensslHsmConfig(process.argv[2], { enginePath: process.env.HSM_OPENSSL_ENGINE || h.DEFAULT_OPENSSL_PKCS11_ENGINE, modulePath: process.argv[3] });' \
    "$ROOT/dist/libs/hsm/src/index.js" "$HSM_OPENSSL_CONF" "$HSM_MODULE"
fi

export ORG_DOMAIN="$DOMAIN"
export GATEWAY_BIND="${GATEWAY_BIND:-127.0.0.1}"
export SMTP_PORT="${SMTP_PORT:-2525}"
export SUBMISSION_PORT="${SUBMISSION_PORT:-2587}"
export METRICS_PORT="${METRICS_PORT:-9465}"
export LEGACY_HOST="${LEGACY_HOST:-127.0.0.1}"
export LEGACY_PORT="${LEGACY_PORT:-25}"
export SPOOL_DIR="${SPOOL_DIR:-$ROOT/.local/spool}"
# migrations run as the owner role; the running gateway uses dime_app, which cannot change or
# delete audit rows (scripts/setup/services.sh creates both)
export DB_MIGRATION_USER="${DB_MIGRATION_USER:-dime}"
export DB_USER="${DB_USER:-dime_app}"
export TLS_CERT_FILE="${TLS_CERT_FILE:-$ROOT/.local/hsm/tls-ecdsa.cert.pem}"
export TLS_RSA_CERT_FILE="${TLS_RSA_CERT_FILE:-$ROOT/.local/hsm/tls-rsa.cert.pem}"
# DIME: the org signet hsm-init made from the HSM-held POK turns on the DMTP listener and the DIME route
export ORG_SIGNET_FILE="${ORG_SIGNET_FILE:-$ROOT/.local/hsm/org.signet}"
export DMTP_PORT="${DMTP_PORT:-2626}"
# SoftHSM re-reads its token directory only on C_Initialize; the OpenSSL engine shares the module here
export HSM_REINITIALIZE_ON_LOSS="${HSM_REINITIALIZE_ON_LOSS:-false}"

log "gateway for $ORG_DOMAIN: SMTP $GATEWAY_BIND:$SMTP_PORT, submission $GATEWAY_BIND:$SUBMISSION_PORT, DMTP $GATEWAY_BIND:$DMTP_PORT, metrics $GATEWAY_BIND:$METRICS_PORT, legacy server $LEGACY_HOST:$LEGACY_PORT"
log "publish this DIME record for $ORG_DOMAIN: $(cat "$ROOT/.local/hsm/dx-record.txt" 2>/dev/null || echo 'missing: run appliance/hsm-init.sh')"
exec node --openssl-config="$HSM_OPENSSL_CONF" "$ROOT/dist/apps/gateway/src/main.js"
