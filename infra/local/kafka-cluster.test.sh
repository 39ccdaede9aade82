#!/usr/bin/env bash
# Runs infra/local/kafka.sh for real and checks what others rely on:
#   - a 3-node cluster: start --nodes 3, status, brokers, a topic with 3 replicas and
#     min.insync.replicas 2, SIGKILL of a partition leader (a plain node, then the active
#     controller) with the time until its partitions have new leaders, produce/consume through the
#     survivors, start --node bringing the node back into the ISR, stop, status after it, reset;
#   - the single broker (N = 1) as before: start, status, brokers, its state layout, stop;
#   - the refusals: overlapping port ranges, --secure with --nodes, a size other than the state
#     dir's.
# Its brokers use ports of their own (KAFKA_TEST_PORT, default 29092: the cluster on 29092-29094
# and 29192-29194, the single broker on 29292/29293) and state under /tmp, deleted at the end;
# whatever it started is killed on exit. Exit status 0 only if every check passed; the last line
# is "N passed, N failed". Takes 100-120 s on 2 cores.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K="${HERE}/kafka.sh"
BASE="${KAFKA_TEST_PORT:-29092}"
CLUSTER_PORT="${BASE}"
CLUSTER_CONTROLLER_PORT=$((BASE + 100))
SINGLE_PORT=$((BASE + 200))
SINGLE_CONTROLLER_PORT=$((BASE + 201))
TOPIC="cluster-test"
FAILOVER_TIMEOUT=60
ISR_TIMEOUT=60

# Only this test's settings reach kafka.sh.
unset KAFKA_HOST KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_STATE_DIR KAFKA_HEAP_MAX KAFKA_JVM_OPTS KAFKA_BROKERS
WORK="$(mktemp -d /tmp/kafka-cluster-test.XXXXXX)"
CLUSTER_STATE="${WORK}/cluster"
SINGLE_STATE="${WORK}/single"

PASSED=0
FAILED=0
T_START=${SECONDS}

cluster() { KAFKA_PORT="${CLUSTER_PORT}" KAFKA_CONTROLLER_PORT="${CLUSTER_CONTROLLER_PORT}" KAFKA_STATE_DIR="${CLUSTER_STATE}" "${K}" "$@"; }
single() { KAFKA_PORT="${SINGLE_PORT}" KAFKA_CONTROLLER_PORT="${SINGLE_CONTROLLER_PORT}" KAFKA_STATE_DIR="${SINGLE_STATE}" "${K}" "$@"; }

# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
  local dir
  for dir in "${CLUSTER_STATE}" "${SINGLE_STATE}"; do
    if [[ -d "${dir}" ]]; then KAFKA_STATE_DIR="${dir}" "${K}" kill >/dev/null 2>&1 || true; fi
  done
  rm -rf "${WORK}"
}
trap cleanup EXIT

finish() {
  printf '\n# %ss\n%d passed, %d failed\n' "$((SECONDS - T_START))" "${PASSED}" "${FAILED}"
  exit $((FAILED == 0 ? 0 : 1))
}
ok() { PASSED=$((PASSED + 1)); printf 'ok - %s\n' "$*"; }
# A failed check ends the test: what follows builds on it.
fail() {
  FAILED=$((FAILED + 1))
  printf 'not ok - %s\n' "$1"
  [[ -n "${2:-}" ]] && printf '%s\n' "$2" | sed 's/^/#   /'
  finish
}
now_ms() { date +%s%3N; }
secs() { printf '%d.%01d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

topics() { cluster run-class org.apache.kafka.tools.TopicCommand --bootstrap-server "${BOOTSTRAP}" "$@" 2>&1; }
# TOPIC's description into DESC (one JVM; the partitions are read from it).
describe() { DESC="$(topics --describe --topic "${TOPIC}")"; }
# "<leader> <replicas> <isr>" of one partition in DESC ("none" while it has no leader).
partition_state() {
  awk -F'\t' -v p="Partition: $1" '
    { leader = ""; reps = ""; isr = ""; hit = 0
      for (i = 1; i <= NF; i++) {
        if ($i == p) hit = 1
        if ($i ~ /^Leader: /) leader = substr($i, 9)
        if ($i ~ /^Replicas: /) reps = substr($i, 11)
        if ($i ~ /^Isr: /) isr = substr($i, 6)
      }
      if (hit) { print leader, reps, isr; exit }
    }' <<<"${DESC}"
}
active_controller() {
  cluster run-class org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "${BOOTSTRAP}" describe --status 2>/dev/null \
    | awk '$1 == "LeaderId:" { print $2 }'
}
produce() {  # produce <first> <last>: messages m<first>..m<last>, acks=all
  seq "$1" "$2" | sed 's/^/m/' | cluster run-class kafka.tools.ConsoleProducer --bootstrap-server "${BOOTSTRAP}" \
    --topic "${TOPIC}" --sync --producer-property acks=all 2>&1
}
consume() {  # consume <group> <count>: sorted messages read from the beginning
  cluster run-class org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "${BOOTSTRAP}" \
    --topic "${TOPIC}" --group "$1" --from-beginning --max-messages "$2" --timeout-ms 30000 2>/dev/null | sort
}
expected_messages() { seq "$1" "$2" | sed 's/^/m/' | sort; }

# Epoch ms of the first "Fencing broker <id>" line logged by a controller at or after <since ms>.
fenced_at() {
  local id="$1" since="$2" line ts ms best=""
  while IFS= read -r line; do
    ts="$(sed -E -n 's/^\[([0-9-]+ [0-9:]+),([0-9]+)\].*/\1.\2/p' <<<"${line}")"
    [[ -n "${ts}" ]] || continue
    ms="$(date -d "${ts}" +%s%3N)"
    if ((ms >= since - 1000)) && [[ -z "${best}" || ${ms} -lt ${best} ]]; then best="${ms}"; fi
  done < <(cat "${CLUSTER_STATE}"/node-*/logs/server.log 2>/dev/null | grep -F "Fencing broker ${id} because its session has timed out" || true)
  printf '%s\n' "${best}"
}

# Kill the leader of <partition>, wait until describe shows another leader, report how long that
# took, check the ISR lost the node; sets VICTIM and KILLED_AT.
kill_leader_and_measure() {
  local partition="$1" why="$2" state leader t_prev t_seen polls=0 fenced
  describe
  read -r leader _ _ <<<"$(partition_state "${partition}")"
  [[ "${leader}" =~ ^[0-9]+$ ]] || fail "partition ${partition} has a leader before the kill" "${leader}"
  VICTIM="${leader}"
  local out
  # times count from just before the kill: an upper bound
  KILLED_AT="$(now_ms)"
  out="$(cluster kill --node "${VICTIM}" 2>&1)" || fail "kill --node ${VICTIM}" "${out}"
  [[ "${out}" == "Kafka node ${VICTIM} killed (pid "* ]] || fail "kill --node ${VICTIM} says it killed the node" "${out}"
  if pgrep -f "${CLUSTER_STATE}/node-${VICTIM}/server.properties" >/dev/null; then
    fail "kill --node ${VICTIM} returns only after the process is gone"
  fi
  ok "kill --node ${VICTIM} (${why}, leader of partition ${partition}) returned in $(secs $(($(now_ms) - KILLED_AT)))s, its process gone"

  t_prev=0
  while :; do
    describe || true
    state="$(partition_state "${partition}")"
    t_seen=$(($(now_ms) - KILLED_AT))
    polls=$((polls + 1))
    read -r leader _ _ <<<"${state}"
    if [[ "${leader}" =~ ^[0-9]+$ && "${leader}" != "${VICTIM}" ]]; then break; fi
    ((t_seen < FAILOVER_TIMEOUT * 1000)) || fail "partition ${partition} gets a new leader within ${FAILOVER_TIMEOUT}s of the kill" "last: ${state}"
    t_prev="${t_seen}"
  done
  fenced="$(fenced_at "${VICTIM}" "${KILLED_AT}")"
  local fence_note="no fencing line found in the controllers' logs"
  [[ -n "${fenced}" ]] && fence_note="the controller fenced node ${VICTIM} $(secs $((fenced - KILLED_AT)))s after the kill"
  ok "FAILOVER (${why}): partition ${partition} led by node ${leader} after killing node ${VICTIM}: describe showed it $(secs "${t_seen}")s after the kill (the poll before, at $(secs "${t_prev}")s, did not; ${polls} polls); ${fence_note}"
  FAILOVER_REPORT+=("${why}: new leader seen by describe after $(secs "${t_seen}")s (previous poll $(secs "${t_prev}")s); ${fence_note}")

  local p isr
  for p in 0 1 2; do
    read -r leader _ isr <<<"$(partition_state "${p}")"
    [[ ",${isr}," != *",${VICTIM},"* && "${leader}" != "${VICTIM}" ]] \
      || fail "node ${VICTIM} left the ISR of partition ${p}" "leader ${leader}, isr ${isr}"
    [[ "$(tr ',' '\n' <<<"${isr}" | grep -c .)" -ge 2 ]] || fail "partition ${p} keeps 2 in-sync replicas" "isr ${isr}"
  done
  ok "node ${VICTIM} is out of every ISR; each partition keeps 2 in-sync replicas (min.insync.replicas)"
}

# start --node <id> and wait until it is back in the ISR of every partition.
restart_and_rejoin() {
  local id="$1" out t0 p isr done_all
  t0="$(now_ms)"
  out="$(cluster start --node "${id}" 2>&1)" || fail "start --node ${id}" "${out}"
  [[ "${out}" == *"node ${id} ready at 127.0.0.1:$((CLUSTER_PORT + id - 1))"* ]] || fail "start --node ${id} reports the node ready" "${out}"
  ok "start --node ${id}: ready after $(secs $(($(now_ms) - t0)))s"
  while :; do
    done_all=1
    describe || true
    for p in 0 1 2; do
      read -r _ _ isr <<<"$(partition_state "${p}")"
      [[ ",${isr}," == *",${id},"* ]] || done_all=0
    done
    ((done_all)) && break
    (($(now_ms) - t0 < ISR_TIMEOUT * 1000)) || fail "node ${id} rejoins the ISR of every partition within ${ISR_TIMEOUT}s" "${DESC}"
  done
  ok "node ${id} is back in the ISR of every partition $(secs $(($(now_ms) - t0)))s after start --node"
}

FAILOVER_REPORT=()
echo "# state under ${WORK}; cluster ports ${CLUSTER_PORT}-$((CLUSTER_PORT + 2)) and ${CLUSTER_CONTROLLER_PORT}-$((CLUSTER_CONTROLLER_PORT + 2)), single broker ${SINGLE_PORT}/${SINGLE_CONTROLLER_PORT}"

# --- refusals, before anything runs -----------------------------------------------------------
out="$(KAFKA_PORT="${CLUSTER_PORT}" KAFKA_CONTROLLER_PORT=$((CLUSTER_PORT + 1)) KAFKA_STATE_DIR="${WORK}/overlap" "${K}" start --nodes 3 2>&1)" \
  && fail "overlapping client and controller ports are refused" "${out}"
[[ "${out}" == *"overlap: change KAFKA_CONTROLLER_PORT"* ]] || fail "the overlap error names KAFKA_CONTROLLER_PORT" "${out}"
[[ ! -e "${WORK}/overlap/cluster.env" ]] || fail "a refused start remembers nothing"
ok "start --nodes 3 with KAFKA_CONTROLLER_PORT inside the client range is refused, naming KAFKA_CONTROLLER_PORT"
out="$(cluster start --nodes 3 --secure 2>&1)" && fail "--secure with --nodes 3 is refused" "${out}"
[[ "${out}" == *"--secure with --nodes 3 is not supported"* ]] || fail "the --secure error says why" "${out}"
ok "start --nodes 3 --secure is refused with a clear error"

# --- the cluster ------------------------------------------------------------------------------
t0="$(now_ms)"
# KAFKA_JVM_OPTS reaches every node's JVM (the failover run passes C1-only compilation this way)
out="$(KAFKA_JVM_OPTS="-XX:TieredStopAtLevel=1" cluster start --nodes 3 2>&1)" || fail "start --nodes 3" "${out}"
for i in 1 2 3; do
  [[ "${out}" == *"node ${i} ready at 127.0.0.1:$((CLUSTER_PORT + i - 1))"* ]] || fail "start --nodes 3 reports node ${i} ready" "${out}"
done
ok "start --nodes 3: every node ready after $(secs $(($(now_ms) - t0)))s"

out="$(cluster status 2>&1)" || fail "status exits 0 while all nodes run" "${out}"
[[ "$(grep -c ' running at ' <<<"${out}")" == 3 ]] || fail "status prints one running line per node" "${out}"
ok "status: exit 0, one line per node"

BOOTSTRAP="$(KAFKA_STATE_DIR="${CLUSTER_STATE}" "${K}" brokers)"
[[ "${BOOTSTRAP}" == "127.0.0.1:${CLUSTER_PORT},127.0.0.1:$((CLUSTER_PORT + 1)),127.0.0.1:$((CLUSTER_PORT + 2))" ]] \
  || fail "brokers prints the three nodes" "${BOOTSTRAP}"
ok "brokers (no ports given, read from the state dir): ${BOOTSTRAP}"

for i in 1 2 3; do
  grep -qx "node.id=${i}" "${CLUSTER_STATE}/node-${i}/server.properties" || fail "node ${i} has node.id=${i}"
  grep -qx "controller.quorum.voters=1@127.0.0.1:${CLUSTER_CONTROLLER_PORT},2@127.0.0.1:$((CLUSTER_CONTROLLER_PORT + 1)),3@127.0.0.1:$((CLUSTER_CONTROLLER_PORT + 2))" \
    "${CLUSTER_STATE}/node-${i}/server.properties" || fail "node ${i} names all three voters"
  pid="$(cat "${CLUSTER_STATE}/node-${i}/kafka.pid")"
  tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -q -- '-Xmx512m ' || fail "node ${i} runs with the cluster's default heap, -Xmx512m"
  tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -q -- ' -XX:TieredStopAtLevel=1 ' || fail "node ${i} runs with KAFKA_JVM_OPTS"
done
ok "each node: node.id=i, the same three voters, -Xmx512m, KAFKA_JVM_OPTS"

out="$(cluster start 2>&1)" || fail "start on a running cluster exits 0" "${out}"
[[ "${out}" == *"already running"* ]] || fail "start on a running cluster says it is already running" "${out}"
ok "start (no --nodes) on the running cluster: exit 0, already running"
out="$(cluster start --nodes 1 2>&1)" && fail "start --nodes 1 on a 3-node state dir is refused" "${out}"
ok "start --nodes 1 on the 3-node state dir is refused"

out="$(topics --create --topic "${TOPIC}" --partitions 3 --replication-factor 3)" || fail "create a topic with 3 replicas" "${out}"
describe
grep -q "ReplicationFactor: 3" <<<"${DESC}" || fail "the topic has replication factor 3" "${DESC}"
grep -q "min.insync.replicas=2" <<<"${DESC}" || fail "the topic has min.insync.replicas=2" "${DESC}"
for p in 0 1 2; do
  read -r leader reps isr <<<"$(partition_state "${p}")"
  [[ "$(tr ',' '\n' <<<"${reps}" | sort | tr '\n' ' ')" == "1 2 3 " ]] || fail "partition ${p} has replicas on nodes 1, 2, 3" "${reps}"
  [[ "$(tr ',' '\n' <<<"${isr}" | sort | tr '\n' ' ')" == "1 2 3 " ]] || fail "partition ${p} has all 3 replicas in sync" "${isr}"
done
ok "topic ${TOPIC}: 3 partitions, 3 replicas each, all in sync, min.insync.replicas=2"

out="$(produce 1 10)" || fail "produce 10 messages (acks=all)" "${out}"
got="$(consume before-kill 10)"
[[ "${got}" == "$(expected_messages 1 10)" ]] || fail "consume the 10 messages" "${got}"
desc="$(topics --describe --topic __consumer_offsets | head -n 1)"
grep -q "ReplicationFactor: 3" <<<"${desc}" || fail "__consumer_offsets has 3 replicas" "${desc}"
ok "produce/consume 10 messages with all nodes up; __consumer_offsets has 3 replicas"

# A partition led by a node that is not the active controller: the broker's failure alone.
controller="$(active_controller)"
[[ "${controller}" =~ ^[1-3]$ ]] || fail "the quorum has an active controller" "${controller}"
plain_partition=""
describe
for p in 0 1 2; do
  read -r leader _ _ <<<"$(partition_state "${p}")"
  if [[ "${leader}" != "${controller}" ]]; then plain_partition="${p}"; break; fi
done
[[ -n "${plain_partition}" ]] || fail "some partition is led by a node other than the active controller (${controller})"
kill_leader_and_measure "${plain_partition}" "a node that is not the active controller"

out="$(cluster status 2>&1)" && fail "status exits 1 while a node is down" "${out}"
grep -q "node ${VICTIM} not running" <<<"${out}" || fail "status shows node ${VICTIM} not running" "${out}"
ok "status: exit 1, node ${VICTIM} not running"

out="$(produce 11 20)" || fail "produce 10 more messages through the two survivors" "${out}"
got="$(consume after-kill 20)"
[[ "${got}" == "$(expected_messages 1 20)" ]] || fail "a new group reads all 20 messages from the survivors" "${got}"
ok "produce (acks=all) and consume 20 messages through the 2 survivors"

restart_and_rejoin "${VICTIM}"

# The node that is the active controller and leads a partition: the quorum elects a new
# controller first, which then fences the node.
controller="$(active_controller)"
[[ "${controller}" =~ ^[1-3]$ ]] || fail "the quorum has an active controller" "${controller}"
ctl_partition=""
describe
for p in 0 1 2; do
  read -r leader _ _ <<<"$(partition_state "${p}")"
  if [[ "${leader}" == "${controller}" ]]; then ctl_partition="${p}"; break; fi
done
if [[ -n "${ctl_partition}" ]]; then
  kill_leader_and_measure "${ctl_partition}" "the active controller"
  new_controller="$(active_controller)"
  [[ "${new_controller}" =~ ^[1-3]$ && "${new_controller}" != "${VICTIM}" ]] \
    || fail "another node became the active controller" "${new_controller}"
  ok "node ${new_controller} is the active controller now"
  out="$(produce 21 30)" || fail "produce 10 more messages after the controller's death" "${out}"
  got="$(consume after-controller-kill 30)"
  [[ "${got}" == "$(expected_messages 1 30)" ]] || fail "a new group reads all 30 messages" "${got}"
  ok "produce and consume 30 messages through the 2 survivors"
  restart_and_rejoin "${VICTIM}"
else
  ok "# SKIP the active controller (node ${controller}) leads no partition of ${TOPIC}: no second failover"
fi

out="$(KAFKA_STATE_DIR="${CLUSTER_STATE}" "${K}" logs --node 1 2>&1)" || fail "logs --node 1" "${out}"
if [[ -z "${out}" ]] || ! grep -qxF -- "$(head -n 1 <<<"${out}")" "${CLUSTER_STATE}/node-1/logs/server.log"; then
  fail "logs --node 1 prints node 1's log" "${out}"
fi
ok "logs --node 1 prints node 1's log"

t0="$(now_ms)"
out="$(cluster stop 2>&1)" || fail "stop" "${out}"
[[ "$(grep -c '^Kafka node [1-3] stopped' <<<"${out}")" == 3 ]] || fail "stop stops all three nodes" "${out}"
ok "stop: all three nodes stopped in $(secs $(($(now_ms) - t0)))s"
out="$(cluster status 2>&1)" && fail "status exits 1 after stop" "${out}"
[[ "$(grep -c 'not running' <<<"${out}")" == 3 ]] || fail "status shows three nodes not running" "${out}"
ok "status after stop: exit 1, three nodes not running"
out="$(KAFKA_STATE_DIR="${CLUSTER_STATE}" "${K}" reset 2>&1)" || fail "reset" "${out}"
[[ ! -e "${CLUSTER_STATE}" ]] || fail "reset deletes the cluster's state dir"
ok "reset deletes the cluster's state"

# --- the single broker, as before ----------------------------------------------------------------
t0="$(now_ms)"
out="$(single start 2>&1)" || fail "start (single broker)" "${out}"
[[ "${out}" == *"Kafka "*" ready at 127.0.0.1:${SINGLE_PORT} in "* ]] || fail "start reports the single broker ready" "${out}"
ok "start (N = 1): ready after $(secs $(($(now_ms) - t0)))s"
for f in server.properties data/meta.properties kafka.pid logs/server.log cluster.id; do
  [[ -e "${SINGLE_STATE}/${f}" ]] || fail "the single broker keeps ${f} in the state dir itself"
done
[[ ! -e "${SINGLE_STATE}/cluster.env" && ! -e "${SINGLE_STATE}/node-1" ]] || fail "the single broker has no cluster files"
if ! grep -qx "controller.quorum.voters=1@127.0.0.1:${SINGLE_CONTROLLER_PORT}" "${SINGLE_STATE}/server.properties" \
    || ! grep -qx "default.replication.factor=1" "${SINGLE_STATE}/server.properties"; then
  fail "the single broker keeps its settings (one voter, replication factor 1)"
fi
tr '\0' ' ' <"/proc/$(cat "${SINGLE_STATE}/kafka.pid")/cmdline" | grep -q -- '-Xmx1g ' || fail "the single broker keeps -Xmx1g"
ok "N = 1 state layout and settings as before (files in the state dir, one voter, RF 1, -Xmx1g)"
out="$(single status 2>&1)" || fail "status (single) exits 0" "${out}"
[[ "${out}" == "Kafka running at 127.0.0.1:${SINGLE_PORT} (pid "*", state ${SINGLE_STATE})" ]] || fail "status (single) prints one line as before" "${out}"
ok "status (N = 1): ${out}"
out="$(single brokers)"
[[ "${out}" == "127.0.0.1:${SINGLE_PORT}" ]] || fail "brokers (single) prints one host:port" "${out}"
ok "brokers (N = 1): ${out}"
out="$(single stop 2>&1)" || fail "stop (single)" "${out}"
[[ "${out}" == "Kafka stopped (pid "*", state ${SINGLE_STATE})" ]] || fail "stop (single) prints as before" "${out}"
out="$(single status 2>&1)" && fail "status (single) exits 1 after stop" "${out}"
[[ "${out}" == "Kafka not running (state ${SINGLE_STATE})" ]] || fail "status (single) after stop prints as before" "${out}"
ok "stop, then status exits 1 (N = 1)"

printf '\n# leader failover after SIGKILL (broker.session.timeout.ms=4000):\n'
for line in "${FAILOVER_REPORT[@]}"; do printf '#   %s\n' "${line}"; done
finish
