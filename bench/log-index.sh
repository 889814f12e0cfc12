#!/usr/bin/env bash
# What ordering log lines by time costs ingest: the partial index `events_log_job_ts` (LogOrderIndexes) on SQLite.
#   bench/log-index.sh [rounds=6] [lines=200000]
# Makes the database the way the server does (its own migrations, by starting it once), then inserts LINES log
# lines, 500 per commit with fsync (the server's statement, random event ids as the SDK makes them), into copies of it:
# without the index, with it (as shipped), and with a second, batch-wide one beside it (the variant that was dropped).
# Rounds interleave the variants; it prints the median CPU and wall time of each. SQLite's own time only: the rows are
# built before the clock starts. Any argus-server will do (ARGUS_BENCH_SERVER, else the debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-6}
lines=${2:-200000}
bin=${ARGUS_BENCH_SERVER:-.build/debug/argus-server}
[ -x "$bin" ] || swift build --product argus-server >/dev/null
tmp=$(mktemp -d /tmp/argus-log-index.XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$bin" serve --host 127.0.0.1 --port 0 --data-dir "$tmp/data" >"$tmp/out" 2>"$tmp/log" &
pid=$!
for _ in $(seq 200); do grep -q listening "$tmp/out" 2>/dev/null && break; sleep 0.05; done
kill "$pid"
wait "$pid" 2>/dev/null || true
python3 - "$tmp/data/argus.sqlite" "$rounds" "$lines" <<'PY'
import os, shutil, sqlite3, statistics, sys, time, uuid
src, rounds, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = ('{"event_id":"x","schema_version":"1.1","event_type":"log_line","timestamp":"2026-12-07T10:00:00Z",'
        '"batch_id":"b","job_id":"j","source":{},"data":{"line":"step 1234: loss 0.123 lr 3e-4","level":"info"}}')
commits = [[(str(uuid.uuid4()), f"b{k % 4}", f"j{i % 8}", "log_line", 1_700_000_000_000_000 + i * 1000, i, body)
            for i in range(k * 500, min((k + 1) * 500, lines))] for k in range((lines + 499) // 500)]
variants = {
    "none": ["DROP INDEX events_log_job_ts"],
    "one (batch_id, job_id, ts_us, id), as shipped": [],
    "two (plus batch-wide (batch_id, ts_us, id))": [
        "CREATE INDEX events_log_batch_ts ON events(batch_id, ts_us, id) WHERE event_type = 'log_line'"],
}
def run(statements):
    db = src + ".copy"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix): os.remove(db + suffix)
    shutil.copy(src, db)
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=FULL")
    for s in statements: c.execute(s)
    cpu, wall = time.process_time(), time.time()
    for rows in commits:
        c.execute("BEGIN")
        c.executemany("INSERT INTO events(event_id, batch_id, job_id, event_type, ts_us, received_us, body) "
                      "VALUES (?,?,?,?,?,?,?)", rows)
        c.execute("COMMIT")
    out = (time.process_time() - cpu, time.time() - wall)
    c.close()
    return out
names = list(variants)
got = {n: [] for n in names}
for r in range(rounds):
    for n in (names if r % 2 == 0 else names[::-1]):
        got[n].append(run(variants[n]))
base = statistics.median(c for c, _ in got[names[0]])
print(f"{lines:,} log lines, 500 per commit, fsync each; median of {rounds} interleaved rounds")
print(f"| log-order indexes | CPU s | vs none | wall s |")
print(f"|---|---|---|---|")
for n in names:
    cpu = statistics.median(c for c, _ in got[n]); wall = statistics.median(w for _, w in got[n])
    print(f"| {n} | {cpu:.2f} | {100 * (cpu / base - 1):+.0f} % | {wall:.2f} |")
PY
