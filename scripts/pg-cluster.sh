#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory as the non-root user `postgres`,
# listening on 127.0.0.1 only, on a free port, its unix socket inside that directory, password (SCRAM) login for the
# superuser `argus` with a generated password, fsync off (PG_CLUSTER_FSYNC=on for benchmarks). Idempotent.
#   scripts/pg-cluster.sh start   starts it (unless running) and prints the admin URL
#   scripts/pg-cluster.sh url     prints the admin URL of the running cluster
#   scripts/pg-cluster.sh stop    stops it and deletes its directory
# The URL (postgres://argus:PASS@127.0.0.1:PORT/postgres) is kept in .build/pg/url; the cluster's directory in
# .build/pg/dir. Installs Debian's postgresql (through scripts/deps.sh) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.build/pg
mkdir -p "$state"

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && [ -x "$d/initdb" ] || { echo "pg-cluster: PostgreSQL's initdb is not installed." >&2; exit 1; }
  echo "$d"
}

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

running() {
  [ -f "$state/dir" ] && [ -f "$state/url" ] || return 1
  local dir; dir=$(cat "$state/dir")
  [ -d "$dir/data" ] && as_pg "$(bindir)/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

stop() {
  if [ -f "$state/dir" ]; then
    local dir; dir=$(cat "$state/dir")
    if [ -d "$dir/data" ]; then
      as_pg "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    case "$dir" in /tmp/argus-pg.*) rm -rf "$dir" ;; esac
  fi
  rm -f "$state/dir" "$state/url"
}

start() {
  if running; then cat "$state/url"; return; fi
  stop
  dpkg -s postgresql >/dev/null 2>&1 || scripts/deps.sh
  local bin; bin=$(bindir)
  # The server refuses to run as root: the cluster belongs to `postgres` (the Debian package creates that user).
  local dir; dir=$(mktemp -d /tmp/argus-pg.XXXXXX)
  chmod 755 "$dir"
  local pass; pass=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy' | tr -d '=')
  printf '%s\n' "$pass" >"$dir/pwfile"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir" "$dir/pwfile"
  as_pg "$bin/initdb" -D "$dir/data" -U argus --pwfile="$dir/pwfile" --auth-host=scram-sha-256 \
    --auth-local=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/pwfile"
  local port tries=0
  while :; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 20 -o \
      "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=${PG_CLUSTER_FSYNC:-off} \
       -c max_connections=200" start >/dev/null 2>&1; then
      break
    fi
    tries=$((tries + 1))
    if [ $tries -ge 3 ]; then cat "$dir/server.log" >&2; exit 1; fi
  done
  echo "$dir" >"$state/dir"
  echo "postgres://argus:$pass@127.0.0.1:$port/postgres" >"$state/url"
  cat "$state/url"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) running && cat "$state/url" || { echo "pg-cluster: no cluster is running (scripts/pg-cluster.sh start)." >&2; exit 1; } ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
