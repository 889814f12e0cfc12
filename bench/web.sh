#!/usr/bin/env bash
# The web page's benchmark (issue 10): first full paint of a 10k- and a 100k-epoch job on loopback, and the CPU of
# Chromium's renderer while the server streams 20 events/s. Release server, headless Chromium; prints a table.
#   bench/web.sh [runs-per-page] [live-seconds]        (ARGUS_BENCH_CONFIG=debug to use the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
live=${2:-20}
config=${ARGUS_BENCH_CONFIG:-release}
scripts/deps.sh
venv=.build/sdk-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import selenium" 2>/dev/null || "$venv/bin/pip" install -q selenium
source scripts/release-build.sh
flags_for "$config"
swift build "${build[@]}" --product argus-server >/dev/null
bin=$(swift build -c "$config" --show-bin-path)/argus-server
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
ARGUS_INGEST_RATE=0 ARGUS_INGEST_MB_RATE=0 ARGUS_RETENTION_SWEEP_MINUTES=0 "$bin" serve --port 0 --data-dir "$dir" >"$dir/out" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$dir/out")
token=$("$bin" token create --data-dir "$dir" --user alice)
echo "server ($config) $url; seeding 110k epochs and measuring ($runs page loads each, ${live} s live)..." >&2
set +e
"$venv/bin/python" bench/web_page.py "$url" "$token" "$runs" "$live" >"$dir/result"
rc=$?
set -e
python3 - "$dir/result" "$rc" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().strip().splitlines()
r = json.loads(lines[-1]) if lines else {}
row = lambda m, v, t: print(f"{m:<52} {v:>26} {t:>8}")
print()
row("measure", "result", "target")
for job, target in [("e10k", "< 300"), ("e100k", "< 1000")]:
    if job in r:
        j = r[job]
        row(f"first full paint, {j['epochs_held']} epochs (ms, median)", f"{j['median_ms']:.0f}", target)
        row("  runs (ms)", " ".join(f"{t:.0f}" for t in j["runs_ms"]), "")
        row("  GET .../view done at, per run (ms)", " ".join(f"{d['view_request'][2]:.0f}" if d["view_request"] else "?" for d in j["detail"]), "")
        row("  train_loss points on scale (#chart data-drawn)", str(j["epochs_drawn"]), "")
        v = sorted((d["view_request"] for d in j["detail"] if d["view_request"]), key=lambda x: x[2])
        if v:
            m = v[len(v) // 2]
            row("  of which GET .../view: start→first byte→end (ms)", f"{m[0]:.0f}→{m[1]:.0f}→{m[2]:.0f}", "")
            row("  .../view body (KB)", f"{m[3] / 1024:.0f}", "")
for key, what in [("live_e10k", "10k-epoch page"), ("live_small", "50-epoch page")]:
    if key in r:
        l = r[key]
        row(f"renderer CPU at {l['events_per_s']:.1f} events/s, {what} (% core)", f"{l['renderer_pct']:.1f}", "< 5")
        row("  same page, no events (% of a core)", f"{l['idle_renderer_pct']:.1f}", "")
        mt = l["main_thread_pct"]
        row("  main thread: tasks / script / layout / style (%)", " / ".join(f"{mt[k]:.1f}" for k in
            ["TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration"]), "")
        row("  layouts per second", f"{l['layouts_per_s']:.0f}", "")
        row("  all Chromium processes (% of a core)", f"{l['all_chromium_pct']:.1f}", "")
        row("  events posted / seconds", f"{l['events']} / {l['seconds']:.0f}", "")
for t in r.get("navigation_timeouts", []):
    print("navigation retried after a chromedriver timeout: " + t)
if "loadavg" in r:
    print("load average at the end: " + " ".join(r["loadavg"]))
if "error" in r:
    print("\nFAILED: " + r["error"])
if "seed_s" in r:
    print(f"\n(seeding took {r['seed_s']:.0f} s)")
sys.exit(int(sys.argv[2]))
PY
