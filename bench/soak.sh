#!/usr/bin/env bash
# A lab on one box (issue 13; on replicas, issue 12): RUNS simulated training runs reporting the way the SDK does
# (one single POST a second each, a resource snapshot every 30 s, a stop-requested poll every 10 s, each run on its own
# keep-alive connection) and VIEWERS SSE viewers, for SECONDS, against release servers. Prints a row per minute
# (server CPU, RSS, ingest and delivery p99, database size) and the totals (`argus-bench soak`, Sources/ArgusBench/Soak.swift).
#   bench/soak.sh [SECONDS=600] [RUNS=1000] [VIEWERS=100]                  one server on SQLite (fsync per commit)
#   bench/soak.sh --replicas N [SECONDS=600] [RUNS=1000] [VIEWERS=100]     N replicas on one PostgreSQL (a throwaway
#                                                                          cluster, scripts/pg-cluster.sh); viewers
#                                                                          watch runs reporting to another replica
# The servers run with bench/lib.sh's settings (one token for every run and viewer, so no per-token stream cap or
# ingest rate limit); everything else is the default, ARGUS_MAX_CONNECTIONS too unless RUNS + VIEWERS need more.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
  echo "usage: bench/soak.sh [--replicas N] [SECONDS=600] [RUNS=1000] [VIEWERS=100]   (whole numbers: SECONDS >= 5," >&2
  echo "       RUNS >= 1, 0 <= VIEWERS <= RUNS, N >= 1; --replicas goes first)" >&2
  exit 2
}
num() { [[ "$1" =~ ^[0-9]+$ ]]; }
replicas=0
if [ "${1:-}" = --replicas ]; then
  num "${2:-}" && [ "$2" -ge 1 ] || usage
  replicas=$2
  shift 2
fi
[ $# -le 3 ] || usage
secs=${1:-600} runs=${2:-1000} viewers=${3:-100}
num "$secs" && num "$runs" && num "$viewers" && [ "$secs" -ge 5 ] && [ "$runs" -ge 1 ] && [ "$viewers" -le "$runs" ] || usage
# Every run and viewer holds a connection: the servers' cap must hold them (the default, 4096, holds the lab).
per_server=$(((runs + viewers) / (replicas > 0 ? replicas : 1) + 64))
[ $per_server -gt 4096 ] && export ARGUS_MAX_CONNECTIONS=$per_server
source scripts/release-build.sh
for product in argus-server argus-bench; do
  release_build --product $product >/dev/null 2>&1 || { release_build --product $product; exit 1; }
done
source bench/lib.sh
dir=$(mktemp -d)
servers=() pg_started=0 db=
cleanup() {
  [ ${#servers[@]} -gt 0 ] && kill "${servers[@]}" 2>/dev/null && wait "${servers[@]}" 2>/dev/null
  if [ $replicas -gt 0 ]; then
    if [ $pg_started = 1 ]; then scripts/pg-cluster.sh stop; else psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null || true; fi
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
urls=()
if [ $replicas -eq 0 ]; then
  serve "$dir/s" --data-dir "$dir/s"
  servers=($srv_pid) urls=($srv_url)
  export ARGUS_TOKEN=$($bin token create --data-dir "$dir/s" --user lab)
  export ARGUS_BENCH_DB_SIZE="cat $dir/s/argus.sqlite* 2>/dev/null | wc -c"
  what="1 server on SQLite"
else
  scripts/pg-cluster.sh url >/dev/null 2>&1 || pg_started=1
  admin=$(scripts/pg-cluster.sh start)
  postmaster=$(head -1 "$(cat .build/pg/dir)/data/postmaster.pid")
  db=argus_soak_$$
  psql -q "$admin" -c "CREATE DATABASE $db"
  url=${admin%/postgres}/$db
  for i in $(seq "$replicas"); do
    serve "$dir/r$i" --database-url "$url"
    servers+=($srv_pid) urls+=($srv_url)
  done
  export ARGUS_TOKEN=$($bin token create --database-url "$url" --user lab)
  export ARGUS_BENCH_DB_SIZE="psql -At '$url' -c \"SELECT pg_database_size('$db')\""
  what="$replicas replicas on one PostgreSQL"
fi
# The cluster's CPU (postmaster and backends, exited ones included via cutime/cstime), read before and after.
cluster_ticks() { if [ $replicas -gt 0 ]; then cpu_ticks $(cluster_pids $postmaster); else echo 0; fi; }
echo "command: bench/soak.sh $([ $replicas -gt 0 ] && echo "--replicas $replicas ")$secs $runs $viewers   ($what; $(nproc) cores shared with the probe$([ $replicas -gt 0 ] && echo " and PostgreSQL"))"
c0=$(cluster_ticks) t0=$(date +%s.%N)
.build/release/argus-bench soak "$(IFS=,; echo "${urls[*]}")" "$ARGUS_TOKEN" "$(IFS=,; echo "${servers[*]}")" "$secs" "$runs" "$viewers"
c1=$(cluster_ticks) t1=$(date +%s.%N)
if [ $replicas -gt 0 ]; then
  awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$t1" \
    'BEGIN {printf "%-50s%.0f %%\n", "PostgreSQL CPU average (% of one core)", 100 * c / hz / (t1 - t0)}'
fi
