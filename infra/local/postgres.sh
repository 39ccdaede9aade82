#!/usr/bin/env bash
# Runs a PostgreSQL cluster of the project's own from the machine's PostgreSQL 15+ server
# binaries (initdb, pg_ctl): its files under the cache directory, on a free loopback port,
# configured as a production server is (autovacuum on, fsync on), trusting local connections.
#
# See `infra/local/postgres.sh help` for subcommands and environment variables.
set -euo pipefail

# ----------------------------------------------------------------------------
# Configuration (environment)
# ----------------------------------------------------------------------------
PG_CLUSTER="${PG_CLUSTER:-dev}"
TCC_CACHE_DIR="${TCC_CACHE_DIR:-${HOME}/.cache/tcc-saga}"
PG_READY_TIMEOUT="${PG_READY_TIMEOUT:-60}"
PG_SHARED_BUFFERS="${PG_SHARED_BUFFERS:-256MB}"
PG_MAX_CONNECTIONS="${PG_MAX_CONNECTIONS:-200}"
PG_SETTINGS="${PG_SETTINGS:-}"

MIN_MAJOR=15
# the first port tried when none is given or recorded; the next free one is taken when it is busy
case "${PG_CLUSTER}" in
  dev) FIRST_PORT=15432 ;;
  test) FIRST_PORT=15433 ;;
  *) FIRST_PORT=15434 ;;
esac
PORT_TRIES=50

STATE_DIR="${PG_STATE_DIR:-${TCC_CACHE_DIR}/postgres-${PG_CLUSTER}}"
case "${STATE_DIR}" in
  /*) ;;
  *) STATE_DIR="${PWD}/${STATE_DIR}" ;;
esac
STATE_DIR="${STATE_DIR%/}"
# the port of the last start, tried first on the next one so that URLs stay the same
PORT_FILE="${STATE_DIR}/port"
# the server's own files (data/, postgres.log, the socket): a directory, or as root a link to one
# the postgres user can reach
CLUSTER_LINK="${STATE_DIR}/cluster"
SETTINGS_FILE_NAME="tcc-saga.conf"
STOP_TIMEOUT=60

# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------
log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { printf 'postgres.sh: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<EOF
Usage: $(basename "$0") <command>

Runs a PostgreSQL ${MIN_MAJOR}+ cluster of the project's own, from the machine's server binaries
(initdb, pg_ctl), listening on 127.0.0.1 only and trusting local connections as user postgres.
As root, the server runs as the postgres user (PostgreSQL refuses to run as root).

Commands:
  start        initdb if needed, start the server and wait until it accepts connections;
               exit 0 if it is already running. Prints the URL.
  stop [fast|immediate]
               stop the server (default fast; immediate is a crash, recovered on the next start)
  status       whether it is running (exit 0 if running, 1 if not)
  url [DB]     the URL of database DB (default postgres); exit 1 if the server is not running
  psql [DB]    psql on database DB
  logs [-f]    the last 100 lines of the server log (-f: follow)
  reset        stop, then delete the cluster (every database in it)
  help         show this text

Environment:
  PG_CLUSTER          which cluster: dev (./dev up), test (./dev test) or any name   [${PG_CLUSTER}]
  PG_STATE_DIR        its directory               [\${TCC_CACHE_DIR}/postgres-\${PG_CLUSTER}]
  PG_PORT             this port and no other; unset: the last start's, else ${FIRST_PORT} or the
                      next free one
  PG_BIN              directory of initdb and pg_ctl  [found: pg_config --bindir,
                      /usr/lib/postgresql/<newest>/bin, Homebrew's postgresql@<n>, PATH]
  PG_SHARED_BUFFERS   shared_buffers                                            [${PG_SHARED_BUFFERS}]
  PG_MAX_CONNECTIONS  max_connections                                           [${PG_MAX_CONNECTIONS}]
  PG_SETTINGS         more server settings, "name=value name=value", applied last
  PG_READY_TIMEOUT    seconds 'start' waits for the server                      [${PG_READY_TIMEOUT}]
  TCC_CACHE_DIR       cache root, outside git                                   [\$HOME/.cache/tcc-saga]

This cluster: ${STATE_DIR}
EOF
}

is_root() { [[ "$(id -u)" == 0 ]]; }

# The server's directory, resolved (empty when the cluster was never started).
cluster_dir() {
  [[ -d "${CLUSTER_LINK}" ]] || return 0
  (cd "${CLUSTER_LINK}" && pwd -P)
}

major_of() { # bin dir -> major version of its postgres, empty if unknown
  "$1/postgres" --version 2>/dev/null | sed -E -n 's/^[^0-9]*([0-9]+).*/\1/p' | head -n 1
}

# Finds the server binaries: PG_BIN, else the first that are PostgreSQL 15+ (and, for an existing
# cluster, of the version that made it). Sets BIN.
find_bin() {
  local want="" data
  data="$(cluster_dir)"
  [[ -n "${data}" && -f "${data}/data/PG_VERSION" ]] && want="$(cat "${data}/data/PG_VERSION")"
  local candidates=()
  if [[ -n "${PG_BIN:-}" ]]; then
    candidates=("${PG_BIN}")
  else
    if command -v pg_config >/dev/null 2>&1; then
      candidates+=("$(pg_config --bindir 2>/dev/null || true)")
    fi
    local d
    while IFS= read -r d; do candidates+=("${d}"); done < <(
      find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -t/ -k5,5 -n -r
    )
    for d in 17 16 15; do
      candidates+=("/opt/homebrew/opt/postgresql@${d}/bin" "/usr/local/opt/postgresql@${d}/bin")
    done
    candidates+=(/usr/local/pgsql/bin)
    if command -v initdb >/dev/null 2>&1; then
      d="$(command -v initdb)"
      d="$(cd "$(dirname "$(readlink -f "${d}" 2>/dev/null || echo "${d}")")" && pwd)"
      candidates+=("${d}")
    fi
  fi
  local c major
  for c in "${candidates[@]}"; do
    [[ -n "${c}" && -x "${c}/initdb" && -x "${c}/pg_ctl" && -x "${c}/postgres" ]] || continue
    major="$(major_of "${c}")"
    [[ "${major}" =~ ^[0-9]+$ ]] || continue
    if [[ -n "${want}" ]]; then
      [[ "${major}" == "${want}" ]] || continue
    elif ((major < MIN_MAJOR)); then
      continue
    fi
    BIN="${c}"
    return 0
  done
  if [[ -n "${PG_BIN:-}" ]]; then
    die "PG_BIN=${PG_BIN} holds no initdb, pg_ctl and postgres of PostgreSQL ${want:-${MIN_MAJOR}+}"
  fi
  if [[ -n "${want}" ]]; then
    die "the cluster in ${data} was made by PostgreSQL ${want}, whose server binaries are not found: install them (or set PG_BIN), or delete the cluster with '$0 reset'"
  fi
  die "PostgreSQL ${MIN_MAJOR}+ server binaries (initdb, pg_ctl) not found: install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@${MIN_MAJOR}) or set PG_BIN to their directory"
}

# Runs a PostgreSQL binary from the server's directory, as the postgres user when root.
pg_run() {
  local tool="$1"
  shift
  if is_root; then
    (cd "${CLUSTER}" && runuser -u postgres -- "${BIN}/${tool}" "$@")
  else
    (cd "${CLUSTER}" && "${BIN}/${tool}" "$@")
  fi
}

# As root: the postgres user must own the server's directory and reach it. Where it cannot (the
# cache directory is under a home it may not enter, such as /root), the server's files go to a
# directory under /var/tmp and the cluster link points there.
prepare_cluster_dir() {
  mkdir -p "${STATE_DIR}"
  if [[ -L "${CLUSTER_LINK}" && ! -d "${CLUSTER_LINK}" ]]; then
    local target
    target="$(readlink "${CLUSTER_LINK}")"
    log "${target} is gone (/var/tmp cleaned?); making a new cluster there"
    mkdir -p "${target}"
    if is_root; then
      chown postgres: "${target}"
      chmod 700 "${target}"
    fi
  fi
  if [[ ! -e "${CLUSTER_LINK}" ]]; then
    if ! is_root; then
      mkdir "${CLUSTER_LINK}"
    else
      id postgres >/dev/null 2>&1 \
        || die "as root, the server runs as the postgres user, and there is none: create it (useradd --system postgres) or run as another user"
      command -v runuser >/dev/null 2>&1 || die "as root, the server runs as the postgres user through runuser, which is missing (util-linux)"
      chmod go+x "${STATE_DIR}"
      mkdir "${CLUSTER_LINK}"
      chown postgres: "${CLUSTER_LINK}"
      chmod 700 "${CLUSTER_LINK}"
      if ! runuser -u postgres -- test -w "${CLUSTER_LINK}" 2>/dev/null; then
        rmdir "${CLUSTER_LINK}"
        local elsewhere
        elsewhere="/var/tmp/tcc-saga-postgres-${PG_CLUSTER}-$(printf '%s' "${STATE_DIR}" | cksum | cut -d' ' -f1)"
        mkdir -p "${elsewhere}"
        chown postgres: "${elsewhere}"
        chmod 700 "${elsewhere}"
        ln -s "${elsewhere}" "${CLUSTER_LINK}"
        log "the postgres user cannot reach ${STATE_DIR}: the server's files are in ${elsewhere}"
      fi
    fi
  fi
  CLUSTER="$(cluster_dir)"
}

# pid of this cluster's running server (prints it, returns 0); reads postmaster.pid, no binaries needed.
server_pid() {
  local dir pidfile pid
  dir="$(cluster_dir)"
  [[ -n "${dir}" ]] || return 1
  pidfile="${dir}/data/postmaster.pid"
  [[ -r "${pidfile}" ]] || return 1
  pid="$(head -n 1 "${pidfile}" | tr -dc '0-9')"
  [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null || return 1
  # a pid left by a server that died may now be another program's
  [[ "$(ps -o comm= -p "${pid}" 2>/dev/null)" == *postgres* ]] || return 1
  echo "${pid}"
}

# The running server's port, as it wrote it into postmaster.pid (line 4).
server_port() {
  sed -n 4p "$(cluster_dir)/data/postmaster.pid" | tr -dc '0-9'
}

url_of() { printf 'postgres://postgres@127.0.0.1:%s/%s\n' "$1" "${2:-postgres}"; }

# Is something accepting TCP connections on 127.0.0.1:port?
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1
}

# A setting's value as a configuration file line wants it (strings quoted).
conf_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# Written on every start and included by postgresql.conf: the settings of a production server
# on a small machine. Later lines win, so PG_SETTINGS overrides any of them.
write_settings() {
  local port="$1" socket_dir="${CLUSTER}" file="${CLUSTER}/data/${SETTINGS_FILE_NAME}"
  # a Unix socket path may hold about 100 bytes; past that the server listens on TCP only
  ((${#socket_dir} <= 90)) || socket_dir=""
  {
    echo "# Written by infra/local/postgres.sh on every start; edit the script, not this file."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = ${port}"
    echo "unix_socket_directories = $(conf_quote "${socket_dir}")"
    echo "max_connections = ${PG_MAX_CONNECTIONS}"
    echo "shared_buffers = ${PG_SHARED_BUFFERS}"
    echo "effective_cache_size = 1GB"
    echo "maintenance_work_mem = 64MB"
    echo "# the data is in memory or on SSD: a random page costs about what a sequential one does"
    echo "random_page_cost = 1.1"
    echo "fsync = on"
    echo "synchronous_commit = on"
    echo "full_page_writes = on"
    echo "autovacuum = on"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    local setting settings=()
    read -r -a settings <<<"${PG_SETTINGS}"
    for setting in ${settings[@]+"${settings[@]}"}; do
      [[ "${setting}" == *=* ]] || die "PG_SETTINGS: '${setting}' is not name=value"
      echo "${setting%%=*} = ${setting#*=}"
    done
  } >"${file}"
  if is_root; then chown postgres: "${file}"; fi
}

initdb_cluster() {
  local out="${CLUSTER}/initdb.log"
  log "initdb: a new PostgreSQL $(major_of "${BIN}") cluster in ${CLUSTER}/data"
  # the environment's locale, as a server installed by the system gets; C where that one is unusable
  if ! pg_run initdb -D "${CLUSTER}/data" -U postgres -A trust -E UTF8 >"${out}" 2>&1; then
    if grep -qi "locale" "${out}"; then
      rm -rf "${CLUSTER:?}/data"
      pg_run initdb -D "${CLUSTER}/data" -U postgres -A trust -E UTF8 --no-locale >"${out}" 2>&1 || {
        tail -n 20 "${out}" >&2
        die "initdb failed (log: ${out})"
      }
    else
      tail -n 20 "${out}" >&2
      rm -rf "${CLUSTER:?}/data"
      die "initdb failed (log: ${out})"
    fi
  fi
  echo "include_if_exists = '${SETTINGS_FILE_NAME}'" >>"${CLUSTER}/data/postgresql.conf"
}

# ----------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------
cmd_start() {
  [[ "${PG_READY_TIMEOUT}" =~ ^[0-9]+$ ]] || die "PG_READY_TIMEOUT must be a number of seconds"
  [[ -z "${PG_PORT:-}" || "${PG_PORT}" =~ ^[0-9]+$ ]] || die "PG_PORT must be a port number"
  local pid
  if pid="$(server_pid)"; then
    echo "PostgreSQL already running at $(url_of "$(server_port)") (pid ${pid}, ${CLUSTER_LINK})"
    return 0
  fi
  find_bin
  mkdir -p "${STATE_DIR}"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${STATE_DIR}/.start.lock"
    flock 9
    # another start may have finished while this one waited
    if pid="$(server_pid)"; then
      echo "PostgreSQL already running at $(url_of "$(server_port)") (pid ${pid}, ${CLUSTER_LINK})"
      return 0
    fi
  fi
  prepare_cluster_dir
  [[ -f "${CLUSTER}/data/PG_VERSION" ]] || initdb_cluster

  local logfile="${CLUSTER}/postgres.log"
  if [[ -f "${logfile}" ]] && (($(wc -c <"${logfile}") > 50 * 1024 * 1024)); then
    mv -f "${logfile}" "${logfile}.prev"
  fi

  local port strict=0 tries
  if [[ -n "${PG_PORT:-}" ]]; then
    port="${PG_PORT}"
    strict=1
  elif [[ -s "${PORT_FILE}" ]]; then
    port="$(tr -dc '0-9' <"${PORT_FILE}")"
  else
    port="${FIRST_PORT}"
  fi
  for ((tries = 0; tries < PORT_TRIES; tries++, port++)); do
    if port_busy "${port}"; then
      ((strict == 0)) || die "port ${port} (PG_PORT) on 127.0.0.1 is already in use"
      continue
    fi
    write_settings "${port}"
    local offset=0
    [[ -f "${logfile}" ]] && offset="$(wc -c <"${logfile}")"
    if pg_run pg_ctl -D "${CLUSTER}/data" -l "${logfile}" -w -t "${PG_READY_TIMEOUT}" start >/dev/null 2>&1; then
      printf '%s\n' "${port}" >"${PORT_FILE}"
      echo "PostgreSQL $(major_of "${BIN}") ready at $(url_of "${port}") (pid $(server_pid || echo '?'), ${CLUSTER_LINK})"
      return 0
    fi
    local lines
    lines="$(tail -c "+$((offset + 1))" "${logfile}" 2>/dev/null || true)"
    # taken between the check and the bind: try the next port
    if ((strict == 0)) && grep -qE "could not bind|Address already in use" <<<"${lines}"; then
      continue
    fi
    # pg_ctl gave up waiting, but the server may still be coming up
    pg_run pg_ctl -D "${CLUSTER}/data" -m immediate -w stop >/dev/null 2>&1 || true
    printf -- '--- %s ---\n%s\n' "${logfile}" "$(tail -n 30 <<<"${lines}")" >&2
    die "PostgreSQL did not start on port ${port} (log: ${logfile})"
  done
  die "no free port from $((port - PORT_TRIES)) to $((port - 1)) on 127.0.0.1: set PG_PORT"
}

cmd_stop() {
  local mode="${1:-fast}"
  [[ "${mode}" == fast || "${mode}" == immediate ]] || die "stop takes fast or immediate (got '${mode}')"
  local pid
  if ! pid="$(server_pid)"; then
    echo "PostgreSQL not running (${CLUSTER_LINK})"
    return 0
  fi
  find_bin
  CLUSTER="$(cluster_dir)"
  pg_run pg_ctl -D "${CLUSTER}/data" -m "${mode}" -w -t "${STOP_TIMEOUT}" stop >/dev/null \
    || die "pg_ctl stop failed (log: ${CLUSTER}/postgres.log)"
  echo "PostgreSQL stopped (pid ${pid}, ${CLUSTER_LINK})"
}

cmd_status() {
  local pid
  if pid="$(server_pid)"; then
    echo "PostgreSQL running at $(url_of "$(server_port)") (pid ${pid}, ${CLUSTER_LINK})"
    return 0
  fi
  echo "PostgreSQL not running (${CLUSTER_LINK})"
  return 1
}

cmd_url() {
  server_pid >/dev/null || die "PostgreSQL ${PG_CLUSTER} cluster is not running (${CLUSTER_LINK}): start it first"
  url_of "$(server_port)" "${1:-}"
}

cmd_psql() {
  local url
  url="$(cmd_url "${1:-}")"
  find_bin
  [[ -x "${BIN}/psql" ]] || die "no psql in ${BIN}"
  exec "${BIN}/psql" "${url}"
}

cmd_logs() {
  local logfile
  logfile="$(cluster_dir)/postgres.log"
  [[ -f "${logfile}" ]] || die "no log yet (${CLUSTER_LINK})"
  if [[ "${1:-}" == "-f" ]]; then
    exec tail -n 100 -F "${logfile}"
  fi
  tail -n 100 "${logfile}"
}

cmd_reset() {
  case "${STATE_DIR}" in
    "" | "/" | "${HOME}" | "${HOME}/" | "${TCC_CACHE_DIR}")
      die "refusing to delete '${STATE_DIR}'" ;;
  esac
  [[ -d "${STATE_DIR}" ]] || {
    echo "Nothing to delete (${STATE_DIR} does not exist)"
    return 0
  }
  # only something that looks like one of these clusters' directories (or is empty)
  if [[ ! -e "${CLUSTER_LINK}" && ! -L "${CLUSTER_LINK}" && -n "$(ls -A "${STATE_DIR}")" ]]; then
    die "${STATE_DIR} does not look like a postgres.sh directory (no cluster/); not deleting"
  fi
  cmd_stop immediate
  if [[ -L "${CLUSTER_LINK}" ]]; then
    local target
    target="$(readlink "${CLUSTER_LINK}")"
    case "${target}" in
      /var/tmp/tcc-saga-postgres-*) rm -rf "${target}" ;;
      *) die "${CLUSTER_LINK} points to ${target}, not a directory this script made; not deleting" ;;
    esac
  fi
  rm -rf "${STATE_DIR}"
  echo "Deleted ${STATE_DIR}"
}

main() {
  local cmd="${1:-help}"
  [[ $# -gt 0 ]] && shift
  case "${cmd}" in
    start) cmd_start ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status ;;
    url) cmd_url "$@" ;;
    psql) cmd_psql "$@" ;;
    logs) cmd_logs "$@" ;;
    reset) cmd_reset ;;
    help | -h | --help) usage ;;
    *)
      printf 'postgres.sh: unknown command: %s\n\n' "${cmd}" >&2
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
