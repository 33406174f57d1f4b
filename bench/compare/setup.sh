#!/usr/bin/env bash
# Idempotent setup for the anchor benchmark: installs Debian's redis-server and
# postgresql, starts them bound to 127.0.0.1 only, creates the `bench` database
# (role root, password "bench" for TCP loopback logins) and applies River's
# migrations via the harness itself (rivermigrate package).
#
# Safe to rerun: every step checks whether it is already done.
# Everything listens on 127.0.0.1 only. Stop the servers with ./stop.sh.
set -euo pipefail
cd "$(dirname "$0")"
export PATH=/usr/local/go/bin:$PATH

STATE=/tmp/bench-compare-state          # pid files and Redis working dirs
REDIS_PORT=6379                    # no persistence (RDB snapshots off, AOF off)
REDIS_AOF_PORT=6380                # AOF on, appendfsync everysec (durability variant)
PG_DB=bench
PG_PASS=bench
mkdir -p "$STATE"

# --- packages ---------------------------------------------------------------
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
ls -d /etc/postgresql/*/main >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi

# --- Redis (two instances, loopback only) -----------------------------------
start_redis() { # port, extra args...
  local port=$1; shift
  if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
    echo "redis on 127.0.0.1:$port already running"
    return
  fi
  mkdir -p "$STATE/redis-$port"
  rm -f "$STATE/redis-$port"/*.aof "$STATE/redis-$port"/appendonlydir/* 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" \
    --dir "$STATE/redis-$port" --pidfile "$STATE/redis-$port.pid" \
    --logfile "$STATE/redis-$port.log" "$@"
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p "$port" ping
  echo "redis on 127.0.0.1:$port started, pid $(cat "$STATE/redis-$port.pid")"
}
start_redis "$REDIS_PORT" --appendonly no
start_redis "$REDIS_AOF_PORT" --appendonly yes --appendfsync everysec

# --- PostgreSQL (Debian cluster "main", loopback only, default tuning) --------
PGVER=$(ls /etc/postgresql | sort -V | tail -1)
CONF_D=/etc/postgresql/$PGVER/main/conf.d
mkdir -p "$CONF_D"
if ! grep -qs "listen_addresses = '127.0.0.1'" "$CONF_D/bench.conf"; then
  printf "# benchanchors: loopback only\nlisten_addresses = '127.0.0.1'\n" > "$CONF_D/bench.conf"
fi
if ! pg_ctlcluster "$PGVER" main status >/dev/null 2>&1; then
  pg_ctlcluster "$PGVER" main start
  touch "$STATE/pg-started-by-setup"   # stop.sh stops only a cluster this script started
fi
for _ in $(seq 50); do
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname='root'\"" | grep -q 1 \
  || su postgres -c "createuser -s root"
psql -d postgres -qAtc "alter role root password '$PG_PASS'" >/dev/null
psql -d postgres -qAtc "select 1 from pg_database where datname='$PG_DB'" | grep -q 1 \
  || createdb "$PG_DB"
echo "postgres $PGVER running: $(psql -d "$PG_DB" -qAtc 'show listen_addresses') pid $(head -1 /var/run/postgresql/$PGVER-main.pid)"

# --- River migrations (rivermigrate, run through the harness) ----------------
go run . -migrate-only -pg-dsn "postgres://root:$PG_PASS@127.0.0.1:5432/$PG_DB?sslmode=disable"
echo "setup done"
