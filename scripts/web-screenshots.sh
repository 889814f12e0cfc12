#!/usr/bin/env bash
# Regenerates screenshots/web-running.png, web-failed.png and web-share.png (1280×900): the web job page in
# headless Chromium against a real server fed by `argus-server simulate`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
venv=.build/sdk-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import selenium" 2>/dev/null || "$venv/bin/pip" install -q selenium
swift build --product argus-server >/dev/null
bin=$(swift build --show-bin-path)
dir=$(mktemp -d)
pids=()
trap 'kill ${pids[@]+"${pids[@]}"} $srv 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin/argus-server" serve --port 0 --data-dir "$dir" >"$dir/out" 2>"$dir/log" & srv=$!
for _ in $(seq 200); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$dir/out")
token=$("$bin/argus-server" token create --data-dir "$dir" --user alice)
sim() { "$bin/argus-server" simulate --url "$url" --token "$token" --seed 7 "$@" >/dev/null; }
sim --batch-id sweep-lr-0412 --jobs 2 --epochs 60 --speed 60 --fail          # finished: one done, one failed
{ sim --batch-id resnet-0413 --jobs 1 --epochs 80 --speed 2 2>/dev/null || true; } & pids+=($!)  # running
sleep 12   # a few epochs, GPU snapshots and log lines of the running job
share=$(curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{}' \
  "$url/api/batches/sweep-lr-0412/shares" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
mkdir -p screenshots
"$venv/bin/python" Tests/Web/shoot.py "$url" "$token" \
  web-running=/jobs/resnet-0413/resnet50-lr3e-4-seed0 \
  web-failed=/jobs/sweep-lr-0412/resnet50-lr3e-4-seed1 \
  web-share=/share/"$share"
