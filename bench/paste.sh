#!/usr/bin/env bash
# A paste into argus-tui's `/` filter on a 200-job batch screen: argus-tui's CPU seconds and how long it stays busy,
# for pastes of 300, 800 and 3000 characters. A paste froze the screen before the filter was prepared once per list
# and capped at 256 characters (120 s of a core for 3,000 characters).
#   bench/paste.sh [argus-tui binary, default this checkout's release build]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/release-build.sh
release_build --product argus-server >/dev/null
release_build --product argus-tui >/dev/null
tui=$(realpath "${1:-.build/release/argus-tui}")
dir=$(mktemp -d)
sock="argus-paste-$$"
trap 'tmux -L $sock kill-server 2>/dev/null || true; kill $srv 2>/dev/null && wait $srv 2>/dev/null; rm -rf "$dir"' EXIT
.build/release/argus-server serve --port 0 --data-dir "$dir" >"$dir/out" 2>"$dir/log" & srv=$!
for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$dir/out")
token=$(.build/release/argus-server token create --data-dir "$dir" --user bench)
python3 bench/paste.py "$url" "$token" "$tui" "$sock" </dev/null
