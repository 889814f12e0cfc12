#!/usr/bin/env bash
# Load (issue 11): SUBSCRIBERS SSE streams over BATCHES running batches while RATE events/s are ingested into them,
# for SECONDS, on a release server with ARGUS_INGEST_RATE=0. Prints argus-bench load's table: events sent /
# acknowledged / errors, events per subscriber (min/max) and gaps, delivery latency p50/p99/max, server CPU and RSS.
#   bench/load.sh [seconds=60] [subscribers=500] [rate=10000] [batches=50] [events-per-request=50]
# A quick run: bench/load.sh 10 100 2000.  DEBUG=1 uses the debug build; KEEP=1 keeps the temp dir (server log).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60} subs=${2:-500} rate=${3:-10000} batches=${4:-50} per=${5:-50}
dir=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"' EXIT
source scripts/release-build.sh
config=release; [ -n "${DEBUG:-}" ] && config=debug
flags_for $config; bin=.build/$config
for product in argus-server argus-bench; do
  swift build "${build[@]}" --product $product >/dev/null 2>"$dir/build.err" || { cat "$dir/build.err"; exit 1; }
done
# Every stream uses the bench's one token, so the per-token stream cap is lifted; the sweeper and the stall
# detector stay out of the way.
ARGUS_INGEST_RATE=0 ARGUS_INGEST_MB_RATE=0 ARGUS_MAX_STREAMS_PER_TOKEN=100000 ARGUS_MAX_CONNECTIONS=$((subs + 100)) \
  ARGUS_RETENTION_SWEEP_MINUTES=0 \
  $bin/argus-server serve --port 0 --data-dir "$dir/data" >"$dir/out" 2>"$dir/log" &
pid=$!
for _ in $(seq 200); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$dir/out")
token=$($bin/argus-server token create --data-dir "$dir/data" --user bench)
echo "server $url pid $pid ($(nproc) cores, shared with this probe; ARGUS_FSYNC=${ARGUS_FSYNC:-commit}); $secs s, $subs subscribers over $batches batches, $rate events/s in requests of $per"
echo "command: bench/load.sh $secs $subs $rate $batches $per"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
$bin/argus-bench load "$url" "$token" "$pid" "$secs" "$subs" "$rate" "$batches" "$per"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -q "fell behind" "$dir/log"; then echo "server log: $(grep -c 'fell behind' "$dir/log") subscriber(s) dropped for falling behind"; fi
