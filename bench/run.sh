#!/usr/bin/env bash
# Server benchmarks (targets from issue 2). Builds release, runs the server on a temp dir, and prints a table.
#   bench/run.sh [seconds-per-wrk-run]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
source scripts/release-build.sh
release_build --product argus-server >/dev/null
release_build --product argus-bench >/dev/null
source bench/lib.sh
dir=$(mktemp -d)
pid= pid2=
trap 'kill $pid $pid2 2>/dev/null || true; rm -rf "$dir"' EXIT
serve "$dir" --data-dir "$dir"
pid=$srv_pid url=$srv_url
export ARGUS_TOKEN=$($bin token create --data-dir "$dir" --user bench)
events() { sqlite_events "$dir"; }
rss() { rss_mb $pid; }
peak() { peak_mb $pid; }
echo "server $url  pid $pid  idle RSS $(rss) MB"
e0=$(events)
b=$(wrk -t2 -c4 -d${secs}s -s bench/batch.lua "$url" | tee "$dir/wrk-batch")
b_rps=$(awk '/Requests\/sec/{print $2}' <<<"$b"); b_lat=$(awk '/Latency/{print $2}' <<<"$b"); b_err=$(grep -c Non-2xx <<<"$b" || true)
rss_after_batch=$(rss)
e1=$(events)
# The ceiling, in the same run: the rows the batch run stored, inserted again through SQLite's C API alone (the
# server's statement, 500 per commit, fsync per commit) into an empty copy of the events table; then without the
# dedupe key, and with random UUIDs for event ids (the SDK's; the bench's own ids follow insertion order).
raw=$(.build/release/argus-bench raw-sqlite "$dir/argus.sqlite" 500)
raw_eps=$(awk -F'events_per_s=' '/^rows=/{print int($2)}' <<<"$raw")
raw_unkeyed=$(awk -F'events_per_s=' '/^without_dedupe_key/{print int($2)}' <<<"$raw")
raw_random=$(awk -F'events_per_s=' '/^random_uuid_event_ids/{print int($2)}' <<<"$raw")
s=$(wrk -t2 -c32 -d${secs}s -s bench/single.lua "$url" | tee "$dir/wrk-single")
s_rps=$(awk '/Requests\/sec/{print $2}' <<<"$s"); s_lat=$(awk '/Latency/{print $2}' <<<"$s"); s_err=$(grep -c Non-2xx <<<"$s" || true)
rss_after_single=$(rss)
e2=$(events)
lat=$(.build/release/argus-bench sse-latency "$url" "$ARGUS_TOKEN" 100 300)
printf '\n%-44s %14s %14s\n' "measure" "result" "target"
printf '%-44s %14s %14s\n' "batch ingest events/s stored (500/req, 4 cl.)" "$(( (e1 - e0) / secs ))" ">= 150000"
printf '%-44s %14s %14s\n' "  avg request latency / non-2xx responses" "$b_lat / $b_err" ""
printf '%-44s %14s %14s\n' "  raw SQLite inserts of the same rows (ev/s)" "$raw_eps" ""
printf '%-44s %14s %14s\n' "    the same without the dedupe key (ev/s)" "$raw_unkeyed" ""
printf '%-44s %14s %14s\n' "    the same, random UUIDs (as the SDK sends)" "$raw_random" ""
printf '%-44s %14s %14s\n' "  batch ingest as % of raw SQLite" "$(( (e1 - e0) * 100 / secs / raw_eps ))%" ">= 50%"
printf '%-44s %14s %14s\n' "single ingest events/s (32 clients)" "$(( (e2 - e1) / secs ))" ">= 5000"
printf '%-44s %14s %14s\n' "  avg request latency / non-2xx responses" "$s_lat / $s_err" ""
printf '%-44s %14s %14s\n' "SSE p99 latency, 100 subscribers (ms)" "$(sed 's/.* p99_ms=\([0-9.]*\).*/\1/' <<<"$lat")" "< 20"
printf '%-44s %14s %14s\n' "  p50 / max / poster's POST p99 (ms)" "$(sed 's/.*p50_ms=\([0-9.]*\).*max_ms=\([0-9.]*\).*post_rtt_p99_ms=\([0-9.]*\).*/\1 \/ \2 \/ \3/' <<<"$lat")" ""
printf '%-44s %14s %14s\n' "RSS after batch / single runs (MB)" "$rss_after_batch / $rss_after_single" "< 100"
printf '%-44s %14s %14s\n' "peak RSS over the whole run (MB)" "$(peak)" "< 100"
printf '%-44s %14s %14s\n' "events stored (batch run / single run)" "$((e1 - e0)) / $((e2 - e1))" ""
printf '%-44s %14s %14s\n' "  wrk requests/s (batch / single)" "$b_rps / $s_rps" ""

# What fsync per commit costs (ARGUS_FSYNC=commit, the default, above): the same two ingest runs on a server that
# leaves fsync to checkpoints.
dir2="$dir/relaxed"; mkdir -p "$dir2"
ARGUS_FSYNC=checkpoint serve "$dir2" --data-dir "$dir2"
pid2=$srv_pid url2=$srv_url
export ARGUS_TOKEN=$($bin token create --data-dir "$dir2" --user bench)
events2() { sqlite_events "$dir2"; }
f0=$(events2); wrk -t2 -c4 -d${secs}s -s bench/batch.lua "$url2" >/dev/null; f1=$(events2)
wrk -t2 -c32 -d${secs}s -s bench/single.lua "$url2" >/dev/null; f2=$(events2)
printf '%-44s %14s %14s
' "fsync per commit vs at checkpoints: batch ev/s" "$(( (e1 - e0) / secs )) / $(( (f1 - f0) / secs ))" ""
printf '%-44s %14s %14s
' "  single ev/s (ARGUS_FSYNC=commit / checkpoint)" "$(( (e2 - e1) / secs )) / $(( (f2 - f1) / secs ))" ""
