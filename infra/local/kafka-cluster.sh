# shellcheck shell=bash
# Sourced by kafka.sh: `kafka.sh start --nodes N`, a KRaft cluster of N nodes on this machine, and
# the per-node commands (start/stop/kill --node i, status, brokers, logs --node i).
#
# Every node is broker and controller in one JVM (combined mode, process.roles=broker,controller)
# with node.id = i; one controller.quorum.voters list names all N; all are formatted with one
# cluster id. Node i listens for clients on KAFKA_PORT + i - 1 and as controller on
# KAFKA_CONTROLLER_PORT + i - 1 (for N > 1 that base defaults to KAFKA_PORT + 100, so that the two
# ranges never overlap).
#
# State of a cluster (N > 1):
#   ${STATE_DIR}/cluster.env     NODES, KAFKA_HOST, KAFKA_PORT, KAFKA_CONTROLLER_PORT it was made with:
#                                later commands need no --nodes and keep its ports
#   ${STATE_DIR}/cluster.id      the cluster id every node was formatted with
#   ${STATE_DIR}/node-<i>/       node i: server.properties, data/, logs/server.log, kafka.out, kafka.pid
# N = 1 is the single broker of kafka.sh, unchanged: its files lie in ${STATE_DIR} itself, and no
# cluster.env is written.
#
# --secure is single-node only: each node would need its own certificate and the ACLs are granted
# through one broker, so `start --secure --nodes N` (N > 1) is refused.

CLUSTER_FILE="${STATE_DIR}/cluster.env"
# The cluster size of this state dir: 1 unless cluster.env says otherwise (nodes_load).
NODES=1
# Max heap per node of a cluster when KAFKA_HEAP_MAX is not set: three JVMs share a 2-core machine
# with the services and PostgreSQL.
CLUSTER_HEAP_MAX="512m"
# Default controller port base for N > 1, relative to KAFKA_PORT.
CLUSTER_CONTROLLER_OFFSET=100
# Seconds stop waits before SIGKILL when the quorum is already lost (cluster_stop_nodes).
NO_QUORUM_STOP_TIMEOUT=5

# Options of start/stop/kill/status/logs.
OPT_NODES=""
OPT_NODE=""
OPT_SECURE=0
OPT_FOLLOW=0

parse_node_opts() {
  local cmd="$1"
  shift
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --nodes)
        [[ "${cmd}" == start ]] || die "${cmd} takes no --nodes (the cluster size is kept in the state dir)"
        [[ $# -ge 2 ]] || die "--nodes needs a number"
        OPT_NODES="$2"; shift 2 ;;
      --nodes=*) [[ "${cmd}" == start ]] || die "${cmd} takes no --nodes"; OPT_NODES="${1#--nodes=}"; shift ;;
      --node)
        [[ $# -ge 2 ]] || die "--node needs a node number"
        OPT_NODE="$2"; shift 2 ;;
      --node=*) OPT_NODE="${1#--node=}"; shift ;;
      --secure)
        [[ "${cmd}" == start ]] || die "only start takes --secure"
        OPT_SECURE=1; shift ;;
      -f)
        [[ "${cmd}" == logs ]] || die "only logs takes -f"
        OPT_FOLLOW=1; shift ;;
      *) die "${cmd}: unknown argument '$1' (see $0 help)" ;;
    esac
  done
  if [[ -n "${OPT_NODES}" ]] && ! [[ "${OPT_NODES}" =~ ^[1-9][0-9]*$ ]]; then
    die "--nodes must be a number >= 1 (got '${OPT_NODES}')"
  fi
  if [[ -n "${OPT_NODE}" ]] && ! [[ "${OPT_NODE}" =~ ^[1-9][0-9]*$ ]]; then
    die "--node must be a node number >= 1 (got '${OPT_NODE}')"
  fi
  if [[ -n "${OPT_NODES}" && -n "${OPT_NODE}" ]]; then
    die "start --node i (re)starts one node of an existing cluster; it takes no --nodes"
  fi
  return 0
}

# NODES (and, for a cluster, its host and ports) from cluster.env; an explicit KAFKA_HOST,
# KAFKA_PORT or KAFKA_CONTROLLER_PORT that contradicts them is an error, not silently ignored.
nodes_load() {
  NODES=1
  [[ -f "${CLUSTER_FILE}" ]] || return 0
  local key value nodes="" host="" port="" cport=""
  while IFS='=' read -r key value; do
    case "${key}" in
      NODES) nodes="${value}" ;;
      KAFKA_HOST) host="${value}" ;;
      KAFKA_PORT) port="${value}" ;;
      KAFKA_CONTROLLER_PORT) cport="${value}" ;;
    esac
  done <"${CLUSTER_FILE}"
  [[ "${nodes}" =~ ^[1-9][0-9]*$ && "${port}" =~ ^[0-9]+$ && "${cport}" =~ ^[0-9]+$ && -n "${host}" ]] \
    || die "${CLUSTER_FILE} is damaged (expected NODES, KAFKA_HOST, KAFKA_PORT, KAFKA_CONTROLLER_PORT); reset the state dir"
  local var want
  for var in KAFKA_HOST KAFKA_PORT KAFKA_CONTROLLER_PORT; do
    case "${var}" in
      KAFKA_HOST) want="${KAFKA_HOST_ENV}"; value="${host}" ;;
      KAFKA_PORT) want="${KAFKA_PORT_ENV}"; value="${port}" ;;
      KAFKA_CONTROLLER_PORT) want="${KAFKA_CONTROLLER_PORT_ENV}"; value="${cport}" ;;
    esac
    if [[ -n "${want}" && "${want}" != "${value}" ]]; then
      die "the ${nodes}-node cluster in ${STATE_DIR} was made with ${var}=${value}, not ${want}: unset ${var}, or reset the state dir to change it"
    fi
  done
  NODES="${nodes}"
  KAFKA_HOST="${host}"
  KAFKA_PORT="${port}"
  KAFKA_CONTROLLER_PORT="${cport}"
  cluster_heap
}

# A cluster's nodes get CLUSTER_HEAP_MAX each, unless KAFKA_HEAP_MAX says otherwise.
cluster_heap() {
  # shellcheck disable=SC2034  # read by heap_opts in kafka.sh
  [[ -n "${KAFKA_HEAP_MAX_ENV}" ]] || KAFKA_HEAP_MAX="${CLUSTER_HEAP_MAX}"
}

# Point PROPS_FILE, DATA_DIR, LOGS_DIR, SERVER_LOG, OUT_FILE and PID_FILE (kafka.sh's helpers use
# them) at node i of the cluster; NODE_PORT and NODE_CONTROLLER_PORT are its two ports.
node_select() {
  NODE_ID="$1"
  NODE_DIR="${STATE_DIR}/node-${NODE_ID}"
  PROPS_FILE="${NODE_DIR}/server.properties"
  DATA_DIR="${NODE_DIR}/data"
  LOGS_DIR="${NODE_DIR}/logs"
  SERVER_LOG="${LOGS_DIR}/server.log"
  OUT_FILE="${NODE_DIR}/kafka.out"
  PID_FILE="${NODE_DIR}/kafka.pid"
  NODE_PORT=$((KAFKA_PORT + NODE_ID - 1))
  NODE_CONTROLLER_PORT=$((KAFKA_CONTROLLER_PORT + NODE_ID - 1))
}

# host:port of every node, comma-separated: the clients' bootstrap list.
bootstrap_list() {
  local i out=""
  for ((i = 1; i <= NODES; i++)); do
    out+="${out:+,}${KAFKA_HOST}:$((KAFKA_PORT + i - 1))"
  done
  printf '%s\n' "${out}"
}

check_node_arg() {
  ((OPT_NODE <= NODES)) || die "there is no node ${OPT_NODE}: the state dir ${STATE_DIR} holds ${NODES} node(s)"
}

# The ports of a new cluster: in range, no overlap between the client and controller ranges.
cluster_plan_ports() {
  local n="$1"
  if [[ -z "${KAFKA_CONTROLLER_PORT_ENV}" ]]; then
    KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + CLUSTER_CONTROLLER_OFFSET))
    log "KRaft controller ports ${KAFKA_CONTROLLER_PORT}-$((KAFKA_CONTROLLER_PORT + n - 1)) (KAFKA_CONTROLLER_PORT not set: KAFKA_PORT+${CLUSTER_CONTROLLER_OFFSET})"
  fi
  [[ "${KAFKA_PORT}" =~ ^[0-9]+$ ]] || die "KAFKA_PORT must be a port number (got '${KAFKA_PORT}')"
  [[ "${KAFKA_CONTROLLER_PORT}" =~ ^[0-9]+$ ]] || die "KAFKA_CONTROLLER_PORT must be a port number (got '${KAFKA_CONTROLLER_PORT}')"
  local p_last=$((KAFKA_PORT + n - 1)) c_last=$((KAFKA_CONTROLLER_PORT + n - 1))
  ((KAFKA_PORT >= 1 && p_last <= 65535)) || die "client ports ${KAFKA_PORT}-${p_last} are out of range: change KAFKA_PORT"
  ((KAFKA_CONTROLLER_PORT >= 1 && c_last <= 65535)) \
    || die "controller ports ${KAFKA_CONTROLLER_PORT}-${c_last} are out of range: change KAFKA_CONTROLLER_PORT"
  if ((KAFKA_CONTROLLER_PORT <= p_last && KAFKA_PORT <= c_last)); then
    die "the client ports ${KAFKA_PORT}-${p_last} (KAFKA_PORT + node - 1) and the controller ports ${KAFKA_CONTROLLER_PORT}-${c_last} (KAFKA_CONTROLLER_PORT + node - 1) of ${n} nodes overlap: change KAFKA_CONTROLLER_PORT (e.g. to $((KAFKA_PORT + CLUSTER_CONTROLLER_OFFSET))) or unset it"
  fi
}

# Both ports of the selected node must be free; the error names the variable to change.
check_node_ports_free() {
  local port what var
  for port in "${NODE_PORT}" "${NODE_CONTROLLER_PORT}"; do
    if [[ "${port}" == "${NODE_PORT}" ]]; then
      what="client port of node ${NODE_ID}, KAFKA_PORT+$((NODE_ID - 1))"; var=KAFKA_PORT
    else
      what="controller port of node ${NODE_ID}, KAFKA_CONTROLLER_PORT+$((NODE_ID - 1))"; var=KAFKA_CONTROLLER_PORT
    fi
    local host="${KAFKA_HOST}"
    [[ "${var}" == KAFKA_CONTROLLER_PORT ]] && host=127.0.0.1
    if port_open "${host}" "${port}"; then
      local who=""
      if command -v ss >/dev/null 2>&1; then
        who="$(ss -Hltnp "sport = :${port}" 2>/dev/null | head -n 3 || true)"
      fi
      die "port ${port} (${what}) on ${host} is already in use by another process${who:+:
${who}}
Stop that process, or choose another ${var} (for a new cluster: reset the state dir, or use another KAFKA_STATE_DIR)"
    fi
  done
}

# server.properties of the selected node. Written on every start, so that the script decides.
cluster_write_properties() {
  local i voters="" rf min_isr
  for ((i = 1; i <= NODES; i++)); do
    voters+="${voters:+,}${i}@127.0.0.1:$((KAFKA_CONTROLLER_PORT + i - 1))"
  done
  # three copies of everything, and a write needs two of them: one node may fail without losing
  # data or availability (fewer nodes: as many copies as there are nodes)
  if ((NODES >= 3)); then rf=3; min_isr=2; else rf="${NODES}"; min_isr=1; fi
  cat >"${PROPS_FILE}" <<EOF
# Generated by infra/local/kafka.sh on every start of this node; edit the script, not this file.
# Node ${NODE_ID} of a ${NODES}-node KRaft cluster: each node is broker and controller (combined mode),
# and the controllers form one quorum, of which a majority must be up.
process.roles=broker,controller
node.id=${NODE_ID}
controller.quorum.voters=${voters}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners=PLAINTEXT://${KAFKA_HOST}:${NODE_PORT},CONTROLLER://127.0.0.1:${NODE_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://${KAFKA_HOST}:${NODE_PORT}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT

log.dirs=${DATA_DIR}
num.partitions=3
# Replicated topics: ${rf} copies, an acks=all write needs ${min_isr} in sync.
default.replication.factor=${rf}
min.insync.replicas=${min_isr}
# The services create their topics (with KAFKA_REPLICATION_FACTOR); nothing appears by accident.
auto.create.topics.enable=false

# Consumer offsets and transaction state are replicated like the topics. With
# offsets.topic.replication.factor=${rf}, __consumer_offsets is created (at the first consumer group)
# only while ${rf} brokers are up.
offsets.topic.replication.factor=${rf}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=${rf}
transaction.state.log.min.isr=${min_isr}
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0

# Failure detection. A broker sends the active controller a heartbeat every second and is fenced
# when none arrived for 4 s (defaults 2 s and 9 s); a fenced broker leaves every ISR and its
# partitions get new leaders from the ISR. 4 heartbeats per session leave room for a GC pause.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
# The controller quorum itself (Kafka's defaults, stated because failover depends on them): a voter
# that heard nothing from the quorum leader for 2 s starts an election, which times out after 1 s
# and backs off at most 1 s. A killed active controller is replaced within about 2-4 s; the new one
# gives every broker a fresh heartbeat deadline, so a node that was both partition leader and
# active controller loses its leaderships 4 s (broker.session.timeout.ms) after that.
controller.quorum.fetch.timeout.ms=2000
controller.quorum.election.timeout.ms=1000
controller.quorum.election.backoff.max.ms=1000
# Only an in-sync replica may become leader: no acknowledged write is lost when a leader dies.
unclean.leader.election.enable=false
# A follower that is alive but stopped fetching leaves the ISR after this (a dead one leaves it
# when fenced, above). Kafka's default.
replica.lag.time.max.ms=30000

num.recovery.threads.per.data.dir=1
EOF
}

# Format the selected node's storage with the cluster id, unless it is formatted already.
cluster_format_node() {
  local cluster_id="$1"
  [[ -f "${DATA_DIR}/meta.properties" ]] && return 0
  java_tool kafka.tools.StorageTool format -t "${cluster_id}" -c "${PROPS_FILE}" --ignore-formatted >/dev/null \
    || die "kafka-storage format failed for ${PROPS_FILE}"
}

cluster_cluster_id() {
  local cluster_id
  if [[ -s "${STATE_DIR}/cluster.id" ]]; then
    cluster_id="$(cat "${STATE_DIR}/cluster.id")"
  else
    cluster_id="$(java_tool kafka.tools.StorageTool random-uuid | tail -n 1)"
    [[ -n "${cluster_id}" ]] || die "StorageTool random-uuid returned nothing"
    printf '%s\n' "${cluster_id}" >"${STATE_DIR}/cluster.id"
  fi
  printf '%s\n' "${cluster_id}"
}

# SIGTERM the given nodes at once, wait for all (SIGKILL after STOP_TIMEOUT), one line per node.
# Without a quorum (fewer than a majority of the nodes run) a broker's controlled shutdown waits
# for a controller that cannot answer (up to 5 minutes): then SIGKILL comes after
# NO_QUORUM_STOP_TIMEOUT instead.
cluster_stop_nodes() {
  local i pid pids=() ids=() up=0 timeout="${STOP_TIMEOUT}"
  for ((i = 1; i <= NODES; i++)); do
    node_select "${i}"
    running_pid >/dev/null && up=$((up + 1))
  done
  if ((up > 0 && up < NODES / 2 + 1)); then
    timeout="${NO_QUORUM_STOP_TIMEOUT}"
    log "only ${up} of ${NODES} nodes run: no quorum, so no controlled shutdown; SIGKILL after ${timeout}s"
  fi
  for i in "$@"; do
    node_select "${i}"
    if pid="$(running_pid)"; then
      kill -TERM "${pid}" 2>/dev/null || true
      pids+=("${pid}"); ids+=("${i}")
    else
      rm -f "${PID_FILE}"
      echo "Kafka node ${i} not running (state ${NODE_DIR})"
    fi
  done
  local deadline=$((SECONDS + timeout)) k alive
  while :; do
    alive=0
    for k in "${!pids[@]}"; do pid_alive "${pids[k]}" && alive=1; done
    ((alive && SECONDS < deadline)) || break
    sleep 0.2
  done
  for k in "${!pids[@]}"; do
    if pid_alive "${pids[k]}"; then
      log "node ${ids[k]} (pid ${pids[k]}) still alive after ${timeout}s; sending SIGKILL"
      kill -KILL "${pids[k]}" 2>/dev/null || true
      wait_gone "${pids[k]}" 5
    fi
    node_select "${ids[k]}"
    rm -f "${PID_FILE}"
    echo "Kafka node ${ids[k]} stopped (pid ${pids[k]}, state ${NODE_DIR})"
  done
}

# Is pid $1 a live process? A zombie is not: it has exited and released its ports, only its
# parent (init, for a broker started by an earlier kafka.sh) has not reaped it yet, which can take
# a second or more.
pid_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z ]]
}

# Wait up to $2 seconds for pid $1 to be gone.
wait_gone() {
  local pid="$1" deadline=$((SECONDS + $2))
  while pid_alive "${pid}" && ((SECONDS < deadline)); do
    sleep 0.05
  done
  ! pid_alive "${pid}"
}

# Start the given nodes of the cluster at once (the quorum needs a majority before any of them is
# ready) and wait until every one is ready. Nodes already running are left alone.
cluster_start_nodes() {
  cmd_fetch
  require_java
  [[ "${KAFKA_READY_TIMEOUT}" =~ ^[0-9]+$ ]] || die "KAFKA_READY_TIMEOUT must be a number of seconds"
  local i pid todo=()
  for i in "$@"; do
    node_select "${i}"
    if pid="$(running_pid)"; then
      echo "Kafka node ${i} already running at ${KAFKA_HOST}:${NODE_PORT} (pid ${pid})"
    else
      rm -f "${PID_FILE}"
      todo+=("${i}")
    fi
  done
  ((${#todo[@]})) || return 0
  for i in "${todo[@]}"; do
    node_select "${i}"
    check_node_ports_free
  done

  local cluster_id fmt_pids=() unformatted=()
  cluster_id="$(cluster_cluster_id)"
  for i in "${todo[@]}"; do
    node_select "${i}"
    mkdir -p "${DATA_DIR}" "${LOGS_DIR}"
    cluster_write_properties
    [[ -f "${DATA_DIR}/meta.properties" ]] || unformatted+=("${i}")
  done
  if ((${#unformatted[@]})); then
    log "formatting KRaft storage of node(s) ${unformatted[*]} in ${STATE_DIR} (cluster id ${cluster_id})"
    # one JVM per node, concurrently
    for i in "${unformatted[@]}"; do
      node_select "${i}"
      (cluster_format_node "${cluster_id}") &
      fmt_pids+=($!)
    done
    local p failed=0
    for p in "${fmt_pids[@]}"; do wait "${p}" || failed=1; done
    ((failed == 0)) || die "formatting the storage failed (see above)"
  fi

  local t0 started=() started_pids=()
  t0="$(date +%s%N)"
  for i in "${todo[@]}"; do
    node_select "${i}"
    launch_broker
    started+=("${i}"); started_pids+=("${LAUNCHED_PID}")
  done

  local deadline=$((SECONDS + KAFKA_READY_TIMEOUT)) pending=("${!started[@]}") next k ms
  while ((${#pending[@]})); do
    next=()
    for k in "${pending[@]}"; do
      i="${started[k]}"; pid="${started_pids[k]}"
      node_select "${i}"
      if ! kill -0 "${pid}" 2>/dev/null; then
        rm -f "${PID_FILE}"
        print_failure_logs
        cluster_abort_start "${i}" "${started[@]}"
        if grep -qsF "Address already in use" "${SERVER_LOG}" "${OUT_FILE}"; then
          die "Kafka node ${i} exited during startup: port ${NODE_PORT} (KAFKA_PORT+$((i - 1))) or ${NODE_CONTROLLER_PORT} (KAFKA_CONTROLLER_PORT+$((i - 1))) is already in use"
        fi
        die "Kafka node ${i} exited during startup (state ${NODE_DIR})"
      fi
      if [[ -f "${SERVER_LOG}" ]] && grep -qF "Kafka Server started" "${SERVER_LOG}" \
          && port_open "${KAFKA_HOST}" "${NODE_PORT}"; then
        ms=$((($(date +%s%N) - t0) / 1000000))
        printf 'Kafka %s node %s ready at %s:%s in %d.%01ds (pid %s, log %s)\n' \
          "${KAFKA_VERSION}" "${i}" "${KAFKA_HOST}" "${NODE_PORT}" \
          $((ms / 1000)) $((ms % 1000 / 100)) "${pid}" "${SERVER_LOG}"
      else
        next+=("${k}")
      fi
    done
    pending=(${next[@]+"${next[@]}"})
    ((${#pending[@]})) || break
    if ((SECONDS >= deadline)); then
      for k in "${pending[@]}"; do
        node_select "${started[k]}"
        print_failure_logs
      done
      log "not ready after ${KAFKA_READY_TIMEOUT}s; stopping the nodes this start launched"
      cluster_stop_nodes "${started[@]}" >&2 || true
      die "Kafka node(s) $(for k in "${pending[@]}"; do printf '%s ' "${started[k]}"; done)did not become ready within ${KAFKA_READY_TIMEOUT}s (KAFKA_READY_TIMEOUT)"
    fi
    sleep 0.2
  done
}

# A node died during start: stop the others this start launched (their quorum would be short).
cluster_abort_start() {
  local failed="$1" i others=()
  shift
  for i in "$@"; do [[ "${i}" == "${failed}" ]] || others+=("${i}"); done
  if ((${#others[@]})); then
    log "stopping the other node(s) this start launched: ${others[*]}"
    cluster_stop_nodes "${others[@]}" >&2 || true
  fi
  node_select "${failed}"
}

# ----------------------------------------------------------------------------
# Commands (kafka.sh main dispatches here; N = 1 goes on to the single-broker commands)
# ----------------------------------------------------------------------------
nodes_start() {
  parse_node_opts start "$@"
  nodes_load
  local -a secure_arg=()
  ((OPT_SECURE)) && secure_arg=(--secure)

  if [[ -n "${OPT_NODE}" ]]; then
    check_node_arg
    if ((NODES == 1)); then cmd_start ${secure_arg[@]+"${secure_arg[@]}"}; return; fi
    ((OPT_SECURE)) && die "--secure is for a single broker, not a cluster"
    cluster_start_nodes "${OPT_NODE}"
    return
  fi

  local n="${OPT_NODES:-${NODES}}"
  if [[ -f "${CLUSTER_FILE}" ]] && ((n != NODES)); then
    die "${STATE_DIR} holds a ${NODES}-node cluster; reset it (kafka.sh reset) or use another KAFKA_STATE_DIR to start ${n} node(s)"
  fi
  if ((n == 1)); then
    cmd_start ${secure_arg[@]+"${secure_arg[@]}"}
    return
  fi
  ((OPT_SECURE)) && die "--secure with --nodes ${n} is not supported: a secured broker is single-node (start --secure without --nodes)"

  if [[ ! -f "${CLUSTER_FILE}" ]]; then
    # A new cluster: the state dir must not be a single broker's.
    if [[ -f "${STATE_DIR}/server.properties" || -e "${STATE_DIR}/data" || -f "${SECURE_MARK}" ]]; then
      local how="reset it (kafka.sh reset deletes its topics)"
      if running_pid >/dev/null; then how="stop and reset it (kafka.sh reset deletes its topics)"; fi
      die "${STATE_DIR} holds a single broker's state; ${how}, or use another KAFKA_STATE_DIR or KAFKA_PORT for the cluster"
    fi
    cluster_plan_ports "${n}"
    cluster_heap
    NODES="${n}"
    # every port free before the state dir remembers them
    local i
    for ((i = 1; i <= NODES; i++)); do
      node_select "${i}"
      check_node_ports_free
    done
    mkdir -p "${STATE_DIR}"
    printf 'NODES=%s\nKAFKA_HOST=%s\nKAFKA_PORT=%s\nKAFKA_CONTROLLER_PORT=%s\n' \
      "${NODES}" "${KAFKA_HOST}" "${KAFKA_PORT}" "${KAFKA_CONTROLLER_PORT}" >"${CLUSTER_FILE}"
  fi

  local i all=() running=0
  for ((i = 1; i <= NODES; i++)); do
    all+=("${i}")
    node_select "${i}"
    running_pid >/dev/null && running=$((running + 1))
  done
  if ((running == NODES)); then
    echo "Kafka cluster of ${NODES} nodes already running at $(bootstrap_list) (state ${STATE_DIR})"
    return 0
  fi
  cluster_start_nodes "${all[@]}"
  echo "Kafka cluster of ${NODES} nodes ready at $(bootstrap_list) (state ${STATE_DIR})"
}

nodes_stop() {
  parse_node_opts stop "$@"
  nodes_load
  if [[ -n "${OPT_NODE}" ]]; then
    check_node_arg
    if ((NODES == 1)); then cmd_stop; return; fi
    cluster_stop_nodes "${OPT_NODE}"
    return
  fi
  if ((NODES == 1)); then cmd_stop; return; fi
  cluster_stop_all
}

cluster_stop_all() {
  local i all=()
  for ((i = 1; i <= NODES; i++)); do all+=("${i}"); done
  cluster_stop_nodes "${all[@]}"
}

# SIGKILL: the node gets no chance to hand over its leaderships (a crash, for failover tests).
nodes_kill() {
  parse_node_opts kill "$@"
  nodes_load
  local i ids=() pid what="Kafka"
  if [[ -n "${OPT_NODE}" ]]; then
    check_node_arg
    ids=("${OPT_NODE}")
  else
    for ((i = 1; i <= NODES; i++)); do ids+=("${i}"); done
  fi
  for i in "${ids[@]}"; do
    if ((NODES > 1)); then
      node_select "${i}"
      what="Kafka node ${i}"
    fi
    if ! pid="$(running_pid)"; then
      rm -f "${PID_FILE}"
      echo "${what} not running (state ${STATE_DIR})"
      continue
    fi
    kill -KILL "${pid}" 2>/dev/null || true
    wait_gone "${pid}" 10 || die "${what} (pid ${pid}) is still there 10s after SIGKILL"
    rm -f "${PID_FILE}"
    echo "${what} killed (pid ${pid})"
  done
}

nodes_status() {
  parse_node_opts status "$@"
  nodes_load
  if ((NODES == 1)); then cmd_status; return; fi
  local i pid up=0 ids=()
  if [[ -n "${OPT_NODE}" ]]; then check_node_arg; ids=("${OPT_NODE}"); else
    for ((i = 1; i <= NODES; i++)); do ids+=("${i}"); done
  fi
  for i in "${ids[@]}"; do
    node_select "${i}"
    if pid="$(running_pid)"; then
      echo "Kafka node ${i} running at ${KAFKA_HOST}:${NODE_PORT} (pid ${pid}, controller 127.0.0.1:${NODE_CONTROLLER_PORT}, state ${NODE_DIR})"
      up=$((up + 1))
    else
      echo "Kafka node ${i} not running (port ${NODE_PORT}, state ${NODE_DIR})"
    fi
  done
  ((up == ${#ids[@]}))
}

nodes_brokers() {
  parse_node_opts brokers "$@"
  nodes_load
  [[ -z "${OPT_NODE}" ]] || die "brokers takes no --node"
  bootstrap_list
}

nodes_logs() {
  parse_node_opts logs "$@"
  nodes_load
  local follow=()
  ((OPT_FOLLOW)) && follow=(-f)
  if [[ -n "${OPT_NODE}" ]]; then check_node_arg; fi
  if ((NODES == 1)); then cmd_logs ${follow[@]+"${follow[@]}"}; return; fi
  local i files=()
  if [[ -n "${OPT_NODE}" ]]; then
    node_select "${OPT_NODE}"
    files=("${SERVER_LOG}")
  else
    for ((i = 1; i <= NODES; i++)); do
      node_select "${i}"
      [[ -f "${SERVER_LOG}" ]] && files+=("${SERVER_LOG}")
    done
  fi
  if ((${#files[@]} == 0)) || [[ ! -f "${files[0]}" ]]; then die "no log yet in ${STATE_DIR}"; fi
  if ((OPT_FOLLOW)); then exec tail -n 100 -F "${files[@]}"; fi
  tail -n 100 "${files[@]}"
}

nodes_reset() {
  parse_node_opts reset "$@"
  [[ -z "${OPT_NODE}" ]] || die "reset deletes the whole state dir; it takes no --node"
  nodes_load
  if ((NODES == 1)); then cmd_reset; return; fi
  cluster_stop_all
  case "${STATE_DIR}" in
    "" | "/" | "${HOME}" | "${HOME}/" | "${TCC_CACHE_DIR}" | "${CACHE_DIR}")
      die "refusing to delete state dir '${STATE_DIR}'" ;;
  esac
  rm -rf "${STATE_DIR}"
  echo "Deleted ${STATE_DIR}"
}
