#!/usr/bin/env bash
# Regenerates screenshots/*.png and *.txt from the real argus-tui in tmux (colours via capture-pane -e).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
venv=.build/shots-venv
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q pillow; }
swift build >/dev/null
bin=$(swift build --show-bin-path)
dir=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$dir"' EXIT
# Guardrails on a short fuse so the idle and stalled screens can be shot within a minute.
ARGUS_IDLE_JOB_THRESHOLD_MIN=0.3 ARGUS_STALL_TIMEOUT_MIN=0.2 \
  "$bin/argus-server" serve --port 0 --data-dir "$dir" >"$dir/out" 2>"$dir/log" & srv=$!
for _ in $(seq 200); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$dir/out")
token=$("$bin/argus-server" token create --data-dir "$dir" --user alice)
sim() { "$bin/argus-server" simulate --url "$url" --token "$token" --seed 7 "$@" >/dev/null; }
sim --batch-id sweep-lr-0412 --jobs 2 --epochs 60 --speed 60 --fail          # finished: one done, one failed
sim --batch-id ablation-0411 --jobs 1 --epochs 20 --speed 80                 # finished: done
sim --batch-id seeds-0416 --jobs 4 --epochs 40 --speed 80                    # four seeds, for the batch screen and compare
{ sim --batch-id resnet-0413 --jobs 1 --epochs 80 --speed 2 2>/dev/null || true; } & simpid=$!   # running while we shoot
# Busy for ~20 s, then ~36 s of near-zero GPU util (a snapshot every 1.5 s): flagged once the quiet stretch
# lasts the 18 s window.
{ sim --batch-id vit-0414 --jobs 1 --epochs 60 --speed 2 --idle 2>/dev/null || true; } & idlepid=$!
# A run that dies without a word after ~8 s: stalled 12 s later.
"$bin/argus-server" simulate --url "$url" --token "$token" --seed 7 --batch-id bert-0415 --jobs 1 --epochs 500 \
  --speed 1 >/dev/null 2>&1 & stallpid=$!
sleep 8; kill -9 $stallpid 2>/dev/null || true
for _ in $(seq 120); do
  curl -sf -H "Authorization: Bearer $token" "$url/api/jobs/vit-0414/resnet50-lr3e-4-seed0" | grep -q '"is_idle_flagged":true' && break
  sleep 0.5
done
shoot() { # name target [keys...]
  local name=$1 target=$2; shift 2
  local sock="argus-shots-$$-$name"
  TERM=xterm-256color tmux -L $sock new-session -d -s s -x 120 -y 40 \
    "env -u NO_COLOR ARGUS_URL=$url ARGUS_TOKEN=$token LANG=C.UTF-8 $bin/argus-tui $target; sleep 5"
  sleep 2.5
  for k in "$@"; do tmux -L $sock send-keys -t s "$k"; sleep 0.5; done
  tmux -L $sock capture-pane -p -e -t s >"screenshots/$name.ansi"
  tmux -L $sock capture-pane -p -t s >"screenshots/$name.txt"
  "$venv/bin/python" scripts/ansi2png.py "screenshots/$name.ansi" "screenshots/$name.png" 120
  rm "screenshots/$name.ansi"
  tmux -L $sock kill-server 2>/dev/null || true
  echo "screenshots/$name.png"
}
mkdir -p screenshots
shoot idle "vit-0414/resnet50-lr3e-4-seed0"
shoot stalled "bert-0415/resnet50-lr3e-4-seed0"
shoot running "resnet-0413/resnet50-lr3e-4-seed0"
shoot failed "sweep-lr-0412/resnet50-lr3e-4-seed1"
shoot picker ""
shoot help "resnet-0413/resnet50-lr3e-4-seed0" "?"
shoot batch seeds-0416 ">" ">" ">" ">" ">" ">"                               # sorted by val loss
shoot compare seeds-0416 " " " " " " " " "C"                                 # all four marked, overlaid
shoot gpus "resnet-0413/resnet50-lr3e-4-seed0" "G"
kill $simpid $idlepid 2>/dev/null || true
