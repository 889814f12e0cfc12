#!/usr/bin/env bash
# Retention sweep under ingest load (issue 5): 1,000,000 expired log lines are swept while 4 clients keep
# posting 50-event batches every 50 ms (4,000 events/s). Ingest latency is measured from each request's
# scheduled send time. Two rows: the server's own sweeper, and `argus-server retention sweep` run beside it.
#   bench/sweep.sh [lines=1000000]        (KEEP=1 keeps the temp dir with the server log and latency CSVs)
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
source scripts/release-build.sh
release_build --product argus-server >/dev/null
release_build --product argus-bench >/dev/null
bin=.build/release/argus-server
bench=.build/release/argus-bench
dir=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
start_server() { # extra env...
  env ARGUS_INGEST_RATE=0 ARGUS_INGEST_MB_RATE=0 "$@" $bin serve --port 0 --data-dir "$dir/data" >"$dir/out" 2>"$dir/log" &
  pid=$!
  for _ in $(seq 200); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
  url=$(grep -o 'http://[0-9.:]*' "$dir/out")
}
size_mb() { du -m --apparent-size "$dir/data/argus.sqlite" | cut -f1; }
stats() { # csv from to -> "p50 p99 max n errors"
  python3 - "$@" <<'PY'
import sys
rows=[l.split(',') for l in open(sys.argv[1]) if l.strip()]
a,b=float(sys.argv[2]),float(sys.argv[3])
lat=sorted(float(r[1]) for r in rows if a<=float(r[0])<=b)
err=sum(1 for r in rows if a<=float(r[0])<=b and r[2].strip()!='200')
q=lambda p: lat[min(len(lat)-1,int(p*len(lat)))] if lat else float('nan')
print(f"{q(.5):.1f} {q(.99):.1f} {max(lat) if lat else float('nan'):.1f} {len(lat)} {err}")
PY
}
phase_stats() { # N csv t0 t1: sets p50_N p99_N max_N n_N err_N (during), bp99_N bmax_N (before), ap99_N amax_N (3 s after)
  local k=$1 csv=$2 a=$3 b=$4 x
  read -r "p50_$k" "p99_$k" "max_$k" "n_$k" "err_$k" <<<"$(stats "$csv" "$a" "$b")"
  read -r x "bp99_$k" "bmax_$k" x x <<<"$(stats "$csv" 0 "$(python3 -c "print($a - 0.5)")")"
  read -r x "ap99_$k" "amax_$k" x x <<<"$(stats "$csv" "$b" "$(python3 -c "print($b + 3)")")"
}

# 1. The server's own sweeper: fill with the sweeper off, restart with it on (first sweep 10 s after start).
start_server ARGUS_RETENTION_SWEEP_MINUTES=0
token=$($bin token create --data-dir "$dir/data" --user bench)
$bench fill "$url" "$token" "$lines" 30
kill $pid; wait $pid 2>/dev/null || true
size_before_1=$(size_mb)
start_server ARGUS_RETENTION_SWEEP_MINUTES=600
rm -f "$dir/stop"
$bench ingest-load "$url" "$token" "$dir/load1.csv" "$dir/stop" 4 50 50 & load=$!
for _ in $(seq 600); do grep -q "retention sweep deleted" "$dir/log" && break; sleep 0.5; done
sleep 3; touch "$dir/stop"; wait $load
line=$(grep "retention sweep deleted" "$dir/log" | head -1)
secs1=$(sed 's/.* in \([0-9.]*\) s (started.*/\1/' <<<"$line")
started=$(sed 's/.*(started \([^)]*\)).*/\1/' <<<"$line")
t0=$(python3 -c "import datetime,sys; print(datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00')).timestamp())" "$started")
t1=$(python3 -c "print($t0 + $secs1)")
phase_stats 1 "$dir/load1.csv" "$t0" "$t1"
freed_1=$(sed 's/.*; \([0-9]*\) MB returned.*/\1/' <<<"$line")
deleted_1=$(sed 's/.*deleted \([0-9]*\) log_line.*/\1/' <<<"$line")
size_after_1=$(size_mb)

# 2. The CLI beside the running server.
$bench fill "$url" "$token" "$lines" 30
size_before_2=$(size_mb)
rm -f "$dir/stop"
$bench ingest-load "$url" "$token" "$dir/load2.csv" "$dir/stop" 4 50 50 & load=$!
sleep 3
t0=$(date +%s.%N)
cli=$($bin retention sweep --data-dir "$dir/data")
t1=$(date +%s.%N)
sleep 3.5; touch "$dir/stop"; wait $load
secs2=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
phase_stats 2 "$dir/load2.csv" "$t0" "$t1"
freed_2=$(sed -n 's/.*; \([0-9.]*\) MB returned.*/\1/p' <<<"$cli")
deleted_2=$(awk '$1=="log_line"{print $4}' <<<"$cli")
size_after_2=$(size_mb)

printf '\n%-48s %14s %14s %10s\n' "sweep of $lines expired log lines" "in-process" "CLI beside" "target"
printf '%-48s %14s %14s %10s\n' "log lines deleted" "$deleted_1" "$deleted_2" ""
printf '%-48s %14s %14s %10s\n' "sweep total time (s)" "$secs1" "$secs2" ""
printf '%-48s %14s %14s %10s\n' "ingest p99 during the sweep (ms)" "$p99_1" "$p99_2" "< 100"
printf '%-48s %14s %14s %10s\n' "  p50 / max during the sweep (ms)" "$p50_1 / $max_1" "$p50_2 / $max_2" ""
printf '%-48s %14s %14s %10s\n' "  requests during the sweep / non-2xx" "$n_1 / $err_1" "$n_2 / $err_2" ""
printf '%-48s %14s %14s %10s\n' "ingest p99 / max before the sweep (ms)" "$bp99_1 / $bmax_1" "$bp99_2 / $bmax_2" ""
printf '%-48s %14s %14s %10s\n' "ingest p99 / max in the 3 s after (ms)" "$ap99_1 / $amax_1" "$ap99_2 / $amax_2" ""
printf '%-48s %14s %14s %10s\n' "space returned by incremental vacuum (MB)" "${freed_1:-0}" "${freed_2:-0}" ""
printf '%-48s %14s %14s %10s\n' "database file before / after (MB)" "$size_before_1 / $size_after_1" "$size_before_2 / $size_after_2" ""
echo
echo "load: 4 clients x 50 events every 50 ms (4,000 events/s); latency from the scheduled send time"
