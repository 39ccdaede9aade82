#!/usr/bin/env bash
# Runs a real Apache Kafka broker (KRaft mode, broker+controller in one JVM) natively, without
# Docker, from jars assembled off Maven Central; `start --nodes N` runs a cluster of N such nodes
# instead (infra/local/kafka-cluster.sh).
#
# See `infra/local/kafka.sh help` for subcommands and environment variables.
set -euo pipefail

# ----------------------------------------------------------------------------
# Configuration (environment)
# ----------------------------------------------------------------------------
# What the caller set explicitly: a cluster remembers its ports, picks its own controller ports
# and heap unless told otherwise (kafka-cluster.sh).
KAFKA_HOST_ENV="${KAFKA_HOST:-}"
KAFKA_PORT_ENV="${KAFKA_PORT:-}"
KAFKA_CONTROLLER_PORT_ENV="${KAFKA_CONTROLLER_PORT:-}"
KAFKA_HEAP_MAX_ENV="${KAFKA_HEAP_MAX:-}"

KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_MAX="${KAFKA_HEAP_MAX:-1g}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-90}"
TCC_CACHE_DIR="${TCC_CACHE_DIR:-${HOME}/.cache/tcc-saga}"

SCALA_BINARY="2.13"
MAVEN_DEPENDENCY_PLUGIN_VERSION="3.8.1"
# Bump when the way libs/ is assembled changes, so existing caches are rebuilt.
RECIPE_REVISION="1"
STOP_TIMEOUT=30

CACHE_DIR="${TCC_CACHE_DIR}/kafka-${KAFKA_VERSION}"
LIBS_DIR="${CACHE_DIR}/libs"
STAMP_FILE="${CACHE_DIR}/.fetch-complete"
STAMP_CONTENT="org.apache.kafka:kafka_${SCALA_BINARY}:${KAFKA_VERSION} recipe=${RECIPE_REVISION}"
SERVER_LOG4J="${CACHE_DIR}/log4j.properties"
TOOLS_LOG4J="${CACHE_DIR}/tools-log4j.properties"

STATE_DIR="${KAFKA_STATE_DIR:-${CACHE_DIR}/run-${KAFKA_PORT}}"
case "${STATE_DIR}" in
  /*) ;;
  *) STATE_DIR="${PWD}/${STATE_DIR}" ;;
esac
STATE_DIR="${STATE_DIR%/}"
PROPS_FILE="${STATE_DIR}/server.properties"
DATA_DIR="${STATE_DIR}/data"
LOGS_DIR="${STATE_DIR}/logs"
SERVER_LOG="${LOGS_DIR}/server.log"
OUT_FILE="${STATE_DIR}/kafka.out"
PID_FILE="${STATE_DIR}/kafka.pid"
CLUSTER_ID_FILE="${STATE_DIR}/cluster.id"

# start --secure: SASL_SSL, SCRAM users, ACLs
# shellcheck source=infra/local/kafka-secure.sh
source "$(dirname "${BASH_SOURCE[0]}")/kafka-secure.sh"
# start --nodes N: a cluster of N nodes, node i in ${STATE_DIR}/node-<i>
# shellcheck source=infra/local/kafka-cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/kafka-cluster.sh"

if [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
  JAVA="${JAVA_HOME}/bin/java"
else
  JAVA="java"
fi

# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------
log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { printf 'kafka.sh: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<EOF
Usage: $(basename "$0") <command> [options]

Runs Apache Kafka ${KAFKA_VERSION} natively (KRaft, each node broker+controller in one JVM), from jars
fetched off Maven Central: one broker, or a cluster of N nodes on consecutive ports. No Docker
needed; needs Java >= 17 and Maven.

Commands:
  fetch        Assemble the Kafka jars into the cache (idempotent; instant once done).
  start [--nodes N] [--secure]
               fetch, format storage if needed, start the broker in the background and
               wait until it accepts connections. Exit 0 if it is already running.
               --nodes N (kept by the state dir: later commands need no --nodes): a cluster of
               N nodes, all started at once; start returns when every node is ready. Node i
               listens on KAFKA_PORT+i-1, its controller on KAFKA_CONTROLLER_PORT+i-1; state in
               \${KAFKA_STATE_DIR}/node-<i>. N >= 3: replication factor 3, min.insync.replicas 2,
               a killed node is fenced (its partitions get new leaders) after 4s.
               --secure (kept by the state dir: later starts stay secured; single broker only):
               one SASL_SSL listener, a CA and certificate of the state dir's own, SCRAM-SHA-512
               users admin (super user), order, stock and payment, and ACLs giving each service
               only its topics (infra/local/kafka-secure.sh).
  start --node I
               (Re)start node I of the cluster (no reformat) and wait until it is ready.
  stop [--node I]
               Stop every node, or node I (SIGTERM, up to ${STOP_TIMEOUT}s, then SIGKILL; a
               cluster that has lost its quorum: ${NO_QUORUM_STOP_TIMEOUT}s).
  kill [--node I]
               SIGKILL every node, or node I (a crash: no controlled shutdown); returns once
               the process is gone.
  status [--node I]
               One line per node: running or not, pid, port. Exit 0 only if all run.
  brokers      Print the bootstrap list for KAFKA_BROKERS, e.g. ${KAFKA_HOST}:${KAFKA_PORT}
               (a cluster: every node's host:port, comma-separated).
  secure-env <admin|order|stock|payment>
               Print the KAFKA_* variables that connect as that user to the secured broker,
               e.g. export \$(./dev kafka secure-env admin); ./dev topics list
               (files: \${KAFKA_STATE_DIR}/secure: ca.pem, <user>.password, admin.properties
               for run-class tools' --command-config).
  reset        stop, then delete the state dir (all nodes, topics and data).
  logs [-f] [--node I]
               Print the last 100 lines of the broker log; of a cluster: of every node, or of
               node I (-f: follow).
  run-class <main-class> [args...]
               Run a Kafka CLI class on the broker's classpath, e.g.
                 run-class org.apache.kafka.tools.TopicCommand \\
                   --bootstrap-server \$($(basename "$0") brokers) --list
  help         Show this text.

Environment:
  KAFKA_VERSION          Kafka version (org.apache.kafka:kafka_${SCALA_BINARY})  [${KAFKA_VERSION}]
  KAFKA_HOST             Broker listen/advertised host (keep it on loopback)  [${KAFKA_HOST}]
  KAFKA_PORT             Broker (PLAINTEXT) port; node I of a cluster: +I-1   [${KAFKA_PORT}]
  KAFKA_CONTROLLER_PORT  KRaft controller port (always on 127.0.0.1); node I: +I-1
                         [${KAFKA_CONTROLLER_PORT_ENV:-9093; a cluster: KAFKA_PORT+${CLUSTER_CONTROLLER_OFFSET}}]
  KAFKA_STATE_DIR        Config, data, logs and pid of this instance
                         [\${TCC_CACHE_DIR}/kafka-\${KAFKA_VERSION}/run-\${KAFKA_PORT}]
  KAFKA_HEAP_MAX         Max JVM heap (-Xmx) of each node   [${KAFKA_HEAP_MAX_ENV:-1g; a cluster: ${CLUSTER_HEAP_MAX}}]
  KAFKA_JVM_OPTS         More JVM options for each node, e.g. -XX:TieredStopAtLevel=1 (compile with
                         C1 only: less CPU in a JVM's first minutes, slower code after)  [none]
  KAFKA_TOPIC_PREFIX     --secure: the services' topics the ACLs name start with it  [${KAFKA_TOPIC_PREFIX:-}]
  KAFKA_GROUP_PREFIX     --secure: service S's consumer group is <this>S       [${KAFKA_GROUP_PREFIX}]
  KAFKA_READY_TIMEOUT    Seconds 'start' waits for the broker(s) to be ready  [${KAFKA_READY_TIMEOUT}]
  TCC_CACHE_DIR          Cache root, outside git                             [\$HOME/.cache/tcc-saga]
  JAVA_HOME              If set, \$JAVA_HOME/bin/java is used instead of java on PATH.

A cluster keeps its size, host and ports in \${KAFKA_STATE_DIR}/cluster.env; an explicit
KAFKA_HOST, KAFKA_PORT or KAFKA_CONTROLLER_PORT that differs from them is refused.

Current instance: ${KAFKA_HOST}:${KAFKA_PORT}, state dir ${STATE_DIR}
EOF
}

require_java() {
  if ! command -v "${JAVA}" >/dev/null 2>&1; then
    die "java not found. Java >= 17 is required: apt-get install openjdk-17-jre-headless maven"
  fi
  local line major
  line="$("${JAVA}" -version 2>&1 | head -n 1)"
  major="$(sed -E -n 's/.*version "([0-9]+)(\.([0-9]+))?.*/\1 \3/p' <<<"${line}")"
  if [[ "${major}" == "1 "* ]]; then
    major="${major#1 }"      # 1.8 -> 8
  else
    major="${major%% *}"
  fi
  if ! [[ "${major}" =~ ^[0-9]+$ ]] || ((major < 17)); then
    die "Java >= 17 is required (found: ${line:-unknown}): apt-get install openjdk-17-jre-headless"
  fi
}

require_mvn() {
  command -v mvn >/dev/null 2>&1 \
    || die "mvn (Maven) not found; it is needed once to fetch the Kafka jars: apt-get install maven openjdk-17-jre-headless"
}

# Is something accepting TCP connections on host:port?  (pure bash, no Java)
port_open() {
  # shellcheck disable=SC2016  # $1/$2 are expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" >/dev/null 2>&1
}

# Convert a JVM size (512m, 1g, 2048k, bytes) to MiB; empty if unparseable.
size_to_mb() {
  local v="${1}" n unit
  if [[ "${v}" =~ ^([0-9]+)([kKmMgGtT]?)$ ]]; then
    n="${BASH_REMATCH[1]}"; unit="${BASH_REMATCH[2]}"
    case "${unit}" in
      k|K) echo $((n / 1024)) ;;
      m|M|"") [[ -z "${unit}" ]] && echo $((n / 1048576)) || echo "${n}" ;;
      g|G) echo $((n * 1024)) ;;
      t|T) echo $((n * 1048576)) ;;
    esac
  fi
}

# pid of the broker belonging to this state dir, if it is alive (prints it, returns 0).
running_pid() {
  [[ -f "${PID_FILE}" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"${PID_FILE}")"
  [[ -n "${pid}" ]] || return 1
  kill -0 "${pid}" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be our broker.
  if [[ -r "/proc/${pid}/cmdline" ]]; then
    tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -qF "${PROPS_FILE}" || return 1
  fi
  echo "${pid}"
}

# ----------------------------------------------------------------------------
# fetch
# ----------------------------------------------------------------------------
write_pom() {
  local slf4j_version="${1:-}" binding=""
  if [[ -n "${slf4j_version}" ]]; then
    binding="
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>${slf4j_version}</version>
    </dependency>"
  fi
  cat >"${CACHE_DIR}/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by infra/local/kafka.sh: only used to resolve the Kafka broker's jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tcc-saga</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- The broker (kafka.Kafka) and kafka.tools.StorageTool. -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_BINARY}</artifactId>
      <version>${KAFKA_VERSION}</version>
      <exclusions>
        <!-- ZooKeeper drags in logback (a second SLF4J binding); Kafka's own distribution leaves it out. -->
        <exclusion><groupId>ch.qos.logback</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>org.slf4j</groupId><artifactId>slf4j-log4j12</artifactId></exclusion>
      </exclusions>
    </dependency>
    <!-- CLI tools (org.apache.kafka.tools.TopicCommand, ConsumerGroupCommand, ...). -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>${KAFKA_VERSION}</version>
      <exclusions>
        <!-- Only needed by the Connect plugin-path tool; pulls Jetty/Jersey. -->
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
        <exclusion><groupId>ch.qos.logback</groupId><artifactId>*</artifactId></exclusion>
        <!-- The SLF4J binding is added explicitly below, matching slf4j-api. -->
        <exclusion><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId></exclusion>
        <exclusion><groupId>org.slf4j</groupId><artifactId>slf4j-log4j12</artifactId></exclusion>
      </exclusions>
    </dependency>${binding}
  </dependencies>
</project>
EOF
}

run_mvn_copy() {
  local out="$1"
  if ! mvn -q -B -ntp -Dstyle.color=never -f "${CACHE_DIR}/pom.xml" \
      "org.apache.maven.plugins:maven-dependency-plugin:${MAVEN_DEPENDENCY_PLUGIN_VERSION}:copy-dependencies" \
      -DincludeScope=runtime -DoutputDirectory="${out}" >"${CACHE_DIR}/mvn.log" 2>&1; then
    tail -n 30 "${CACHE_DIR}/mvn.log" | sed 's/\x1b\[[0-9;]*m//g' >&2
    die "Maven could not resolve org.apache.kafka:kafka_${SCALA_BINARY}:${KAFKA_VERSION} (does that version exist on Maven Central? full log: ${CACHE_DIR}/mvn.log)"
  fi
}

jar_has() { LC_ALL=C grep -aqF "$2" "$1"; }

write_log4j_configs() {
  cat >"${SERVER_LOG4J}" <<'EOF'
# Generated by infra/local/kafka.sh (log4j 1.x API, served by reload4j).
# INFO and up -> ${kafka.logs.dir}/server.log ; WARN and up also -> stderr (kafka.out).
log4j.rootLogger=INFO, file, stderr

log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.MaxFileSize=100MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.Threshold=WARN
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
log4j.logger.org.apache.zookeeper=WARN
EOF
  cat >"${TOOLS_LOG4J}" <<'EOF'
# Generated by infra/local/kafka.sh: CLI tools log WARN and up to stderr only.
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

fetch_locked() {
  # Re-check under the lock: a concurrent fetch may have finished meanwhile.
  if [[ -f "${STAMP_FILE}" && "$(cat "${STAMP_FILE}")" == "${STAMP_CONTENT}" ]]; then
    return 0
  fi
  require_mvn
  log "assembling Kafka ${KAFKA_VERSION} jars from Maven Central into ${LIBS_DIR} (one-time)..."
  local tmp="${CACHE_DIR}/libs.tmp"
  rm -rf "${tmp}"
  rm -f "${STAMP_FILE}"

  # Pass 1: Kafka itself, to learn which slf4j-api version it brings.
  write_pom ""
  run_mvn_copy "${tmp}"
  local api_jars=("${tmp}"/slf4j-api-*.jar)
  [[ ${#api_jars[@]} -eq 1 && -f "${api_jars[0]}" ]] \
    || die "expected exactly one slf4j-api jar in ${tmp}, found: ${api_jars[*]}"
  local slf4j_version
  slf4j_version="$(basename "${api_jars[0]}" .jar)"
  slf4j_version="${slf4j_version#slf4j-api-}"

  # Pass 2: add the SLF4J binding that matches (slf4j 1.7.x -> slf4j-reload4j).
  write_pom "${slf4j_version}"
  run_mvn_copy "${tmp}"

  # Sanity checks on what we got.
  local core="${tmp}/kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar"
  local tools="${tmp}/kafka-tools-${KAFKA_VERSION}.jar"
  [[ -f "${core}" ]] || die "missing ${core}"
  jar_has "${core}" "kafka/Kafka.class" || die "kafka.Kafka not found in ${core}"
  jar_has "${core}" "kafka/tools/StorageTool.class" || die "kafka.tools.StorageTool not found in ${core}"
  if ! [[ -f "${tools}" ]] || ! jar_has "${tools}" "org/apache/kafka/tools/TopicCommand.class"; then
    die "org.apache.kafka.tools.TopicCommand not found (kafka-tools jar)"
  fi
  [[ -f "${tmp}/slf4j-reload4j-${slf4j_version}.jar" ]] || die "missing slf4j-reload4j-${slf4j_version}.jar"
  compgen -G "${tmp}/reload4j-*.jar" >/dev/null || die "missing reload4j jar"
  if compgen -G "${tmp}/logback-classic-*.jar" >/dev/null || compgen -G "${tmp}/slf4j-log4j12-*.jar" >/dev/null; then
    die "a second SLF4J binding ended up in ${tmp}"
  fi

  write_log4j_configs
  rm -rf "${LIBS_DIR}"
  mv "${tmp}" "${LIBS_DIR}"
  printf '%s\n' "${STAMP_CONTENT}" >"${STAMP_FILE}"
  log "fetched $(find "${LIBS_DIR}" -name '*.jar' | wc -l) jars (slf4j-api ${slf4j_version} + slf4j-reload4j ${slf4j_version})"
}

cmd_fetch() {
  if [[ -f "${STAMP_FILE}" && "$(cat "${STAMP_FILE}")" == "${STAMP_CONTENT}" ]]; then
    return 0
  fi
  mkdir -p "${CACHE_DIR}"
  if command -v flock >/dev/null 2>&1; then
    (
      flock 9
      fetch_locked
    ) 9>"${CACHE_DIR}/.fetch.lock"
  else
    fetch_locked
  fi
}

# ----------------------------------------------------------------------------
# start / stop / status / reset / logs
# ----------------------------------------------------------------------------
write_server_properties() {
  # a secured broker's properties hold passwords
  if ((SECURE)); then (umask 077 && : >"${PROPS_FILE}" && chmod 600 "${PROPS_FILE}"); fi
  cat >"${PROPS_FILE}" <<EOF
# Generated by infra/local/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}
controller.listener.names=CONTROLLER
$(listener_properties)

log.dirs=${DATA_DIR}
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false

offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0

num.recovery.threads.per.data.dir=1
EOF
}

java_tool() {
  # One-shot CLI JVMs: small heap, fast start.
  "${JAVA}" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:${TOOLS_LOG4J}" -cp "${LIBS_DIR}/*" "$@"
}

check_port_free() {
  local host="$1" port="$2" what="$3"
  if port_open "${host}" "${port}"; then
    local who=""
    if command -v ss >/dev/null 2>&1; then
      who="$(ss -Hltnp "sport = :${port}" 2>/dev/null | head -n 3 || true)"
    fi
    die "port ${port} (${what}) on ${host} is already in use by another process${who:+:
${who}}
Stop that process, or pick other ports, e.g. KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093 $0 start"
  fi
}

print_failure_logs() {
  if [[ -s "${SERVER_LOG}" ]]; then
    printf -- '--- last 40 lines of %s ---\n' "${SERVER_LOG}" >&2
    tail -n 40 "${SERVER_LOG}" >&2
  fi
  if [[ -s "${OUT_FILE}" ]]; then
    printf -- '--- last 40 lines of %s ---\n' "${OUT_FILE}" >&2
    tail -n 40 "${OUT_FILE}" >&2
  fi
}

heap_opts() {
  local max_mb
  max_mb="$(size_to_mb "${KAFKA_HEAP_MAX}")"
  if [[ -n "${max_mb}" ]] && ((max_mb < 256)); then
    echo "-Xms${KAFKA_HEAP_MAX} -Xmx${KAFKA_HEAP_MAX}"
  else
    echo "-Xms256m -Xmx${KAFKA_HEAP_MAX}"
  fi
}

# Start the broker of PROPS_FILE in the background (log in LOGS_DIR, stdout/stderr in OUT_FILE);
# its pid goes to PID_FILE and LAUNCHED_PID. Fresh logs per start, so readiness only looks at
# this run's lines.
launch_broker() {
  [[ -f "${SERVER_LOG}" ]] && mv -f "${SERVER_LOG}" "${SERVER_LOG}.prev"
  [[ -f "${OUT_FILE}" ]] && mv -f "${OUT_FILE}" "${OUT_FILE}.prev"
  local heap
  heap="$(heap_opts)"
  # shellcheck disable=SC2086  # heap and KAFKA_JVM_OPTS are several words on purpose
  nohup "${JAVA}" ${heap} \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent ${KAFKA_JVM_OPTS:-} \
    -Djava.awt.headless=true \
    -Dlog4j.configuration="file:${SERVER_LOG4J}" \
    -Dkafka.logs.dir="${LOGS_DIR}" \
    -cp "${LIBS_DIR}/*" \
    kafka.Kafka "${PROPS_FILE}" >"${OUT_FILE}" 2>&1 </dev/null &
  LAUNCHED_PID=$!
  printf '%s\n' "${LAUNCHED_PID}" >"${PID_FILE}"
}

cmd_start() {
  case "${1:-}" in
    --secure) SECURE=1 ;;
    "") ;;
    *) die "start takes only --secure (got '$1')" ;;
  esac
  local asked="${SECURE}"
  secure_detect
  cmd_fetch
  require_java
  [[ "${KAFKA_READY_TIMEOUT}" =~ ^[0-9]+$ ]] || die "KAFKA_READY_TIMEOUT must be a number of seconds"

  local pid
  if pid="$(running_pid)"; then
    ((asked)) && [[ ! -f "${SECURE_MARK}" ]] \
      && die "a broker without --secure already runs with state ${STATE_DIR} (pid ${pid})"
    echo "Kafka already running at ${KAFKA_HOST}:${KAFKA_PORT} (pid ${pid}, state ${STATE_DIR})"
    secure_grant
    return 0
  fi
  rm -f "${PID_FILE}"

  check_port_free "${KAFKA_HOST}" "${KAFKA_PORT}" "KAFKA_PORT, broker"
  check_port_free 127.0.0.1 "${KAFKA_CONTROLLER_PORT}" "KAFKA_CONTROLLER_PORT, KRaft controller"

  mkdir -p "${DATA_DIR}" "${LOGS_DIR}"
  secure_prepare
  write_server_properties

  if [[ ! -f "${DATA_DIR}/meta.properties" ]]; then
    local cluster_id
    if [[ -s "${CLUSTER_ID_FILE}" ]]; then
      cluster_id="$(cat "${CLUSTER_ID_FILE}")"
    else
      cluster_id="$(java_tool kafka.tools.StorageTool random-uuid | tail -n 1)"
      [[ -n "${cluster_id}" ]] || die "StorageTool random-uuid returned nothing"
      printf '%s\n' "${cluster_id}" >"${CLUSTER_ID_FILE}"
    fi
    log "formatting KRaft storage in ${DATA_DIR} (cluster id ${cluster_id})"
    local scram=()
    mapfile -t scram < <(secure_format_args)
    java_tool kafka.tools.StorageTool format -t "${cluster_id}" -c "${PROPS_FILE}" --ignore-formatted \
      ${scram[@]+"${scram[@]}"} >/dev/null \
      || die "kafka-storage format failed for ${PROPS_FILE}"
  fi

  local t0
  t0="$(date +%s%N)"
  launch_broker
  pid="${LAUNCHED_PID}"

  local deadline=$((SECONDS + KAFKA_READY_TIMEOUT))
  while :; do
    if ! kill -0 "${pid}" 2>/dev/null; then
      rm -f "${PID_FILE}"
      print_failure_logs
      if grep -qsF "Address already in use" "${SERVER_LOG}" "${OUT_FILE}"; then
        die "Kafka exited during startup: port ${KAFKA_PORT} (KAFKA_PORT) or ${KAFKA_CONTROLLER_PORT} (KAFKA_CONTROLLER_PORT) is already in use"
      fi
      die "Kafka exited during startup (state ${STATE_DIR})"
    fi
    if [[ -f "${SERVER_LOG}" ]] && grep -qF "Kafka Server started" "${SERVER_LOG}" \
        && port_open "${KAFKA_HOST}" "${KAFKA_PORT}"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      print_failure_logs
      log "not ready after ${KAFKA_READY_TIMEOUT}s; stopping it"
      cmd_stop >&2 || true
      die "Kafka did not become ready on ${KAFKA_HOST}:${KAFKA_PORT} within ${KAFKA_READY_TIMEOUT}s (KAFKA_READY_TIMEOUT)"
    fi
    sleep 0.2
  done
  secure_grant
  local ms=$((($(date +%s%N) - t0) / 1000000)) listener=""
  if ((SECURE)); then listener=" (SASL_SSL)"; fi
  printf 'Kafka %s ready at %s:%s%s in %d.%01ds (pid %s, log %s)\n' \
    "${KAFKA_VERSION}" "${KAFKA_HOST}" "${KAFKA_PORT}" "${listener}" \
    $((ms / 1000)) $((ms % 1000 / 100)) "${pid}" "${SERVER_LOG}"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "${PID_FILE}"
    echo "Kafka not running (state ${STATE_DIR})"
    return 0
  fi
  kill -TERM "${pid}" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "${pid}" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "${pid}" 2>/dev/null; then
    log "pid ${pid} still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "${pid}" 2>/dev/null || true
    local kill_deadline=$((SECONDS + 5))
    while kill -0 "${pid}" 2>/dev/null && ((SECONDS < kill_deadline)); do
      sleep 0.1
    done
  fi
  rm -f "${PID_FILE}"
  echo "Kafka stopped (pid ${pid}, state ${STATE_DIR})"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "Kafka running at ${KAFKA_HOST}:${KAFKA_PORT} (pid ${pid}, state ${STATE_DIR})"
    return 0
  fi
  echo "Kafka not running (state ${STATE_DIR})"
  return 1
}

cmd_reset() {
  cmd_stop
  case "${STATE_DIR}" in
    "" | "/" | "${HOME}" | "${HOME}/" | "${TCC_CACHE_DIR}" | "${CACHE_DIR}")
      die "refusing to delete state dir '${STATE_DIR}'" ;;
  esac
  if [[ -d "${STATE_DIR}" ]]; then
    # Only delete something that looks like one of our state dirs (or is empty).
    if [[ -f "${PROPS_FILE}" || -z "$(ls -A "${STATE_DIR}")" ]]; then
      rm -rf "${STATE_DIR}"
      echo "Deleted ${STATE_DIR}"
    else
      die "${STATE_DIR} does not look like a kafka.sh state dir (no server.properties); not deleting"
    fi
  else
    echo "Nothing to delete (${STATE_DIR} does not exist)"
  fi
}

cmd_logs() {
  [[ -f "${SERVER_LOG}" ]] || die "no log yet at ${SERVER_LOG}"
  if [[ "${1:-}" == "-f" ]]; then
    exec tail -n 100 -F "${SERVER_LOG}"
  fi
  tail -n 100 "${SERVER_LOG}"
}

cmd_run_class() {
  [[ $# -ge 1 ]] || die "usage: $0 run-class <main-class> [args...]"
  cmd_fetch
  require_java
  java_tool "$@"
}

main() {
  local cmd="${1:-help}"
  [[ $# -gt 0 ]] && shift
  case "${cmd}" in
    fetch) cmd_fetch ;;
    start) nodes_start "$@" ;;
    secure-env) cmd_secure_env "$@" ;;
    stop) nodes_stop "$@" ;;
    kill) nodes_kill "$@" ;;
    status) nodes_status "$@" ;;
    brokers) nodes_brokers "$@" ;;
    reset) nodes_reset "$@" ;;
    logs) nodes_logs "$@" ;;
    run-class) cmd_run_class "$@" ;;
    help | -h | --help) usage ;;
    *)
      printf 'kafka.sh: unknown command: %s\n\n' "${cmd}" >&2
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
