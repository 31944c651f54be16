#!/usr/bin/env bash
# Private PostgreSQL 15 cluster for LeadFlow: start | stop | status.
# Skipped entirely when DATABASE_URL points at an existing server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PG_BIN="${LEADFLOW_PG_BIN:-}"
if [[ -z "$PG_BIN" ]]; then
  for candidate in /usr/lib/postgresql/15/bin "$(dirname "$(command -v initdb 2>/dev/null || echo /x/x)")"; do
    [[ -x "$candidate/initdb" ]] && PG_BIN="$candidate" && break
  done
fi
[[ -n "$PG_BIN" ]] || die "PostgreSQL binaries not found: install PostgreSQL 15 or set LEADFLOW_PG_BIN"

PG_DATA="$LEADFLOW_HOME/postgres"
PG_LOG="$LOG_DIR/postgres.log"

# PostgreSQL refuses to run as root: as root, run it as the 'postgres' system user.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_dirs() {
  mkdir -p "$PG_DATA"
  touch "$PG_LOG"
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' system user"
    chown postgres "$PG_DATA" "$PG_LOG"
    chmod 700 "$PG_DATA"
    as_pg test -w "$PG_DATA" || die "user postgres cannot reach $PG_DATA; set LEADFLOW_HOME to a folder it can traverse"
  fi
}

is_running() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

start() {
  if [[ -n "${DATABASE_URL:-}" ]]; then log "postgres: using DATABASE_URL, not starting a cluster"; return; fi
  ensure_dirs
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    log "postgres: initdb in $PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --auth=trust -E UTF8 --locale=C.UTF-8 >>"$PG_LOG" 2>&1 \
      || die "initdb failed, see $PG_LOG"
    cat >>"$PG_DATA/postgresql.conf" <<CONF
# LeadFlow local cluster
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
# The reporting read models' hot indexes (touches' keys, ~200 MB each at 5M touchpoints) must
# stay in memory: with the 128 MB default every insert read and wrote back pages (0039).
shared_buffers = ${LEADFLOW_PG_SHARED_BUFFERS:-1GB}
${LEADFLOW_PG_EXTRA_CONF:-}
CONF
  fi
  if is_running; then log "postgres: already running on port $PG_PORT"; return; fi
  log "postgres: starting on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null || die "pg_ctl start failed, see $PG_LOG"
  local psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -tAq)
  if [[ -z "$("${psql[@]}" -c "select 1 from pg_database where datname = '$PG_DB'")" ]]; then
    "${psql[@]}" -c "create database \"$PG_DB\"" || die "could not create database $PG_DB"
  fi
}

stop() {
  if [[ -n "${DATABASE_URL:-}" ]]; then return; fi
  if [[ -f "$PG_DATA/PG_VERSION" ]] && is_running; then
    log "postgres: stopping"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  fi
}

status() {
  if [[ -n "${DATABASE_URL:-}" ]]; then echo "postgres: external ($DATABASE_URL)"; return; fi
  if [[ -f "$PG_DATA/PG_VERSION" ]] && is_running; then
    echo "postgres: running, $(local_database_url)"
  else
    echo "postgres: stopped"; return 1
  fi
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
