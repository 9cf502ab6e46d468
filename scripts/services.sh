#!/usr/bin/env bash
# The local services of the marketplace event pipeline, without Docker or systemd:
#
#   Kafka       KRaft broker+controller in one JVM, jars from Maven Central  127.0.0.1:$KAFKA_PORT
#   Redis       Debian redis-server, AOF on                         redis://127.0.0.1:$REDIS_PORT/0
#   PostgreSQL  Debian postgresql, role marketplace/marketplace,        127.0.0.1:$PG_PORT
#               databases marketplace and marketplace_test
#
# Usage: scripts/services.sh up|down|status|stop-redis|start-redis|restart-redis
#
# Every port and path is set once, under "settings" below, and each can be overridden from the
# environment; a second stack needs its own home as well (pid files and data live there):
#   KAFKA_PORT=39092 KAFKA_CONTROLLER_PORT=39093 REDIS_PORT=36379 PG_PORT=35432 \
#     MARKETPLACE_SERVICES_HOME=/tmp/other-stack scripts/services.sh up
# To move a running service to another port: `down`, then `up` with the new value.
#
# Layout: settings, helpers, then one section per service with the same four functions --
# <service>_ready (does it answer its own protocol?), <service>_up, <service>_down,
# <service>_status -- and last the commands, which call them in turn.
#
# Idempotent: `up` leaves a service alone when it already answers; `down` stops only what this
# script started (its pid files, its PostgreSQL cluster), never a server it merely found running.
set -euo pipefail

# --------------------------------------------------------------------------------- settings

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
REDIS_PORT=${REDIS_PORT:-6379}
PG_PORT=${PG_PORT:-5432}
STATE=${MARKETPLACE_SERVICES_HOME:-$HOME/.cache/marketplace-services}  # data, logs, pid files
KAFKA_JARS=${MARKETPLACE_KAFKA_CACHE:-$HOME/.cache/marketplace-kafka}  # shared by every home
PG_USER=marketplace
PG_PASSWORD=marketplace
PG_DATABASES=(marketplace marketplace_test)

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The Kafka version is pinned once, in the pom that fetches its jars.
KAFKA_VERSION=$(sed -n 's|.*<kafka.version>\(.*\)</kafka.version>.*|\1|p' "$SCRIPT_DIR/kafka/pom.xml")
KAFKA_CACHE=$KAFKA_JARS/$KAFKA_VERSION
KAFKA_DIR=$STATE/kafka
REDIS_DIR=$STATE/redis
PG_BIN="" # PostgreSQL's are looked up late (pg_locate): `up` may have to install them first.
PG_DIR=""

# ---------------------------------------------------------------------------------- helpers

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [[ $(id -u) -eq 0 ]]; }

check_settings() {
  local name
  for name in KAFKA_PORT KAFKA_CONTROLLER_PORT REDIS_PORT PG_PORT; do
    [[ ${!name} =~ ^[0-9]{1,5}$ ]] || die "$name must be a port number, not '${!name}'"
  done
  [[ -n $KAFKA_VERSION ]] || die "no <kafka.version> in $SCRIPT_DIR/kafka/pom.xml"
}

# TCP check with bash's /dev/tcp: no netcat needed.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Run `command...` every 0.2 s until it succeeds; fails after $1 seconds.
wait_until() {
  local seconds=$1 i
  shift
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" && return 0
    sleep 0.2
  done
  return 1
}

# Pid from a pid file, only if that process is still alive and its command
# line contains $2 (guards against a recycled pid after a reboot).
live_pid() {
  local f=$1 what=$2 pid
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$what" || return 1
  echo "$pid"
}

# Alive and not a zombie (a JVM that died during startup stays a zombie
# child of this script, and kill -0 would still succeed on it).
alive() {
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  [[ ${st%% *} != Z ]]
}
gone() { ! alive "$1"; }

# SIGTERM a pid and wait for it to exit (SIGKILL after $2 seconds).
stop_pid() {
  local pid=$1 grace=$2 name=$3
  kill -TERM "$pid" 2>/dev/null || return 0
  wait_until "$grace" gone "$pid" && return 0
  log "$name (pid $pid) did not exit within ${grace}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# What `down` says about a service this script did not start: $1 name, $2 its _ready function.
not_ours() {
  if "$2"; then
    log "$1: running but not started by this script, leaving it alone"
  else
    log "$1: not running"
  fi
}

# One line of `status`, failing when the service does not answer: $1 name, $2 its _ready
# function, $3 its address.
report() {
  if "$2"; then
    printf '%-9s up    %s\n' "$1" "$3"
  else
    printf '%-9s down  %s\n' "$1" "$3"
    return 1
  fi
}

# Redis' and PostgreSQL's Debian packages are installed on demand when we can
# (root + apt-get); otherwise say exactly what is missing.
ensure_packages() {
  local missing=()
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  ((${#missing[@]})) || return 0
  if ! is_root || ! command -v apt-get >/dev/null; then
    die "missing Debian packages; run: sudo apt-get install -y ${missing[*]}"
  fi
  log "installing missing Debian packages: ${missing[*]}"
  # Lock timeout: another apt run (e.g. a concurrent install) may hold the lock.
  local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600 install --no-install-recommends)
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" ||
    { apt-get -q -o DPkg::Lock::Timeout=600 update && DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}"; } ||
    die "apt-get install ${missing[*]} failed"
}

# ------------------------------------------------------------------------------------ Kafka

KAFKA_JAVA=(java -Xmx512m -Xms512m -XX:+UseG1GC -Djava.awt.headless=true
  -Dkafka.logs.dir="$KAFKA_DIR/logs"
  -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.yaml"
  -cp "$KAFKA_CACHE/lib/*")

# Speak the Kafka protocol: an ApiVersions v0 request (api_key 18, version 0,
# correlation id 7, client id "svc"). A live broker replies with a frame whose
# correlation id is 7 -- a plain open port is not enough (the socket can be
# bound before the broker serves requests).
kafka_ready() {
  local reply
  reply=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT
    printf '\x00\x00\x00\x0d\x00\x12\x00\x00\x00\x00\x00\x07\x00\x03svc' >&3
    head -c 8 <&3 | od -An -tx1" 2>/dev/null | tr -d ' \n') || return 1
  [[ ${reply:8:8} == 00000007 ]]
}

kafka_up() {
  local pid
  if kafka_ready; then
    log "kafka: already running on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  if pid=$(live_pid "$KAFKA_DIR/kafka.pid" kafka.Kafka); then
    log "kafka: pid $pid is starting, waiting for it"
    kafka_wait "$pid"
    log "kafka: up on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by something that does not speak Kafka"
  port_open "$KAFKA_CONTROLLER_PORT" && die "port $KAFKA_CONTROLLER_PORT (Kafka's controller) is taken"
  kafka_fetch
  kafka_configure
  kafka_start
}

kafka_down() {
  local pid
  if pid=$(live_pid "$KAFKA_DIR/kafka.pid" kafka.Kafka); then
    log "kafka: stopping pid $pid"
    stop_pid "$pid" 60 kafka # controlled shutdown of a single node takes a few seconds
  else
    not_ours kafka kafka_ready
  fi
  rm -f "$KAFKA_DIR/kafka.pid"
}

kafka_status() { report kafka kafka_ready "127.0.0.1:$KAFKA_PORT"; }

# Resolve the broker's runtime classpath from Maven Central once, cache it
# per version, reuse it afterwards (a `.complete` marker guards half copies).
kafka_fetch() {
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    die "Java 17+ and Maven are prerequisites (Debian: apt-get install openjdk-17-jdk-headless maven)"
  fi
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  ((${major%%.*} >= 17)) || die "Kafka $KAFKA_VERSION needs Java 17+, found java $major"
  [[ -f $KAFKA_CACHE/.complete ]] && return 0

  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_CACHE"
  local tmp="$KAFKA_CACHE.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  # Output kept aside: quiet mode still prints ANSI resets; shown on failure.
  mvn -q -B -f "$SCRIPT_DIR/kafka/pom.xml" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >"$tmp.log" 2>&1 ||
    { cat "$tmp.log" >&2; rm -rf "$tmp" "$tmp.log"; die "maven could not fetch Kafka $KAFKA_VERSION"; }
  rm -f "$tmp.log"
  # Zip central directories store entry names uncompressed, so grep finds
  # the main classes without needing unzip.
  local cls jar="$tmp/lib/kafka_2.13-$KAFKA_VERSION.jar"
  for cls in kafka/Kafka.class kafka/tools/StorageTool.class; do
    LC_ALL=C grep -qaF "$cls" "$jar" || { rm -rf "$tmp"; die "$cls not found in $jar"; }
  done
  touch "$tmp/.complete"
  rm -rf "$KAFKA_CACHE" && mv "$tmp" "$KAFKA_CACHE"
}

# server.properties rendered from the template at every start (so a changed port takes effect);
# the storage formatted once with a cluster id -- no --standalone, because the quorum is given
# statically by controller.quorum.voters.
kafka_configure() {
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  sed -e "s|@KAFKA_DATA_DIR@|$KAFKA_DIR/data|" -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
    -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    "$SCRIPT_DIR/kafka/server.properties" >"$KAFKA_DIR/server.properties"
  [[ -f $KAFKA_DIR/data/meta.properties ]] && return 0
  local cluster_id
  cluster_id=$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid)
  log "kafka: formatting storage (cluster id $cluster_id)"
  "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$KAFKA_DIR/server.properties" --ignore-formatted >"$KAFKA_DIR/format.out" 2>&1 ||
    { cat "$KAFKA_DIR/format.out" >&2; die "kafka storage format failed"; }
}

kafka_start() {
  # Fresh log per start so the readiness grep only sees this run.
  [[ -f $KAFKA_DIR/logs/server.log ]] && mv -f "$KAFKA_DIR/logs/server.log" "$KAFKA_DIR/logs/server.log.prev"
  log "kafka: starting $KAFKA_VERSION (logs: $KAFKA_DIR/logs/server.log)"
  # setsid+nohup: the broker must outlive this shell and its terminal. No job
  # control in a script, so the subshell is no group leader and setsid execs
  # in place: $! is the JVM's pid.
  (
    cd "$KAFKA_DIR"
    exec setsid nohup "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" \
      >"$KAFKA_DIR/kafka.out" 2>&1 </dev/null
  ) &
  local pid=$!
  echo "$pid" >"$KAFKA_DIR/kafka.pid"
  kafka_wait "$pid"
  log "kafka: up on 127.0.0.1:$KAFKA_PORT (pid $pid)"
}

kafka_wait() {
  wait_until 90 kafka_started "$1" ||
    kafka_fail "Kafka did not come up on 127.0.0.1:$KAFKA_PORT within 90 s (pid $1 still running)"
}

# The broker answers and this run logged its start; exits the script if the JVM died.
kafka_started() {
  alive "$1" || kafka_fail "Kafka (pid $1) exited during startup"
  kafka_ready && grep -q 'Kafka Server started' "$KAFKA_DIR/logs/server.log" 2>/dev/null
}

kafka_fail() {
  {
    echo "[services] ERROR: $1"
    echo "---- last lines of $KAFKA_DIR/logs/server.log"
    tail -n 30 "$KAFKA_DIR/logs/server.log" 2>/dev/null || true
    echo "---- last lines of $KAFKA_DIR/kafka.out (JVM stdout/stderr)"
    tail -n 30 "$KAFKA_DIR/kafka.out" 2>/dev/null || true
  } >&2
  exit 1
}

# ------------------------------------------------------------------------------------ Redis

redis_ready() { [[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

redis_up() {
  if redis_ready; then
    log "redis: already running on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by something that does not answer Redis PING"
  mkdir -p "$REDIS_DIR"
  # AOF fsynced every second and noeviction: Celery/broker state must never be
  # silently dropped; RDB snapshots are off because the AOF already covers it.
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
    --appendonly yes --appendfsync everysec --save "" \
    --maxmemory-policy noeviction \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" \
    --dir "$REDIS_DIR" --logfile "$REDIS_DIR/redis.log"
  # 20 s: a big AOF takes a while to load.
  wait_until 20 redis_ready ||
    { tail -n 20 "$REDIS_DIR/redis.log" >&2 || true; die "redis did not answer PING within 20 s"; }
  log "redis: up on 127.0.0.1:$REDIS_PORT (data: $REDIS_DIR)"
}

redis_down() {
  local pid
  if pid=$(live_pid "$REDIS_DIR/redis.pid" redis-server); then
    log "redis: stopping pid $pid"
    stop_pid "$pid" 30 redis # SIGTERM = clean shutdown, the AOF is fsynced
  else
    not_ours redis redis_ready
  fi
}

redis_status() { report redis redis_ready "redis://127.0.0.1:$REDIS_PORT/0"; }

# ------------------------------------------------------------------------------- PostgreSQL

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 3; }

pg_up() {
  pg_locate
  if pg_ready; then
    if pg_ours; then
      log "postgres: already running on 127.0.0.1:$PG_PORT"
      pg_provision
    else
      pg_foreign
    fi
    return 0
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by something that is not PostgreSQL"
  pg_init
  log "postgres: starting (log: $PG_DIR/postgres.log)"
  as_pg "$PG_BIN/pg_ctl" start -D "$PG_DIR/data" -o "$(pg_options)" -l "$PG_DIR/postgres.log" -w -t 60 >/dev/null ||
    { tail -n 20 "$PG_DIR/postgres.log" >&2; die "postgres did not start"; }
  pg_ready || die "postgres started but pg_isready -h 127.0.0.1 -p $PG_PORT fails"
  pg_provision
  log "postgres: up on 127.0.0.1:$PG_PORT (data: $PG_DIR/data)"
}

pg_down() {
  pg_locate
  if pg_ours; then
    log "postgres: stopping"
    as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m fast -w -t 60 >/dev/null
  else
    not_ours postgres pg_ready
  fi
}

pg_status() {
  pg_locate
  report postgres pg_ready "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/${PG_DATABASES[0]} (and /${PG_DATABASES[1]})"
}

# The newest binaries, and this home's cluster. Postgres refuses to run as
# root, so as root the cluster belongs to the `postgres` OS user, which must be
# able to reach it. When it cannot enter $STATE (e.g. under /root, 0700), the
# cluster lives under postgres' home in a directory named after $STATE (two
# homes never share a cluster), and $STATE/postgres is a symlink to it.
pg_locate() {
  PG_BIN=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1 || true)
  [[ -n $PG_BIN ]] || die "no /usr/lib/postgresql/*/bin found"
  if [[ -L $STATE/postgres ]]; then
    PG_DIR=$(readlink "$STATE/postgres")
  elif is_root && ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
    PG_DIR=/var/lib/postgresql/marketplace-services-$(cksum <<<"$STATE" | cut -d' ' -f1)
  else
    PG_DIR=$STATE/postgres
  fi
}

# Run a Postgres binary as the cluster owner (cd / : postgres may not be
# allowed into the caller's cwd).
as_pg() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# Server options given at every start, like the port. pg_stat_statements (when installed) counts
# every statement, which `make bench` reads for its SQL statements per event; a cluster started
# before this option existed needs a `down` and `up`.
pg_options() {
  local options="-p $PG_PORT"
  [[ -f ${PG_BIN%/bin}/lib/pg_stat_statements.so ]] &&
    options+=" -c shared_preload_libraries=pg_stat_statements"
  printf '%s' "$options"
}

# This home's cluster is the one running.
pg_ours() { [[ -f $PG_DIR/data/postmaster.pid ]] && as_pg "$PG_BIN/pg_ctl" status -D "$PG_DIR/data" >/dev/null 2>&1; }

# The cluster made once: local socket trusted (admin access for this script),
# TCP by password. The port is not written into postgresql.conf: `pg_ctl start
# -o -p` passes $PG_PORT at every start, so changing it needs no re-init.
pg_init() {
  local data=$PG_DIR/data
  [[ $PG_DIR == "$STATE/postgres" || -d $STATE/postgres ]] || ln -sfn "$PG_DIR" "$STATE/postgres"
  if [[ ! -f $data/PG_VERSION ]]; then
    log "postgres: initdb $data ($("$PG_BIN/postgres" --version))"
    mkdir -p "$PG_DIR"
    is_root && chown postgres:postgres "$PG_DIR"
    as_pg "$PG_BIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 ||
      { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    as_pg mkdir -p "$PG_DIR/run"
    as_pg tee -a "$data/postgresql.conf" >/dev/null <<CONF

# --- scripts/services.sh (the port is given by pg_ctl start -o -p)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR/run'
CONF
  fi
  local have want=${PG_BIN%/bin}
  have=$(<"$data/PG_VERSION")
  [[ ${want##*/} == "$have" ]] ||
    die "cluster in $data is PostgreSQL $have but the newest binaries are ${want##*/}; remove $PG_DIR to re-init"
}

# Create the app role -- with CREATEDB so tests may create scratch databases --
# and its databases, idempotently, as superuser through this cluster's socket.
pg_provision() { pg_provision_sql | as_pg "$PG_BIN/psql" -qX -v ON_ERROR_STOP=1 -h "$PG_DIR/run" -p "$PG_PORT" -U postgres -d postgres >/dev/null; }

pg_provision_sql() {
  cat <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
  local db
  for db in "${PG_DATABASES[@]}"; do
    echo "SELECT 'CREATE DATABASE $db OWNER $PG_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')\\gexec"
  done
  # Its view lists the statements of every database; only a superuser may create it.
  for db in "${PG_DATABASES[@]}"; do
    echo "\\connect $db"
    echo "SELECT 'CREATE EXTENSION pg_stat_statements' WHERE EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_stat_statements') AND NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_stat_statements')\\gexec"
  done
}

# The app's view: can marketplace/marketplace log in to each database over TCP?
pg_app_ok() {
  local db
  for db in "${PG_DATABASES[@]}"; do
    PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -qAtX "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$db" \
      -c 'select 1' >/dev/null 2>&1 || return 1
  done
}

# Something else (e.g. a Debian-managed cluster) already serves $PG_PORT: use it
# if the role/databases exist, create them if we have superuser access
# through the Debian socket (peer auth as the postgres OS user).
pg_foreign() {
  if pg_app_ok; then
    log "postgres: already running on 127.0.0.1:$PG_PORT (not managed by this script), role and databases OK"
    return 0
  fi
  if is_root; then
    log "postgres: foreign server on $PG_PORT lacks role/databases, creating them as OS user postgres"
    pg_provision_sql | as_pg "$PG_BIN/psql" -qX -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres >/dev/null || true
    pg_app_ok && { log "postgres: role $PG_USER and databases ${PG_DATABASES[*]} ready"; return 0; }
  fi
  die "a PostgreSQL not started by this script serves 127.0.0.1:$PG_PORT, but $PG_USER/$PG_PASSWORD cannot log in to ${PG_DATABASES[*]}.
  Either stop it (e.g. pg_ctlcluster 15 main stop) and rerun, or as its superuser run:
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
    CREATE DATABASE ${PG_DATABASES[0]} OWNER $PG_USER; CREATE DATABASE ${PG_DATABASES[1]} OWNER $PG_USER;
  and allow password (md5/scram) auth for 127.0.0.1 in its pg_hba.conf."
}

# --------------------------------------------------------------------------------- commands

cmd_up() {
  local t0 ms
  t0=$(date +%s%N)
  mkdir -p "$STATE"
  ensure_packages
  redis_up
  pg_up
  kafka_up
  ms=$((($(date +%s%N) - t0) / 1000000))
  log "all services up in $((ms / 1000)).$((ms % 1000 / 100)) s (state: $STATE)"
}

cmd_down() {
  kafka_down # first: it is the slowest to stop and depends on nothing here
  redis_down
  pg_down
}

cmd_status() {
  local rc=0
  kafka_status || rc=1
  redis_status || rc=1
  pg_status || rc=1
  return $rc
}

check_settings
case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  stop-redis) redis_down ;;
  start-redis) redis_up ;;
  restart-redis) redis_down && redis_up ;;
  *)
    echo "usage: $0 up|down|status|stop-redis|start-redis|restart-redis" >&2
    exit 2
    ;;
esac
