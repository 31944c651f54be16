# Shared settings of the local launchers; sourced, not run.
# Every value can be overridden from the environment, so a laptop with other ports in use
# (or a second checkout) just exports different numbers.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LEADFLOW_HOME="${LEADFLOW_HOME:-$ROOT/.local/run}"
LOG_DIR="${LEADFLOW_LOG_DIR:-$LEADFLOW_HOME/logs}"
PG_PORT="${LEADFLOW_PG_PORT:-55432}"
PG_USER="${LEADFLOW_PG_USER:-leadflow}"
PG_DB="${LEADFLOW_PG_DB:-leadflow}"
KAFKA_PORT="${LEADFLOW_KAFKA_PORT:-59092}"
KAFKA_CONTROLLER_PORT="${LEADFLOW_KAFKA_CONTROLLER_PORT:-59093}"
KAFKA_VERSION="${LEADFLOW_KAFKA_VERSION:-4.1.1}"
KAFKA_LIBS="${LEADFLOW_KAFKA_LIBS:-$ROOT/.cache/kafka-$KAFKA_VERSION}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

mkdir -p "$LEADFLOW_HOME" "$LOG_DIR"

log() { printf '[leadflow] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

local_database_url() {
  echo "postgresql+asyncpg://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB"
}

local_kafka_bootstrap() {
  echo "127.0.0.1:$KAFKA_PORT"
}

# The signing secret of `make run` (LEADFLOW_SECRET_KEY): random, made once and kept in
# $LEADFLOW_HOME/secret (mode 600), so links and sessions signed before a restart still verify
# after it. One exported by the caller is used as it is.
local_secret() {
  if [[ -n "${LEADFLOW_SECRET_KEY:-}" ]]; then
    echo "$LEADFLOW_SECRET_KEY"
    return
  fi
  local file="$LEADFLOW_HOME/secret"
  if [[ ! -s "$file" ]]; then
    (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$file.new")
    mv "$file.new" "$file"
  fi
  chmod 600 "$file"
  cat "$file"
}
