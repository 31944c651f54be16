#!/usr/bin/env bash
# Local Apache Kafka 4.x broker in KRaft mode: start | stop | status | fetch.
# The jars come from Maven Central (kafka/pom.xml) into a cache folder; no distribution tarball.
# Skipped entirely when KAFKA_BOOTSTRAP_SERVERS points at an existing broker.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$ROOT/deploy/local"
KAFKA_DATA="$LEADFLOW_HOME/kafka"
KAFKA_PROPS="$LEADFLOW_HOME/kafka-server.properties"
KAFKA_PID="$LEADFLOW_HOME/kafka.pid"
KAFKA_LOG="$LOG_DIR/kafka.log"

fetch() {
  if compgen -G "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then return; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Kafka's jars"
  log "kafka: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central into $KAFKA_LIBS"
  local tmp="$KAFKA_LIBS.partial"
  rm -rf "$tmp"
  mvn -q -B -f "$HERE/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" || die "mvn could not resolve Kafka $KAFKA_VERSION"
  mv "$tmp" "$KAFKA_LIBS"
}

# shellcheck disable=SC2206  # KAFKA_HEAP_OPTS is a list of JVM flags on purpose
JAVA_ARGS=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m} -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.properties" -cp "$KAFKA_LIBS/*")
java_run() {
  command -v java >/dev/null || die "Java 17 is needed to run Kafka"
  java "${JAVA_ARGS[@]}" "$@"
}

is_running() { [[ -f "$KAFKA_PID" ]] && kill -0 "$(cat "$KAFKA_PID")" 2>/dev/null; }

# Ready means the broker answers a metadata request, not merely that the port is open.
wait_ready() {
  local deadline=$((SECONDS + ${LEADFLOW_KAFKA_START_TIMEOUT:-90}))
  while ((SECONDS < deadline)); do
    is_running || die "kafka exited during start-up, see $KAFKA_LOG"
    if [[ -x "$PYTHON" ]]; then
      "$PYTHON" -m shared.bus.ready "$(local_kafka_bootstrap)" 2>/dev/null && return 0
    elif (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  die "kafka did not answer metadata requests in time, see $KAFKA_LOG"
}

start() {
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then log "kafka: using KAFKA_BOOTSTRAP_SERVERS, not starting a broker"; return; fi
  if is_running; then log "kafka: already running on port $KAFKA_PORT"; return; fi
  fetch
  mkdir -p "$KAFKA_DATA"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@KAFKA_DATA@|$KAFKA_DATA|g" "$HERE/kafka/server.properties.in" >"$KAFKA_PROPS"
  if [[ ! -f "$KAFKA_DATA/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java_run kafka.tools.StorageTool random-uuid 2>>"$KAFKA_LOG")"
    log "kafka: formatting storage (cluster $cluster_id)"
    java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPS" --standalone \
      >>"$KAFKA_LOG" 2>&1 || die "kafka storage format failed, see $KAFKA_LOG"
  fi
  log "kafka: starting on 127.0.0.1:$KAFKA_PORT (log: $KAFKA_LOG)"
  # setsid: the broker outlives a Ctrl-C meant for the foreground; stop() ends it.
  setsid nohup java "${JAVA_ARGS[@]}" kafka.Kafka "$KAFKA_PROPS" >>"$KAFKA_LOG" 2>&1 </dev/null &
  echo $! >"$KAFKA_PID"
  wait_ready
  log "kafka: ready"
}

stop() {
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then return; fi
  if is_running; then
    local pid; pid="$(cat "$KAFKA_PID")"
    log "kafka: stopping"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$KAFKA_PID"
}

status() {
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then echo "kafka: external ($KAFKA_BOOTSTRAP_SERVERS)"; return; fi
  if is_running; then echo "kafka: running, $(local_kafka_bootstrap)"; else echo "kafka: stopped"; return 1; fi
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;; fetch) fetch ;;
  *) echo "usage: $0 start|stop|status|fetch" >&2; exit 2 ;;
esac
