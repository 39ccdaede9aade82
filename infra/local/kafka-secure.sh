# shellcheck shell=bash
# Sourced by kafka.sh: the secured broker of `kafka.sh start --secure`.
#
# - One SASL_SSL listener for clients: TLS with a certificate signed by a CA of the state dir's own,
#   then SCRAM-SHA-512. The users (broker, admin, order, stock, payment) are created when the
#   storage is formatted (KRaft keeps SCRAM credentials in its metadata log), each with a password
#   generated once for this state dir.
# - The KRaft controller listener takes only the broker itself: mutual TLS, a certificate from the
#   same CA (only the broker's exists), principal User:CN=tcc-kafka-broker.
# - StandardAuthorizer, nothing allowed without an ACL. broker and admin are super users (admin:
#   operators and tools: topics, check, bench, chaos). Each service gets exactly what it does, for
#   the topics under KAFKA_TOPIC_PREFIX and its consumer group KAFKA_GROUP_PREFIX<service>:
#     order    writes tcc.stock.commands, tcc.payment.commands, tcc.order.replies.dlt; reads tcc.order.replies
#     stock    writes tcc.order.replies, tcc.stock.commands.dlt;                      reads tcc.stock.commands
#     payment  writes tcc.order.replies, tcc.payment.commands.dlt;                    reads tcc.payment.commands
#   plus CREATE on those same topics: the services create their topics at startup (see
#   docs/adr/0010-kafka-acls-services-create-their-own-topics.md). Reading or writing implies
#   DESCRIBE; WRITE on a topic allows the idempotent producer; READ on the group, joining it and
#   committing offsets. Nothing else: no other topic, group, deletion, configuration or ACL change.
#   (The topic names are libs/contracts' Topics and serviceTopics.)
#
# Files in ${STATE_DIR}/secure (mode 700): ca.pem (the CA clients trust), <user>.password,
# admin.properties (a Java client configuration for run-class tools, as admin), the broker's key
# store, acls.txt (the last ACLs granted) and acl-prefixes (the topic/group prefixes granted so
# far). The ACLs are created by kafka-acls.cjs (kafkajs, one process) as the admin user.

SECURE_DIR="${STATE_DIR}/secure"
SECURE_MARK="${SECURE_DIR}/.secure"
SECURE_USERS=(broker admin order stock payment)
# the SSL principal of the broker's own certificate, as the controller listener sees it
BROKER_CERT_CN="tcc-kafka-broker"
KAFKA_GROUP_PREFIX="${KAFKA_GROUP_PREFIX-tcc-}"
SECURE=0

# A state dir set up with --secure stays secured: a later plain `start` must not open it to anyone.
secure_detect() {
  [[ -f "${SECURE_MARK}" ]] && SECURE=1
  return 0
}

secure_password() { cat "${SECURE_DIR}/$1.password"; }

# openssl for the keys and certificates, once per state dir.
secure_generate() {
  command -v openssl >/dev/null 2>&1 || die "--secure needs openssl (apt-get install openssl)"
  local d="${SECURE_DIR}" user san
  rm -rf "${d}"
  mkdir -p "${d}"
  chmod 700 "${d}"
  (
    umask 077
    for user in "${SECURE_USERS[@]}"; do openssl rand -hex 24 >"${d}/${user}.password"; done
    openssl rand -hex 24 >"${d}/keystore.password"
  )
  san="DNS:localhost,IP:127.0.0.1"
  if [[ "${KAFKA_HOST}" != "127.0.0.1" && "${KAFKA_HOST}" != "localhost" ]]; then
    if [[ "${KAFKA_HOST}" =~ ^[0-9.]+$ ]]; then san+=",IP:${KAFKA_HOST}"; else san+=",DNS:${KAFKA_HOST}"; fi
  fi
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=tcc-saga local Kafka CA" -keyout "${d}/ca.key" -out "${d}/ca.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=${BROKER_CERT_CN}" -keyout "${d}/broker.key" -out "${d}/broker.csr"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
      "${san}" >"${d}/broker.ext"
    openssl x509 -req -days 825 -in "${d}/broker.csr" -CA "${d}/ca.pem" -CAkey "${d}/ca.key" \
      -CAcreateserial -extfile "${d}/broker.ext" -out "${d}/broker.pem"
    openssl pkcs12 -export -name broker -in "${d}/broker.pem" -inkey "${d}/broker.key" \
      -certfile "${d}/ca.pem" -passout "file:${d}/keystore.password" -out "${d}/broker.p12"
  } >"${d}/openssl.log" 2>&1 || { cat "${d}/openssl.log" >&2; die "could not make the CA and the broker's certificate"; }
  chmod 600 "${d}"/*.key "${d}/broker.p12"
  rm -f "${d}/broker.csr" "${d}/broker.ext" "${d}/ca.srl"
  cat >"${d}/admin.properties" <<EOF
# The admin user's Java client configuration, e.g. kafka.sh run-class <tool> --command-config $d/admin.properties
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(secure_password admin)";
ssl.truststore.type=PEM
ssl.truststore.location=${d}/ca.pem
EOF
  chmod 600 "${d}/admin.properties"
  touch "${SECURE_MARK}"
}

# Before formatting: a state dir formatted without --secure has no users; it cannot be secured later.
secure_prepare() {
  ((SECURE)) || return 0
  if [[ ! -f "${SECURE_MARK}" ]]; then
    [[ -f "${DATA_DIR}/meta.properties" ]] \
      && die "${STATE_DIR} was formatted without --secure; reset it or use another KAFKA_STATE_DIR"
    log "generating a CA, the broker's certificate and the SCRAM users' passwords in ${SECURE_DIR}"
    secure_generate
  fi
}

# The listeners, for server.properties.
listener_properties() {
  if ! ((SECURE)); then
    cat <<EOF
inter.broker.listener.name=PLAINTEXT
listeners=PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
    return
  fi
  local d="${SECURE_DIR}"
  cat <<EOF
inter.broker.listener.name=SASL_SSL
listeners=SASL_SSL://${KAFKA_HOST}:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=SASL_SSL://${KAFKA_HOST}:${KAFKA_PORT}
listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL

# TLS on both listeners: the broker's key and certificate, signed by this state dir's CA
ssl.keystore.type=PKCS12
ssl.keystore.location=${d}/broker.p12
ssl.keystore.password=$(cat "${d}/keystore.password")
ssl.truststore.type=PEM
ssl.truststore.location=${d}/ca.pem
# the controller listener admits only a certificate of this CA, i.e. the broker itself
listener.name.controller.ssl.client.auth=required

# clients: SCRAM-SHA-512 only; the broker talks to itself as the SCRAM user broker
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$(secure_password broker)";

# nothing is allowed without an ACL; the broker (SCRAM and certificate) and admin may do anything
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:broker;User:admin;User:CN=${BROKER_CERT_CN}
EOF
}

# `kafka-storage format` arguments: the SCRAM users, written into the bootstrap metadata.
secure_format_args() {
  ((SECURE)) || return 0
  local user
  for user in "${SECURE_USERS[@]}"; do
    printf -- '--add-scram\nSCRAM-SHA-512=[name=%s,password=%s]\n' "${user}" "$(secure_password "${user}")"
  done
}

# One service's ACL lines (see kafka-acls.cjs): <service> <the topic it reads> <the topics it writes...>
acl_lines_of() {
  local service="$1" p="${KAFKA_TOPIC_PREFIX:-}" reads="${KAFKA_TOPIC_PREFIX:-}$2" t
  shift 2
  for t in "$@"; do
    printf 'User:%s topic %s WRITE\nUser:%s topic %s CREATE\n' "${service}" "${p}${t}" "${service}" "${p}${t}"
  done
  printf 'User:%s topic %s READ\nUser:%s topic %s CREATE\nUser:%s group %s READ\n' \
    "${service}" "${reads}" "${service}" "${reads}" "${service}" "${KAFKA_GROUP_PREFIX}${service}"
}

# After the broker is up: the services' ACLs for this topic and group prefix, once per prefix.
secure_grant() {
  ((SECURE)) || return 0
  local key="${KAFKA_TOPIC_PREFIX:-}|${KAFKA_GROUP_PREFIX}" granted="${SECURE_DIR}/acl-prefixes"
  [[ -f "${granted}" ]] && grep -qxF -- "${key}" "${granted}" && return 0
  log "granting the services' ACLs (topic prefix '${KAFKA_TOPIC_PREFIX:-}', group prefix '${KAFKA_GROUP_PREFIX}')"
  # shellcheck source=infra/local/node-env.sh
  source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
  tcc_ensure_node >&2 || die "--secure needs Node.js (and the npm dependencies: ./dev setup) to create the ACLs"
  {
    acl_lines_of order tcc.order.replies tcc.stock.commands tcc.payment.commands tcc.order.replies.dlt
    acl_lines_of stock tcc.stock.commands tcc.order.replies tcc.stock.commands.dlt
    acl_lines_of payment tcc.payment.commands tcc.order.replies tcc.payment.commands.dlt
  } >"${SECURE_DIR}/acls.txt"
  node "$(dirname "${BASH_SOURCE[0]}")/kafka-acls.cjs" "${KAFKA_HOST}:${KAFKA_PORT}" "${SECURE_DIR}" \
    <"${SECURE_DIR}/acls.txt" >/dev/null || die "could not create the ACLs (${SECURE_DIR}/acls.txt)"
  printf '%s\n' "${key}" >>"${granted}"
}

# `kafka.sh secure-env <user>`: the variables a client needs to connect as that user.
cmd_secure_env() {
  local user="${1:-}"
  [[ -f "${SECURE_MARK}" ]] || die "${STATE_DIR} is not a secured broker's (start it with --secure first)"
  case "${user}" in
    admin | order | stock | payment) ;;
    *) die "usage: $0 secure-env admin|order|stock|payment" ;;
  esac
  cat <<EOF
KAFKA_BROKERS=${KAFKA_HOST}:${KAFKA_PORT}
KAFKA_SSL=true
KAFKA_SSL_CA_FILE=${SECURE_DIR}/ca.pem
KAFKA_SASL_MECHANISM=scram-sha-512
KAFKA_SASL_USERNAME=${user}
KAFKA_SASL_PASSWORD=$(secure_password "${user}")
EOF
}
