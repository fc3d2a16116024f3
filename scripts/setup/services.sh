#!/usr/bin/env bash
# Installs (Debian packages) and starts PostgreSQL and Redis on 127.0.0.1, idempotently, and
# creates the project's database role and databases. Skips whatever is already running.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
DB_USER=${DB_USER:-dime}
DB_PASSWORD=${DB_PASSWORD:-dime}
DB_NAMES=${DB_NAMES:-"dime_gateway dime_gateway_test"}
# The runtime role (SELECT/INSERT only on the audit tables; grants come with the migrations).
DB_APP_USER=${DB_APP_USER:-dime_app}
DB_APP_PASSWORD=${DB_APP_PASSWORD:-dime}

ensure_postgres() {
  if ! command -v pg_isready >/dev/null 2>&1 || ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
    apt_install postgresql postgresql-client
    local ver
    ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$ver" ]; then
      ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
      as_root pg_createcluster "$ver" main >&2
    fi
    if ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
      log "starting PostgreSQL $ver"
      as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || as_root pg_ctlcluster "$ver" main start >&2
    fi
    for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
    pg_isready -q -h "$PGHOST" -p "$PGPORT" || { log "PostgreSQL did not come up on $PGHOST:$PGPORT"; return 1; }
  fi
  # Role and databases, created through the local socket as the postgres superuser.
  local psql=(as_root runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -tA)
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'")" != 1 ]; then
    log "creating database role $DB_USER"
    "${psql[@]}" -c "CREATE ROLE \"$DB_USER\" LOGIN PASSWORD '$DB_PASSWORD' CREATEDB CREATEROLE"
  fi
  # a migration may have made it first, NOLOGIN (it never carries a password)
  case "$("${psql[@]}" -c "SELECT rolcanlogin FROM pg_roles WHERE rolname='$DB_APP_USER'")" in
    t) ;;
    f) log "allowing database role $DB_APP_USER to log in"
       "${psql[@]}" -c "ALTER ROLE \"$DB_APP_USER\" LOGIN PASSWORD '$DB_APP_PASSWORD'" ;;
    *) log "creating database role $DB_APP_USER"
       "${psql[@]}" -c "CREATE ROLE \"$DB_APP_USER\" LOGIN PASSWORD '$DB_APP_PASSWORD'" ;;
  esac
  for db in $DB_NAMES; do
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$db'")" != 1 ]; then
      log "creating database $db"
      "${psql[@]}" -c "CREATE DATABASE \"$db\" OWNER \"$DB_USER\""
    fi
  done
}

ensure_redis() {
  if command -v redis-cli >/dev/null 2>&1 && [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then return 0; fi
  apt_install redis-server
  # The package may have started it already (systemd); start our own only if nothing answers.
  if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then return 0; fi
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --dir /var/lib/redis \
    --logfile /var/log/redis/dime-gateway.log --save '' --appendonly no >&2
  for _ in $(seq 1 20); do [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.5; done
  log "Redis did not come up"; return 1
}

ensure_postgres
ensure_redis
log "PostgreSQL and Redis ready"
