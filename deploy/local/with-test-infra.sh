#!/usr/bin/env bash
# Run a command against throwaway PostgreSQL and Kafka (own folder and ports), then remove them,
# whether the command passed or not. With DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS set, those
# servers are used instead and nothing is started.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export LEADFLOW_HOME="${LEADFLOW_TEST_HOME:-$ROOT/.local/test}"
export LEADFLOW_PG_PORT="${LEADFLOW_TEST_PG_PORT:-55433}"
export LEADFLOW_KAFKA_PORT="${LEADFLOW_TEST_KAFKA_PORT:-59094}"
export LEADFLOW_KAFKA_CONTROLLER_PORT="${LEADFLOW_TEST_KAFKA_CONTROLLER_PORT:-59095}"
# Throwaway data: no need to survive a power cut, so skip fsync (a killed server still recovers).
export LEADFLOW_PG_EXTRA_CONF="fsync = off"

# Servers given from outside are used as they are and never stopped; remember which.
EXTERNAL_DB="${DATABASE_URL:-}"
EXTERNAL_KAFKA="${KAFKA_BOOTSTRAP_SERVERS:-}"

cleanup() {
  local rc=$?
  DATABASE_URL="$EXTERNAL_DB" KAFKA_BOOTSTRAP_SERVERS="$EXTERNAL_KAFKA" "$HERE/infra.sh" stop || true
  [[ -n "${LEADFLOW_KEEP_TEST_INFRA:-}" ]] || rm -rf "$LEADFLOW_HOME"
  exit $rc
}
# A previous run killed before its cleanup: stop what it left, start from nothing.
"$HERE/infra.sh" stop >/dev/null 2>&1 || true
rm -rf "$LEADFLOW_HOME"
trap cleanup EXIT
trap 'exit 130' INT TERM

"$HERE/infra.sh" start
eval "$("$HERE/infra.sh" env)"
export LEADFLOW_ENV=test
"$@"
