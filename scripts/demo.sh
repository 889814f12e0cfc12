#!/usr/bin/env bash
# The demo: argus-server on an embedded SQLite in a temp dir, a simulated training batch, and argus-tui
# attached to its first job. Quit the TUI (q) and everything else stops.
#   DEMO_SPEED=3 DEMO_EPOCHS=60 DEMO_JOBS=3 DEMO_IDLE_MIN=0.15 ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build 2>&1 | grep -E "error|warning: unre|Compiling|Build" | tail -3 || true
bin=$(swift build --show-bin-path)
[ -x "$bin/argus-tui" ] || { echo "demo: the build failed; run 'swift build' to see why." >&2; exit 1; }
dir=$(mktemp -d -t argus-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
# A short idle window so the demo shows the guardrail: the first job's dataloader stalls for a while (--idle).
ARGUS_IDLE_JOB_THRESHOLD_MIN="${DEMO_IDLE_MIN:-0.15}" \
  "$bin/argus-server" serve --port 0 --data-dir "$dir" >"$dir/server.out" 2>"$dir/server.log" &
pids+=($!)
for _ in $(seq 200); do grep -q listening "$dir/server.out" 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$dir/server.out") || { echo "demo: the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
token=$("$bin/argus-server" token create --data-dir "$dir" --user "${USER:-researcher}")
batch="demo-$(date +%H%M%S)"
"$bin/argus-server" simulate --url "$url" --token "$token" --batch-id "$batch" \
  --jobs "${DEMO_JOBS:-3}" --epochs "${DEMO_EPOCHS:-60}" --speed "${DEMO_SPEED:-3}" --fail --idle >"$dir/simulate.log" 2>&1 &
pids+=($!)
job="resnet50-lr3e-4-seed0"
for _ in $(seq 100); do
  curl -sf -H "Authorization: Bearer $token" "$url/api/jobs/$batch/$job" >/dev/null && break; sleep 0.1
done
echo "server $url (data in $dir); opening argus-tui $batch/$job" >&2
echo "the same job in a browser (ssh -L ${url##*:}:127.0.0.1:${url##*:} from your laptop): $url/jobs/$batch/$job#token=$token" >&2
sleep 2
ARGUS_URL="$url" ARGUS_TOKEN="$token" "$bin/argus-tui" "$batch/$job"
