#!/usr/bin/env bash
# Spill delivery: `argus-agent replay-spill` of one spill file of EVENTS events, as argus-reporter 0.1.3 writes them
# through an outage (one JSON object a line, random UUID event ids), against a release server on SQLite (fsync per
# commit). Prints the file's size, the delivery's time and rate, the agent's peak RSS and the events stored.
#   bench/spill.sh [EVENTS=200000] [BASELINE_AGENT]
# With BASELINE_AGENT (an argus-agent built from another commit, e.g. by scripts/install.sh into another prefix), it
# delivers the same file too, each agent against a server of its own, this build first.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
base=${2:-}
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 10 ] || { echo "usage: bench/spill.sh [EVENTS=200000] [BASELINE_AGENT] (EVENTS a whole number, at least 10)" >&2; exit 2; }
[ -z "$base" ] || [ -x "$base" ] || { echo "spill: $base is not an executable argus-agent." >&2; exit 2; }
source scripts/release-build.sh
for product in argus-server argus-agent; do
  release_build --product $product >/dev/null 2>&1 || { release_build --product $product; exit 1; }
done
source bench/lib.sh
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null && wait $p 2>/dev/null; done; rm -rf "$dir"' EXIT
python3 - "$n" "$dir/spill.jsonl" <<'EOF'
import json, sys, uuid
n, path = int(sys.argv[1]), sys.argv[2]
src = {"project": "bench", "host": "gpu-box-1", "user": "bench"}
def ev(kind, data, job=None):
    e = {"event_id": str(uuid.uuid4()), "schema_version": "1.1", "event_type": kind,
         "timestamp": "2026-12-01T00:00:00.000000Z", "batch_id": "spilled", "source": src, "data": data}
    if job: e["job_id"] = job
    return json.dumps(e, separators=(",", ":"))
with open(path, "w") as f:
    f.write(ev("batch_start", {"experiment_type": "bench", "n_total": 1}) + "\n")
    f.write(ev("job_start", {}, "j") + "\n")
    for i in range(n - 2):
        f.write(ev("job_epoch", {"epoch": i, "train_loss": 1.0 / (i + 1), "val_loss": 1.2 / (i + 1), "lr": 1e-3}, "j") + "\n")
EOF
size=$(awk -v b="$(stat -c %s "$dir/spill.jsonl")" 'BEGIN {printf "%.1f", b / 1048576}')
echo "command: bench/spill.sh $n${base:+ $base}   (load average $(cut -d' ' -f1 /proc/loadavg))"
echo "one spill file: $n events, $size MB"
printf '%-12s %10s %12s %14s %10s\n' agent seconds events/s "peak RSS MB" stored
run() {
  local name=$1 agent=$2 out="$dir/$1"
  serve "$out" --data-dir "$out"
  pids+=($srv_pid)
  local token home="$out/home"
  token=$($bin token create --data-dir "$out" --user bench)
  mkdir -p "$home/.argus-reporter"
  cp "$dir/spill.jsonl" "$home/.argus-reporter/spill-1-1.jsonl"
  # Peak RSS of the agent alone (its children's maximum), and its wall time.
  read -r secs kb < <(HOME="$home" ARGUS_URL="$srv_url" ARGUS_TOKEN="$token" python3 -c '
import resource, subprocess, sys, time
t = time.time()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
if rc: sys.exit("spill: the agent exited %d" % rc)
print("%.2f" % (time.time() - t), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$agent" replay-spill --min-age 0)
  awk -v name="$name" -v s="$secs" -v n="$n" -v kb="$kb" -v stored="$(sqlite_events "$out")" \
    'BEGIN {printf "%-12s %10s %12.0f %14.1f %10s\n", name, s, n / s, kb / 1024, stored}'
  kill $srv_pid && wait $srv_pid 2>/dev/null || true
}
run "this build" .build/release/argus-agent
[ -z "$base" ] || run baseline "$base"
