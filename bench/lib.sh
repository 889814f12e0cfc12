# Sourced by bench/run.sh and bench/replicas.sh: start a release server the benchmarks' way, read figures off it.
# ARGUS_BENCH_SERVER: another argus-server to measure as "this build" (an installed one, say: scripts/install.sh).
bin=${ARGUS_BENCH_SERVER:-.build/release/argus-server}

# serve OUT [serve options…]: starts `argus-server serve --port 0 OPTIONS` in the background, its stdout and stderr in
# OUT/out and OUT/log, waits until it listens, and sets srv_pid and srv_url. No ingest rate limit and no retention
# sweeper (the batch bench's events carry fixed, months-old timestamps), and no per-token stream cap (every SSE
# subscriber uses the bench's one token). Extra ARGUS_* settings: put them before the call.
serve() {
  local out=$1
  shift
  mkdir -p "$out"
  ARGUS_INGEST_RATE=0 ARGUS_INGEST_MB_RATE=0 ARGUS_RETENTION_SWEEP_MINUTES=0 ARGUS_MAX_STREAMS_PER_TOKEN=100000 \
    $bin serve --port 0 "$@" >"$out/out" 2>"$out/log" &
  srv_pid=$!
  for _ in $(seq 200); do grep -q listening "$out/out" 2>/dev/null && break; sleep 0.05; done
  srv_url=$(grep -o 'http://[0-9.:]*' "$out/out") || { echo "argus-server did not start:" >&2; cat "$out/log" >&2; exit 1; }
}

# sqlite_events DIR: rows in the events table of the SQLite database in DIR (read-only).
sqlite_events() {
  python3 -c "import sqlite3; print(sqlite3.connect('file:$1/argus.sqlite?mode=ro', uri=True).execute('select count(*) from events').fetchone()[0])"
}

# rss_mb PID / peak_mb PID: resident set now / at its peak, in MB.
rss_mb() { awk '/VmRSS/{print int($2/1024)}' "/proc/$1/status"; }
peak_mb() { awk '/VmHWM/{print int($2/1024)}' "/proc/$1/status"; }

# cpu_ticks PID…: utime+stime, plus cutime+cstime (for a postmaster: its exited backends, which it reaped).
cpu_ticks() {
  local p
  for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done | awk '{sub(/.*\) /, ""); t += $12 + $13 + $14 + $15} END {print t + 0}'
}
# cluster_pids POSTMASTER_PID: the PostgreSQL cluster's processes (the postmaster and its children).
cluster_pids() { echo "$1"; ps -o pid= --ppid "$1"; }
