#!/usr/bin/env bash
# PostgreSQL and Kafka together: start | stop | status | env.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"

case "${1:-}" in
  start) "$HERE/postgres.sh" start; "$HERE/kafka.sh" start ;;
  stop) "$HERE/kafka.sh" stop; "$HERE/postgres.sh" stop ;;
  status) rc=0; "$HERE/postgres.sh" status || rc=1; "$HERE/kafka.sh" status || rc=1; exit $rc ;;
  env)  # what a service or test needs to reach them, as shell exports
    echo "export DATABASE_URL='${DATABASE_URL:-$(local_database_url)}'"
    echo "export KAFKA_BOOTSTRAP_SERVERS='${KAFKA_BOOTSTRAP_SERVERS:-$(local_kafka_bootstrap)}'" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
