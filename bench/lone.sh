#!/usr/bin/env bash
# The lone request (issue 13): one client, one keep-alive connection, one request at a time, against a release server
# on SQLite (fsync per commit). Prints the server's CPU and the round trip per request for GET /health, a single
# POST /api/events and GET /api/jobs/{b}/{j}, each also as a multiple of /health's (`argus-bench lone`,
# Sources/ArgusBench/LoneRequests.swift).
#   bench/lone.sh [REQUESTS=5000]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 100 ] || { echo "usage: bench/lone.sh [REQUESTS=5000] (a whole number, at least 100)" >&2; exit 2; }
for product in argus-server argus-bench; do
  swift build -c release --product $product >/dev/null 2>&1 || { swift build -c release --product $product; exit 1; }
done
source bench/lib.sh
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
serve "$dir" --data-dir "$dir"
pid=$srv_pid
export ARGUS_TOKEN=$($bin token create --data-dir "$dir" --user bench)
echo "command: bench/lone.sh $n   (server pid $pid, idle RSS $(rss_mb $pid) MB; load average $(cut -d' ' -f1 /proc/loadavg))"
.build/release/argus-bench lone "$srv_url" "$ARGUS_TOKEN" "$pid" "$n"
echo "server RSS after: $(rss_mb $pid) MB"
