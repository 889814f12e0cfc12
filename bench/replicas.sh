#!/usr/bin/env bash
# Replicas (issue 12): the same measurements, in one run, on SQLite (one server, fsync per commit and
# ARGUS_FSYNC=checkpoint) and on PostgreSQL with 1 and with 2 replicas sharing one database (a throwaway cluster from
# scripts/pg-cluster.sh, fsync=off, one fresh database per configuration). Prints one table:
#   - batched ingest (bench/batch.lua, 500 events/request, 4 connections) and single-event ingest (bench/single.lua,
#     32 connections); with 2 replicas the connections are split, half on each, concurrently. Events/s are rows
#     stored (counted in the database), not requests;
#   - CPU per event: utime+stime of every argus-server and every process of the cluster (/proc/PID/stat, over the
#     run) / events stored (and PostgreSQL's part), and that CPU as a share of all cores;
#   - group commits: average events and time per commit (the servers' /metrics);
#   - SSE delivery p50/p99/max to 100 subscribers (on replica 2 while the events are posted to replica 1);
#   - RSS of each server at the end (and the cluster's PSS).
#   bench/replicas.sh [seconds-per-wrk-run=10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
subs=100 sse_events=300
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
source scripts/release-build.sh
for product in argus-server argus-bench; do
  release_build --product $product >/dev/null 2>&1 || { release_build --product $product; exit 1; }
done
source bench/lib.sh
dir=$(mktemp -d)
servers=() pg_started=0 pg_dbs=()
cleanup() {
  [ ${#servers[@]} -gt 0 ] && kill "${servers[@]}" 2>/dev/null && wait "${servers[@]}" 2>/dev/null
  if [ $pg_started = 1 ]; then
    scripts/pg-cluster.sh stop
  else # a cluster this worktree already ran: leave it, without our databases
    for db in "${pg_dbs[@]}"; do psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null || true; done
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
scripts/pg-cluster.sh url >/dev/null 2>&1 || pg_started=1
admin=$(scripts/pg-cluster.sh start)
postmaster=$(head -1 "$(cat .build/pg/dir)/data/postmaster.pid")
hz=$(getconf CLK_TCK) cores=$(nproc)

# The cluster's processes (on PostgreSQL; none on SQLite): the postmaster and its children.
cluster() { [ $cfg_pg = 1 ] && cluster_pids $postmaster || true; }
# commits: group commits' summed sizes, count and seconds over the configuration's servers (their /metrics).
commits() {
  local u
  for u in "${cfg_urls[@]}"; do curl -sf "$u/metrics"; done |
    awk '/^argus_commit_group_size_sum/{g += $2} /^argus_commit_seconds_sum/{s += $2} /^argus_commit_seconds_count/{n += $2}
         END {printf "%d %d %.6f\n", g, n, s}'
}

# load SCRIPT CONNECTIONS: wrk on every server of the configuration at once, the connections (and wrk's 2 threads)
# split between them. Sets rate (events stored per second), cpu_us (CPU µs per event: all, PostgreSQL's part),
# cpu_pct (of all cores), lat (wrk's average request latency per server), errs (non-2xx and socket errors, summed),
# group (events per group commit, and its average time).
load() {
  local script=$1 conns=$2 n=${#cfg_urls[@]} i e0 e1 c0 c1 p0 p1 m0 m1 w=()
  e0=$(count) m0=$(commits)
  c0=$(cpu_ticks "${cfg_pids[@]}") p0=$(cpu_ticks $(cluster))
  for i in "${!cfg_urls[@]}"; do
    ARGUS_BENCH_THREAD_BASE=$((100 * i)) \
      wrk -t$((2 / n)) -c$((conns / n)) -d${secs}s -s "bench/$script" "${cfg_urls[$i]}" >"$dir/wrk.$i" &
    w+=($!)
  done
  wait "${w[@]}"
  c1=$(cpu_ticks "${cfg_pids[@]}") p1=$(cpu_ticks $(cluster))
  e1=$(count) m1=$(commits)
  rate=$(((e1 - e0) / secs))
  # Over the run's seconds: before the timer starts, wrk's Lua builds its request bodies while the servers idle.
  read -r cpu_us cpu_pct < <(awk -v c=$((c1 - c0 + p1 - p0)) -v p=$((p1 - p0)) -v hz=$hz -v e=$((e1 - e0)) \
    -v t=$secs -v k=$cores 'BEGIN {s = c / hz; e += !e; printf "%.0f/%.0f %.0f%%\n", s * 1e6 / e, p / hz * 1e6 / e, 100 * s / (t * k)}')
  group=$(awk -v a="$m0" -v b="$m1" 'BEGIN {split(a, x); split(b, y); n = y[2] - x[2]; n += !n
    printf "%.0f / %.1f ms\n", (y[1] - x[1]) / n, (y[3] - x[3]) * 1000 / n}')
  lat=$(for i in "${!cfg_urls[@]}"; do awk '/Latency/{print $2}' "$dir/wrk.$i"; done | paste -sd/)
  errs=$(cat "$dir"/wrk.* | awk '/Non-2xx/{n += $NF} /Socket errors/{gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}')
  rm -f "$dir"/wrk.*
}

declare -A R
configs=(sqlite sqlite_ckpt pg1 pg2)
# run CONFIG: measures the running configuration (cfg_urls, cfg_pids, cfg_pg, count, ARGUS_TOKEN) into R[row,CONFIG].
run() {
  local c=$1 sse post=()
  echo "$c: ${cfg_urls[*]} (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
  load batch.lua 4
  R[batch,$c]=$rate R[batch_cpu,$c]="$cpu_us" R[batch_pct,$c]=$cpu_pct R[batch_lat,$c]=$lat R[batch_err,$c]=$errs R[batch_grp,$c]=$group
  load single.lua 32
  R[single,$c]=$rate R[single_cpu,$c]="$cpu_us" R[single_pct,$c]=$cpu_pct R[single_lat,$c]=$lat R[single_err,$c]=$errs R[single_grp,$c]=$group
  # Subscribers on the last server, events posted to the first: across replicas when there are two.
  [ ${#cfg_urls[@]} -gt 1 ] && post=(--post-url "${cfg_urls[0]}")
  sse=$(.build/release/argus-bench sse-latency "${cfg_urls[-1]}" "$ARGUS_TOKEN" $subs $sse_events "${post[@]}")
  R[sse,$c]=$(sed 's/.*p50_ms=\([0-9.]*\).*p99_ms=\([0-9.]*\).*max_ms=\([0-9.]*\).*/\1\/\2\/\3/' <<<"$sse")
  R[sse_n,$c]=$(sed 's/.*deliveries=\([0-9]*\).*/\1/' <<<"$sse")
  local p rss=()
  for p in "${cfg_pids[@]}"; do rss+=("$(rss_mb $p)"); done
  R[rss,$c]=$(IFS=/; echo "${rss[*]}")
  R[pss,$c]=-
  [ $cfg_pg = 1 ] && R[pss,$c]=$(for p in $(cluster); do cat /proc/$p/smaps_rollup 2>/dev/null || true; done | awk '/^Pss:/{s += $2} END {print int(s / 1024)}')
  kill "${cfg_pids[@]}"
  wait "${cfg_pids[@]}" 2>/dev/null || true
  servers=()
}

# SQLite: one server, fsync per commit (the default), then ARGUS_FSYNC=checkpoint.
for c in sqlite sqlite_ckpt; do
  d="$dir/$c"
  if [ $c = sqlite_ckpt ]; then ARGUS_FSYNC=checkpoint serve "$d" --data-dir "$d"; else serve "$d" --data-dir "$d"; fi
  servers=($srv_pid) cfg_pids=($srv_pid) cfg_urls=($srv_url) cfg_pg=0
  export ARGUS_TOKEN=$($bin token create --data-dir "$d" --user bench)
  count() { sqlite_events "$d"; }
  run $c
done

# PostgreSQL: a fresh database each, 1 then 2 replicas on it.
for n in 1 2; do
  c=pg$n db=argus_bench_${$}_$c
  psql -q "$admin" -c "CREATE DATABASE $db"
  pg_dbs+=($db)
  url=${admin%/postgres}/$db
  servers=() cfg_urls=()
  for i in $(seq $n); do
    serve "$dir/$c.$i" --database-url "$url"
    servers+=($srv_pid) cfg_urls+=($srv_url)
  done
  cfg_pids=("${servers[@]}") cfg_pg=1
  export ARGUS_TOKEN=$($bin token create --database-url "$url" --user bench)
  count() { psql -At "$url" -c 'SELECT count(*) FROM events'; }
  run $c
done

row() { printf '%-46s' "$1"; for c in "${configs[@]}"; do printf ' %17s' "${R[$2,$c]}"; done; echo; }
echo
echo "command: bench/replicas.sh $secs   ($cores cores shared by the servers, the cluster and wrk; load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-46s %17s %17s %17s %17s\n' "measure" "SQLite" "SQLite ckpt" "PG 1 replica" "PG 2 replicas"
row "batch ingest events/s stored (500/req, 4 conn)" batch
row "  CPU µs per event: all / PostgreSQL's part" batch_cpu
row "  CPU, % of $cores cores" batch_pct
row "  avg request latency (per server)" batch_lat
row "  non-2xx responses + socket errors" batch_err
row "  group commit: avg events / avg time" batch_grp
row "single ingest events/s stored (32 conn)" single
row "  CPU µs per event: all / PostgreSQL's part" single_cpu
row "  CPU, % of $cores cores" single_pct
row "  avg request latency (per server)" single_lat
row "  non-2xx responses + socket errors" single_err
row "  group commit: avg events / avg time" single_grp
row "SSE p50/p99/max ms, $subs subscribers" sse
row "  deliveries (of $((subs * sse_events)))" sse_n
row "server RSS at the end (MB, per replica)" rss
row "PostgreSQL cluster PSS at the end (MB)" pss
cat <<EOF
SQLite: ARGUS_FSYNC=commit (the default; every group commit waits for fsync), "ckpt": ARGUS_FSYNC=checkpoint.
PostgreSQL: a throwaway cluster with fsync=off (scripts/pg-cluster.sh), so its figures carry no fsync at all.
2 replicas: wrk on each with half the connections at once; SSE subscribers on replica 2, events posted to replica 1.
All servers: ARGUS_INGEST_RATE=0 ARGUS_RETENTION_SWEEP_MINUTES=0 (bench/lib.sh). Events/s = rows stored / $secs s.
EOF
