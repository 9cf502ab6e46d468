#!/usr/bin/env bash
# Provision the local services of the marketplace event pipeline, without
# Docker and without systemd:
#
#   Kafka 4.3.0  KRaft broker+controller  127.0.0.1:9092  (jars from Maven Central)
#   Redis        Debian redis-server      redis://127.0.0.1:6379/0   (AOF on)
#   PostgreSQL   Debian postgresql        postgresql://marketplace:marketplace@127.0.0.1:5432/marketplace
#                                         (and .../marketplace_test)
#
# Usage: scripts/services.sh up|down|status|stop-redis|start-redis|restart-redis
#
# Everything is idempotent: `up` leaves a service alone when its port already
# answers, `down` only stops what this script started (pid files). State
# (data, logs, pid files) lives outside the repo in $MARKETPLACE_SERVICES_HOME.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${MARKETPLACE_SERVICES_HOME:-$HOME/.cache/marketplace-services}"
KAFKA_VERSION=4.3.0
KAFKA_CACHE="${MARKETPLACE_KAFKA_CACHE:-$HOME/.cache/marketplace-kafka}/$KAFKA_VERSION"
KAFKA_PORT=9092
REDIS_PORT=6379
PG_PORT=5432
PG_USER=marketplace
PG_PASSWORD=marketplace
PG_DATABASES=(marketplace marketplace_test)

KAFKA_DIR="$STATE/kafka"
REDIS_DIR="$STATE/redis"
KAFKA_JAVA=(java -Xmx512m -Xms512m -XX:+UseG1GC -Djava.awt.headless=true
  -Dkafka.logs.dir="$KAFKA_DIR/logs"
  -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.yaml"
  -cp "$KAFKA_CACHE/lib/*")

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [[ $(id -u) -eq 0 ]]; }

# TCP check with bash's /dev/tcp: no netcat needed.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

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

# SIGTERM a pid and wait for it to exit (SIGKILL after $2 seconds).
stop_pid() {
  local pid=$1 grace=$2 name=$3 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace * 5; i++)); do
    alive "$pid" || return 0
    sleep 0.2
  done
  log "$name (pid $pid) did not exit within ${grace}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- prerequisites

# Debian packages are installed on demand when we can (root + apt-get);
# otherwise say exactly what is missing.
ensure_packages() {
  local missing=()
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  ((${#missing[@]})) || return 0
  if is_root && command -v apt-get >/dev/null; then
    log "installing missing Debian packages: ${missing[*]}"
    # Lock timeout: another apt run (e.g. a concurrent install) may hold the lock.
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600 install --no-install-recommends)
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" ||
      { apt-get -q -o DPkg::Lock::Timeout=600 update && DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}"; } ||
      die "apt-get install ${missing[*]} failed"
  else
    die "missing Debian packages; run: sudo apt-get install -y ${missing[*]}"
  fi
}

ensure_java_maven() {
  command -v java >/dev/null && command -v mvn >/dev/null ||
    die "Java 17+ and Maven are prerequisites (Debian: apt-get install openjdk-17-jdk-headless maven)"
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  ((${major%%.*} >= 17)) || die "Kafka $KAFKA_VERSION needs Java 17+, found java $major"
}

# -------------------------------------------------------------------- Kafka

# Resolve the broker's runtime classpath from Maven Central once, cache it
# per version, reuse it afterwards (a `.complete` marker guards half copies).
kafka_fetch() {
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

# Speak the Kafka protocol: an ApiVersions v0 request (api_key 18, version 0,
# correlation id 7, client id "svc"). A live broker replies with a frame whose
# correlation id is 7 -- a plain open port is not enough (the socket can be
# bound before the broker serves requests).
kafka_answers() {
  local reply
  reply=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT
    printf '\x00\x00\x00\x0d\x00\x12\x00\x00\x00\x00\x00\x07\x00\x03svc' >&3
    head -c 8 <&3 | od -An -tx1" 2>/dev/null | tr -d ' \n') || return 1
  [[ ${reply:8:8} == 00000007 ]]
}

kafka_wait() {
  local pid=$1 i
  for ((i = 0; i < 450; i++)); do # 90 s
    if ! alive "$pid"; then
      kafka_fail "Kafka (pid $pid) exited during startup"
    fi
    if kafka_answers && grep -q 'Kafka Server started' "$KAFKA_DIR/logs/server.log" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  kafka_fail "Kafka did not come up on 127.0.0.1:$KAFKA_PORT within 90 s (pid $pid still running)"
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

kafka_up() {
  local pid
  if kafka_answers; then
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

  ensure_java_maven
  kafka_fetch
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  sed "s|@KAFKA_DATA_DIR@|$KAFKA_DIR/data|" "$SCRIPT_DIR/kafka/server.properties" >"$KAFKA_DIR/server.properties"

  # KRaft needs its log dir formatted once with a cluster id; no --standalone
  # because the quorum is given statically by controller.quorum.voters.
  if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
    local cluster_id
    cluster_id=$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid)
    log "kafka: formatting storage (cluster id $cluster_id)"
    "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$KAFKA_DIR/server.properties" --ignore-formatted >"$KAFKA_DIR/format.out" 2>&1 ||
      { cat "$KAFKA_DIR/format.out" >&2; die "kafka storage format failed"; }
  fi

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
  pid=$!
  echo "$pid" >"$KAFKA_DIR/kafka.pid"
  kafka_wait "$pid"
  log "kafka: up on 127.0.0.1:$KAFKA_PORT (pid $pid)"
}

kafka_down() {
  local pid
  if pid=$(live_pid "$KAFKA_DIR/kafka.pid" kafka.Kafka); then
    log "kafka: stopping pid $pid"
    stop_pid "$pid" 60 kafka # controlled shutdown of a single node takes a few seconds
  elif kafka_answers; then
    log "kafka: running but not started by this script, leaving it alone"
  else
    log "kafka: not running"
  fi
  rm -f "$KAFKA_DIR/kafka.pid"
}

kafka_status() {
  if kafka_answers; then
    echo "kafka     up    127.0.0.1:$KAFKA_PORT"
  else
    echo "kafka     down  127.0.0.1:$KAFKA_PORT"
    return 1
  fi
}

# -------------------------------------------------------------------- Redis

redis_ping() { [[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

redis_up() {
  if redis_ping; then
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
  local i
  for ((i = 0; i < 100; i++)); do # 20 s (a big AOF takes a while to load)
    redis_ping && { log "redis: up on 127.0.0.1:$REDIS_PORT (data: $REDIS_DIR)"; return 0; }
    sleep 0.2
  done
  tail -n 20 "$REDIS_DIR/redis.log" >&2 || true
  die "redis did not answer PING within 20 s"
}

redis_down() {
  local pid
  if pid=$(live_pid "$REDIS_DIR/redis.pid" redis-server); then
    log "redis: stopping pid $pid"
    stop_pid "$pid" 30 redis # SIGTERM = clean shutdown, the AOF is fsynced
  elif redis_ping; then
    log "redis: running but not started by this script, leaving it alone"
  else
    log "redis: not running"
  fi
}

redis_status() {
  if redis_ping; then
    echo "redis     up    redis://127.0.0.1:$REDIS_PORT/0"
  else
    echo "redis     down  redis://127.0.0.1:$REDIS_PORT/0"
    return 1
  fi
}

# --------------------------------------------------------------- PostgreSQL

PGBIN=""
PGROOT=""
pg_setup_vars() {
  PGBIN=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1 || true)
  [[ -n $PGBIN ]] || die "no /usr/lib/postgresql/*/bin found"
  PGROOT="$STATE/postgres"
  # Postgres refuses to run as root, so as root the cluster belongs to the
  # `postgres` OS user, which must be able to reach it. $HOME=/root is 0700;
  # rather than loosen it, fall back to a dir under postgres' own home and
  # leave a symlink in the state dir so it is still easy to find.
  if is_root && ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
    PGROOT=/var/lib/postgresql/marketplace-services
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

pg_ready() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 3; }
pg_ours() { [[ -n $PGROOT && -f $PGROOT/data/postmaster.pid ]] && as_pg "$PGBIN/pg_ctl" status -D "$PGROOT/data" >/dev/null 2>&1; }

# SQL (for psql on stdin) that idempotently creates the app role -- with
# CREATEDB so tests may create scratch databases -- and its databases.
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
}

# The app's view: can marketplace/marketplace log in to each database over TCP?
pg_app_ok() {
  local db
  for db in "${PG_DATABASES[@]}"; do
    PGCONNECT_TIMEOUT=3 "$PGBIN/psql" -qAtX "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$db" \
      -c 'select 1' >/dev/null 2>&1 || return 1
  done
}

pg_up() {
  pg_setup_vars
  if pg_ready; then
    if pg_ours; then
      log "postgres: already running on 127.0.0.1:$PG_PORT"
      pg_provision_sql | as_pg "$PGBIN/psql" -qX -v ON_ERROR_STOP=1 -h "$PGROOT/run" -p "$PG_PORT" -U postgres -d postgres >/dev/null
    else
      pg_foreign
    fi
    return 0
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by something that is not PostgreSQL"

  local data="$PGROOT/data"
  if [[ $PGROOT != "$STATE/postgres" && ! -d $STATE/postgres ]]; then
    ln -sfn "$PGROOT" "$STATE/postgres"
  fi
  if [[ ! -f $data/PG_VERSION ]]; then
    log "postgres: initdb $data ($("$PGBIN/postgres" --version))"
    mkdir -p "$PGROOT"
    is_root && chown postgres:postgres "$PGROOT"
    # local socket: trust (admin access for this script); TCP: password.
    as_pg "$PGBIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PGROOT/initdb.log" 2>&1 ||
      { cat "$PGROOT/initdb.log" >&2; die "initdb failed"; }
    as_pg mkdir -p "$PGROOT/run"
    as_pg tee -a "$data/postgresql.conf" >/dev/null <<CONF

# --- scripts/services.sh
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGROOT/run'
CONF
  fi
  local have want=${PGBIN%/bin}
  have=$(<"$data/PG_VERSION")
  [[ ${want##*/} == "$have" ]] ||
    die "cluster in $data is PostgreSQL $have but the newest binaries are ${want##*/}; remove $PGROOT to re-init"

  log "postgres: starting (log: $PGROOT/postgres.log)"
  as_pg "$PGBIN/pg_ctl" start -D "$data" -l "$PGROOT/postgres.log" -w -t 60 >/dev/null ||
    { tail -n 20 "$PGROOT/postgres.log" >&2; die "postgres did not start"; }
  pg_ready || die "postgres started but pg_isready -h 127.0.0.1 -p $PG_PORT fails"
  pg_provision_sql | as_pg "$PGBIN/psql" -qX -v ON_ERROR_STOP=1 -h "$PGROOT/run" -p "$PG_PORT" -U postgres -d postgres >/dev/null
  log "postgres: up on 127.0.0.1:$PG_PORT (data: $data)"
}

# Something else (e.g. a Debian-managed cluster) already serves 5432: use it
# if the role/databases exist, create them if we have superuser access
# through the Debian socket (peer auth as the postgres OS user).
pg_foreign() {
  if pg_app_ok; then
    log "postgres: already running on 127.0.0.1:$PG_PORT (not managed by this script), role and databases OK"
    return 0
  fi
  if is_root; then
    log "postgres: foreign server on $PG_PORT lacks role/databases, creating them as OS user postgres"
    pg_provision_sql | as_pg "$PGBIN/psql" -qX -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres >/dev/null || true
    pg_app_ok && { log "postgres: role $PG_USER and databases ${PG_DATABASES[*]} ready"; return 0; }
  fi
  die "a PostgreSQL not started by this script serves 127.0.0.1:$PG_PORT, but $PG_USER/$PG_PASSWORD cannot log in to ${PG_DATABASES[*]}.
  Either stop it (e.g. pg_ctlcluster 15 main stop) and rerun, or as its superuser run:
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
    CREATE DATABASE marketplace OWNER $PG_USER; CREATE DATABASE marketplace_test OWNER $PG_USER;
  and allow password (md5/scram) auth for 127.0.0.1 in its pg_hba.conf."
}

pg_down() {
  pg_setup_vars
  if pg_ours; then
    log "postgres: stopping"
    as_pg "$PGBIN/pg_ctl" stop -D "$PGROOT/data" -m fast -w -t 60 >/dev/null
  elif pg_ready; then
    log "postgres: running but not started by this script, leaving it alone"
  else
    log "postgres: not running"
  fi
}

pg_status() {
  pg_setup_vars
  if pg_ready; then
    echo "postgres  up    postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/marketplace (and /marketplace_test)"
  else
    echo "postgres  down  127.0.0.1:$PG_PORT"
    return 1
  fi
}

# --------------------------------------------------------------------- main

cmd_up() {
  local t0
  t0=$(date +%s%N)
  mkdir -p "$STATE"
  ensure_packages
  redis_up
  pg_up
  kafka_up
  local ms=$((($(date +%s%N) - t0) / 1000000))
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
