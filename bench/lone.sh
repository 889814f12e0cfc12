#!/usr/bin/env bash
# The lone request (issue 13): one client, one keep-alive connection, one request at a time, against a release server
# on SQLite (fsync per commit). Prints the server's CPU and the round trip per request for GET /health, a single
# POST /api/events and GET /api/jobs/{b}/{j}, each also as a multiple of /health's (`argus-bench lone`,
# Sources/ArgusBench/LoneRequests.swift).
#   bench/lone.sh [REQUESTS=5000] [BASELINE_BINARY]
# ARGUS_BENCH_SERVER=BINARY measures that argus-server as this build (bench/lib.sh).
# With BASELINE_BINARY (an argus-server built from another commit, e.g. by scripts/install.sh into another prefix),
# both servers run side by side and each of the 10 rounds runs every kind on both, in alternating order: a change
# measured against its baseline in the same seconds, which is what the shared machine's drift allows.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
base=${2:-}
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 100 ] || { echo "usage: bench/lone.sh [REQUESTS=5000] [BASELINE_BINARY] (REQUESTS a whole number, at least 100)" >&2; exit 2; }
[ -z "$base" ] || [ -x "$base" ] || { echo "lone: $base is not an executable argus-server." >&2; exit 2; }
source scripts/release-build.sh
for product in argus-server argus-bench; do
  release_build --product $product >/dev/null 2>&1 || { release_build --product $product; exit 1; }
done
source bench/lib.sh
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null && wait $p 2>/dev/null; done; rm -rf "$dir"' EXIT
serve "$dir/this" --data-dir "$dir/this"
pids+=($srv_pid); this=("$srv_url" "$($bin token create --data-dir "$dir/this" --user bench)" "$srv_pid")
echo "command: bench/lone.sh $n${base:+ $base}   (load average $(cut -d' ' -f1 /proc/loadavg))"
if [ -z "$base" ]; then
  echo "server pid ${this[2]}, idle RSS $(rss_mb ${this[2]}) MB"
  .build/release/argus-bench lone "${this[@]}" "$n"
  echo "server RSS after: $(rss_mb ${this[2]}) MB"
  exit 0
fi
bin=$base serve "$dir/base" --data-dir "$dir/base"
pids+=($srv_pid); that=("$srv_url" "$($base token create --data-dir "$dir/base" --user bench)" "$srv_pid")
echo "idle RSS: this build $(rss_mb ${this[2]}) MB, baseline $(rss_mb ${that[2]}) MB"
.build/release/argus-bench lone "${this[@]}" "$n" "${that[@]}"
