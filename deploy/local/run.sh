#!/usr/bin/env bash
# `make run`: PostgreSQL, Kafka, migrations, every service; Ctrl-C stops all it started.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"
LEADFLOW="$ROOT/.venv/bin/leadflow"
SERVICES=(ingest scoring nurture reporting console)
declare -A PORTS=([ingest]="${INGEST_PORT:-8001}" [scoring]="${SCORING_PORT:-8002}"
                  [nurture]="${NURTURE_PORT:-8003}" [reporting]="${REPORTING_PORT:-8004}"
                  [console]="${CONSOLE_PORT:-8005}")
PIDS=()
STARTED_INFRA=0
# Servers given from outside are used as they are and never stopped; remember which.
EXTERNAL_DB="${DATABASE_URL:-}"
EXTERNAL_KAFKA="${KAFKA_BOOTSTRAP_SERVERS:-}"

cleanup() {
  trap - EXIT INT TERM
  log "stopping services"
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((STARTED_INFRA)); then
    DATABASE_URL="$EXTERNAL_DB" KAFKA_BOOTSTRAP_SERVERS="$EXTERNAL_KAFKA" "$HERE/infra.sh" stop
  fi
  log "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Servers already running (an earlier `make run` in another terminal) are left running on exit.
"$HERE/infra.sh" status >/dev/null 2>&1 || STARTED_INFRA=1
"$HERE/infra.sh" start
eval "$("$HERE/infra.sh" env)"
# Every service signs with this checkout's own secret, never the public development one.
LEADFLOW_SECRET_KEY="$(local_secret)" || die "could not make the secret in $LEADFLOW_HOME"
export LEADFLOW_SECRET_KEY
"$LEADFLOW" migrate
"$LEADFLOW" topics

# A local mailbox: nurture's email lands in $LEADFLOW_HOME/mail, listed on a web page.
MAIL_DIR="$LEADFLOW_HOME/mail"
"$LEADFLOW" mailbox --folder "$MAIL_DIR" --smtp-port "${NURTURE_SMTP_PORT:-2525}" \
  --http-port "${MAILBOX_PORT:-8025}" >>"$LOG_DIR/mailbox.log" 2>&1 &
PIDS+=($!)

# The console calls the other services at the ports chosen here.
export CONSOLE_INGEST_URL="http://127.0.0.1:${PORTS[ingest]}"
export CONSOLE_SCORING_URL="http://127.0.0.1:${PORTS[scoring]}"
export CONSOLE_NURTURE_URL="http://127.0.0.1:${PORTS[nurture]}"
export CONSOLE_REPORTING_URL="http://127.0.0.1:${PORTS[reporting]}"
for svc in "${SERVICES[@]}"; do
  "$LEADFLOW" serve "$svc" --port "${PORTS[$svc]}" >>"$LOG_DIR/$svc.log" 2>&1 &
  PIDS+=($!)
done

for svc in "${SERVICES[@]}"; do
  url="http://127.0.0.1:${PORTS[$svc]}"
  for _ in $(seq 1 120); do
    curl -fsS "$url/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fsS "$url/healthz" >/dev/null 2>&1 || die "$svc did not start, see $LOG_DIR/$svc.log"
done

# The demo: a workspace with an example nurture sequence (created once, keys kept in
# $LEADFLOW_HOME/demo.json) and a small web site with the tracker embedded.
SITE_PORT="${DEMO_SITE_PORT:-8080}"
DEMO_INFO="$("$LEADFLOW" demo setup --site "http://127.0.0.1:$SITE_PORT")" \
  || die "could not set up the demo workspace (services' logs: $LOG_DIR)"
"$LEADFLOW" demo site --port "$SITE_PORT" >>"$LOG_DIR/demo-site.log" 2>&1 &
PIDS+=($!)

cat <<MSG

LeadFlow is running.
  console    http://127.0.0.1:${PORTS[console]}     (the web console: sign in with a workspace's API key)
  ingest     http://127.0.0.1:${PORTS[ingest]}     (API docs: /docs)
  scoring    http://127.0.0.1:${PORTS[scoring]}
  nurture    http://127.0.0.1:${PORTS[nurture]}
  reporting  http://127.0.0.1:${PORTS[reporting]}
  mailbox    http://127.0.0.1:${MAILBOX_PORT:-8025}     (what nurture sent; .eml files in $MAIL_DIR)
  demo site  http://127.0.0.1:$SITE_PORT     (tracked: browse it, book a demo)
  every service: /healthz /readyz /metrics
  PostgreSQL $DATABASE_URL
  Kafka      $KAFKA_BOOTSTRAP_SERVERS
  logs       $LOG_DIR

The demo workspace (sign in to the console with its API key):
$DEMO_INFO

Next, in another terminal:
  make demo                                            # simulated visitors; watch leads, MQLs, emails
  open http://127.0.0.1:${PORTS[console]}                           # the console: leads, sequences, funnel, settings
  .venv/bin/leadflow events lead-events                # watch scoring's events arrive
Press Ctrl-C to stop.
MSG

# If any service exits, stop everything rather than run half a system.
wait -n "${PIDS[@]}" || true
die "a service exited, see the logs in $LOG_DIR"
