#!/usr/bin/env bash
# argus-tui benchmarks (issues 3, 13 and 14). Release build; a local server holding a 10k-epoch job (b/j) and a
# 100k-epoch job (b/k), each with a log line every 10 epochs.
#   bench/tui.sh [idle-seconds=60]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
source scripts/release-build.sh
release_build --product argus-server >/dev/null
release_build --product argus-tui >/dev/null
release_build --product argus-bench >/dev/null
bin=.build/release
dir=$(mktemp -d)
# What users run: the binaries scripts/install.sh links with the Swift runtime in them (the memory rows below).
scripts/install.sh "$dir/installed" 2>/dev/null
sock="argus-bench-$$"
trap 'tmux -L $sock kill-server 2>/dev/null || true; kill $srv 2>/dev/null && wait $srv 2>/dev/null; rm -rf "$dir"' EXIT
ARGUS_INGEST_RATE=0 ARGUS_INGEST_MB_RATE=0 ARGUS_RETENTION_SWEEP_MINUTES=0 $bin/argus-server serve --port 0 --data-dir "$dir" >"$dir/out" 2>"$dir/log" & srv=$!
for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$dir/out")
export ARGUS_URL=$url ARGUS_TOKEN=$($bin/argus-server token create --data-dir "$dir" --user bench)
# JOB EPOCHS: that many epochs (and a log line every 10) for job b/JOB, 500 events per request.
load() {
python3 - "$url" "$ARGUS_TOKEN" "$1" "$2" <<'PY'
import json, sys, urllib.request, uuid, math
url, tok, job, n_epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def ev(t, data, job=job):
    return {"event_id": str(uuid.uuid4()), "schema_version": "1.1", "event_type": t, "timestamp": "2026-04-23T09:00:00Z",
            "batch_id": "b", "job_id": job, "source": {"project": "bench", "host": "gpu-1", "commit": "abcdef1"}, "data": data}
evs = [ev("batch_start", {"command": "python train.py", "n_total_jobs": 2}, None), ev("job_start", {"model": "m"})]
for n in range(n_epochs):
    evs.append(ev("job_epoch", {"epoch": n, "train_loss": 2 * math.exp(-n / 3000) + 0.1, "val_loss": 2.2 * math.exp(-n / 3000) + 0.15, "lr": 3e-4, "val_acc": 0.5 + n / (2.5 * n_epochs)}))
    if n % 10 == 0: evs.append(ev("log_line", {"line": f"step {n}", "level": "info"}))
for i in range(0, len(evs), 500):
    req = urllib.request.Request(url + "/api/events/batch", data=json.dumps({"events": evs[i:i+500]}).encode(),
                                 headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 200
PY
}
load j 10000
load k 100000
srv_rss0=$(awk '/VmRSS/{print int($2/1024)}' /proc/$srv/status)
render=$($bin/argus-bench tui-render 100000 200 60)
# The batch screen with 50 jobs, and the compare overlay of 4 jobs of 100k epochs each (issue 14).
screens=$($bin/argus-bench tui-screens 50 4 100000 200 60)
# A 50-job batch (b50: 10 epochs each) for the batch screen's idle CPU.
python3 - "$url" "$ARGUS_TOKEN" <<'PY'
import json, sys, urllib.request, uuid
url, tok = sys.argv[1], sys.argv[2]
def ev(t, data, job=None):
    return {"event_id": str(uuid.uuid4()), "schema_version": "1.1", "event_type": t, "timestamp": "2026-04-23T09:00:00Z",
            "batch_id": "b50", "job_id": job, "source": {"project": "bench"}, "data": data}
evs = [ev("batch_start", {"n_total_jobs": 50})]
for k in range(50):
    evs.append(ev("job_start", {"model": "m", "total_epochs": 100}, f"seed{k}"))
    evs += [ev("job_epoch", {"epoch": n, "train_loss": 2 / (n + 1) + k / 100, "val_loss": 2.2 / (n + 1) + k / 100}, f"seed{k}") for n in range(10)]
for i in range(0, len(evs), 500):
    req = urllib.request.Request(url + "/api/events/batch", data=json.dumps({"events": evs[i:i+500]}).encode(),
                                 headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 200
PY
# Where the first frame's time goes, epochs as rows (what the TUI asked for before) and as columns (what it asks for
# now), in the same run: the request (server reads the job and writes the reply, plus transfer), parse, state, render.
# The first open of each job since the server started reads its epochs whole; later opens read them from the
# server's epoch cache, topped up (ARGUS_EPOCH_CACHE_MB). One cold --dump each, before anything else reads them.
cold() { s=$(date +%s%N); $bin/argus-tui --dump --width 200 --height 60 "$1" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
cold10=$(cold b/j)
cold100=$(cold b/k)
load10=$($bin/argus-bench tui-load "$url" "$ARGUS_TOKEN" b/j 7)
load100=$($bin/argus-bench tui-load "$url" "$ARGUS_TOKEN" b/k 5)
# Start to first full frame: --dump does what the first interactive frame does (fetch /view, parse, build
# state, render) plus process start, minus curses setup. Median of N runs.
first_frame() { for _ in $(seq "$2"); do s=$(date +%s%N); $bin/argus-tui --dump --width 200 --height 60 "$1" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); done | sort -n | sed -n "$(( ($2 + 1) / 2 ))p"; }
start10=$(first_frame b/j 11)
start100=$(first_frame b/k 7)
# The interactive TUI in tmux on the 100k-epoch job: time until its chart is on screen (tmux polling, 5 ms granularity).
t0=$(date +%s%N)
TERM=xterm-256color tmux -L $sock new-session -d -s s -x 200 -y 60 "env ARGUS_URL=$url ARGUS_TOKEN=$ARGUS_TOKEN $bin/argus-tui b/k"
until tmux -L $sock capture-pane -p -t s | grep -q "1━train_loss 0.1"; do sleep 0.005; done
t1=$(date +%s%N)
tui_pid=$(pgrep -f "^$bin/argus-tui b/k" | head -1)
cpu() { awk '{print $14+$15}' /proc/$tui_pid/stat; }
c0=$(cpu)
for k in $(seq "$secs"); do
  curl -s -o /dev/null -H "Authorization: Bearer $ARGUS_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"event_id\":\"idle-$k-$RANDOM-$$\",\"schema_version\":\"1.1\",\"event_type\":\"log_line\",\"timestamp\":\"2026-04-23T10:00:00Z\",\"batch_id\":\"b\",\"job_id\":\"k\",\"source\":{\"project\":\"bench\"},\"data\":{\"line\":\"tick $k\",\"level\":\"info\"}}" \
    "$url/api/events"
  sleep 1
done
c1=$(cpu)
shown=$(tmux -L $sock capture-pane -p -t s | grep -c "tick $secs" || true)
hwm=$(awk '/VmHWM/{print int($2/1024)}' /proc/$tui_pid/status)
rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/$tui_pid/status)
# USS: the pages only this process maps (private clean and dirty); private dirty: the pages only it could have
# written (its heap, its share of relocated library data): what quitting gives back however many others run.
memory() {  # PID: USS, private dirty, RSS now, RSS peak (MB)
  awk '/^Private_(Clean|Dirty)/{t += $2} /^Private_Dirty/{d += $2} END {printf "%.1f %.1f ", t / 1024, d / 1024}' /proc/$1/smaps_rollup
  awk '/VmRSS/{r = $2} /VmHWM/{h = $2} END {printf "%.1f %.1f", r / 1024, h / 1024}' /proc/$1/status
}
read -r uss dirty rss hwm <<<"$(memory $tui_pid)"
# The same job in the installed argus-tui (one binary, no toolchain libraries), the only one open.
tmux -L $sock kill-session -t s
TERM=xterm-256color tmux -L $sock new-session -d -s si -x 200 -y 60 "env ARGUS_URL=$url ARGUS_TOKEN=$ARGUS_TOKEN $dir/installed/argus-tui b/k"
until tmux -L $sock capture-pane -p -t si | grep -q "1━train_loss 0.1"; do sleep 0.05; done
sleep 3
read -r iuss idirty irss ihwm <<<"$(memory "$(pgrep -f "^$dir/installed/argus-tui b/k" | head -1)")"
tmux -L $sock kill-session -t si
# The batch screen (b50, sorted by val loss) and the compare overlay (b/j and b/k: 10k + 100k epochs, both still
# running, so the overlay re-reads them) in tmux: CPU over the same idle period, one epoch a second for b50.
idle_cpu() {  # SESSION TARGET KEYS… ; prints % of a core over $secs
  local ses=$1 target=$2; shift 2
  TERM=xterm-256color tmux -L $sock new-session -d -s "$ses" -x 200 -y 60 "env ARGUS_URL=$url ARGUS_TOKEN=$ARGUS_TOKEN $bin/argus-tui $target"
  sleep 2
  for k in "$@"; do tmux -L $sock send-keys -t "$ses" "$k"; sleep 0.2; done
  sleep 3
  local pid; pid=$(pgrep -f "^$bin/argus-tui $target\$" | head -1)
  local a; a=$(awk '{print $14+$15}' /proc/$pid/stat)
  for k in $(seq "$secs"); do
    curl -s -o /dev/null -H "Authorization: Bearer $ARGUS_TOKEN" -H 'Content-Type: application/json' \
      -d "{\"event_id\":\"e-$ses-$k-$RANDOM\",\"schema_version\":\"1.1\",\"event_type\":\"job_epoch\",\"timestamp\":\"2026-04-23T10:00:00Z\",\"batch_id\":\"b50\",\"job_id\":\"seed$((k % 50))\",\"source\":{\"project\":\"bench\"},\"data\":{\"epoch\":$((10 + k)),\"train_loss\":0.1,\"val_loss\":0.2}}" \
      "$url/api/events"
    sleep 1
  done
  local b; b=$(awk '{print $14+$15}' /proc/$pid/stat)
  python3 -c "print(f'{($b-$a)/($secs):.2f}')"
}
batch_idle=$(idle_cpu bs b50 '>' '>' '>' '>' '>' '>')
compare_idle=$(idle_cpu cs b Space Space C)
tmux -L $sock capture-pane -p -t cs | grep -q "compare 2 jobs" || compare_idle="$compare_idle (overlay NOT shown)"
field() { sed "s/.* $2=\([0-9.]*\).*/\1/" <<<"$(grep "form=$1" <<<"$3")"; }
printf '\n%-58s %16s %10s\n' "measure" "result" "target"
printf '%-58s %16s %10s\n' "frame render, 100k epochs at 200x60 (median ms)" "$(sed 's/.*median_ms=\([0-9.]*\).*/\1/' <<<"$render")" "< 2"
printf '%-58s %16s %10s\n' "  p95 / max (ms)" "$(sed 's/.*p95_ms=\([0-9.]*\) max_ms=\([0-9.]*\).*/\1 \/ \2/' <<<"$render")" ""
ms() { sed "s/.*median_ms=\([0-9.]*\) p95_ms=\([0-9.]*\) max_ms=\([0-9.]*\).*/\1 \/ \2 \/ \3/" <<<"$(grep "$1" <<<"$screens")"; }
printf '%-58s %16s %10s\n' "batch screen, 50 jobs at 200x60, median / p95 / max (ms)" "$(ms tui_batch_screen)" "< 5"
printf '%-58s %16s %10s\n' "compare overlay, 4 x 100k epochs, median / p95 / max (ms)" "$(ms 'tui_compare jobs')" "< 5"
printf '%-58s %16s %10s\n' "  one job's epochs arriving on the overlay (ms)" "$(grep 'tui_compare jobs' <<<"$screens" | sed 's/.*arrive_ms=\([0-9.]*\).*/\1/')" ""
printf '%-58s %16s %10s\n' "  the first frame after they arrived (ms)" "$(grep 'tui_compare jobs' <<<"$screens" | sed 's/.*first_frame_ms=\([0-9.]*\).*/\1/')" ""
printf '%-58s %16s %10s\n' "  a frame at a new width, median / p95 / max (ms)" "$(ms tui_compare_resized)" ""
printf '%-58s %16s %10s\n' "20,000 streamed log lines folded on the job screen (ms)" "$(ms tui_log_burst)" ""
printf '%-58s %16s %10s\n' "  per line (µs)" "$(grep tui_log_burst <<<"$screens" | sed 's/.*per_line_us=\([0-9.]*\).*/\1/')" ""
printf '%-58s %16s %10s\n' "CPU, batch screen of 50 jobs, 1 epoch/s (% of a core)" "$batch_idle" "< 0.5"
printf '%-58s %16s %10s\n' "CPU, compare overlay 10k + 100k running (% of a core)" "$compare_idle" "< 0.5"
printf '%-58s %16s %10s\n' "start to first frame, 10k-epoch job (--dump, ms)" "$start10" "< 50"
printf '%-58s %16s %10s\n' "start to first frame, 100k-epoch job (--dump, ms)" "$start100" "< 150"
printf '%-58s %16s %10s\n' "  the first open since the server started, 10k / 100k (ms)" "$cold10 / $cold100" ""
for n in 10 100; do
  l=$([ $n = 10 ] && echo "$load10" || echo "$load100")
  printf '%-58s %16s %10s\n' "${n}k job, first frame in-process: rows / columns (ms)" "$(field rows total_ms "$l") / $(field columns total_ms "$l")" ""
  for step in request parse state render; do
    printf '%-58s %16s %10s\n' "  $step (ms)" "$(field rows ${step}_ms "$l") / $(field columns ${step}_ms "$l")" ""
  done
  printf '%-58s %16s %10s\n' "  /view reply (KB)" "$(( $(field rows bytes "$l") / 1024 )) / $(( $(field columns bytes "$l") / 1024 ))" ""
done
printf '%-58s %16s %10s\n' "interactive in tmux, 100k job, until the chart shows (ms)" "$(( (t1 - t0) / 1000000 ))" ""
printf '%-58s %16s %10s\n' "CPU while idle, 1 event/s over ${secs}s (% of a core)" "$(python3 -c "print(f'{($c1-$c0)/($secs):.2f}')")" "< 1"
printf '%-58s %16s %10s\n' "  last event shown on screen" "$([ "$shown" -ge 1 ] && echo yes || echo NO)" ""
printf '%-58s %16s %10s\n' "memory with the 100k job, installed: USS / private dirty (MB)" "$iuss / $idirty" "< 10"
printf '%-58s %16s %10s\n' "  RSS now / peak (MB)" "$irss / $ihwm" "< 25"
printf '%-58s %16s %10s\n' "  the build in .build/release: USS / private dirty (MB)" "$uss / $dirty" ""
printf '%-58s %16s %10s\n' "  RSS now / peak (MB)" "$rss / $hwm" ""
printf '%-58s %16s %10s\n' "argus-server RSS: loaded / after every view above / peak (MB)" \
  "$srv_rss0 / $(awk '/VmRSS/{r = int($2/1024)} /VmHWM/{h = int($2/1024)} END {print r " / " h}' /proc/$srv/status)" ""
