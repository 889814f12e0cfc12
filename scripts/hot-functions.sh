#!/usr/bin/env bash
# Makes scripts/hot-functions.txt: the functions argus-server and argus-tui run as people use them, which a release
# link (scripts/install.sh) puts side by side at the start of each binary's code. Run it again when the code has
# changed much; a stale list costs memory, never correctness (names it lacks are linked with the rest).
#   scripts/hot-functions.sh          (needs valgrind, tmux and python3; takes a few minutes)
# The binaries run under valgrind's callgrind, which lists every function that ran: the server from its start on an
# empty data dir through what the SDK, argus-tui and the web page ask of it (single and batched events, a stream,
# job and batch reads, the web page and its assets, a share link) and a while idle; argus-tui opening a job and
# going through its screens.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind >/dev/null
fi
tmp=$(mktemp -d -t argus-hot.XXXXXX)
sock="argus-hot-$$"
srv=
trap 'tmux -L $sock kill-server 2>/dev/null || true; [ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "hot-functions: building (release, symbols kept)" >&2
ARGUS_KEEP_SYMBOLS=1 scripts/install.sh "$tmp/bin"
# valgrind cannot read the toolchain's DWARF 5: the symbol tables are all it needs.
for p in argus-server argus-tui; do objcopy --strip-debug "$tmp/bin/$p" "$tmp/$p"; done
callgrind=(valgrind --tool=callgrind --dump-instr=no --demangle=no)

echo "hot-functions: the server under callgrind" >&2
mkdir -p "$tmp/data"
"${callgrind[@]}" --callgrind-out-file="$tmp/server.cg" "$tmp/argus-server" serve --port 0 --data-dir "$tmp/data" \
  >"$tmp/out" 2>"$tmp/err" &
srv=$!
for _ in $(seq 600); do grep -q listening "$tmp/out" 2>/dev/null && break; sleep 0.2; done
url=$(grep -o 'http://[0-9.:]*' "$tmp/out") || { cat "$tmp/err" >&2; exit 1; }
token=$("$tmp/bin/argus-server" token create --data-dir "$tmp/data" --user hot)
python3 - "$url" "$token" <<'PY'
import json, re, sys, threading, time, urllib.error, urllib.request, uuid
url, tok = sys.argv[1:]
auth = {"Authorization": "Bearer " + tok}
def req(path, body=None, method=None, headers=None):
    h = dict(auth if headers is None else headers)
    if body is not None: h["Content-Type"] = "application/json"
    r = urllib.request.Request(url + path, json.dumps(body).encode() if body is not None else None, h, method=method)
    try:
        with urllib.request.urlopen(r, timeout=120) as f: return f.status, f.read()
    except urllib.error.HTTPError as e: return e.code, e.read()
def ev(t, data, job=None, b="b1"):
    return {"event_id": str(uuid.uuid4()), "schema_version": "1.1", "event_type": t, "batch_id": b, "job_id": job,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": {"project": "p", "host": "gpu-1", "commit": "abc1234"}, "data": data}
def stream(path, secs):
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, headers=auth), timeout=secs + 60) as f:
            t0 = time.time()
            while time.time() - t0 < secs and f.readline(): pass
    except Exception: pass
req("/health")
req("/api/events", ev("batch_start", {"command": "python train.py", "n_total_jobs": 2}))
req("/api/events", ev("env_snapshot", {"command": "python train.py --lr 3e-4", "cwd": "/srv", "git_commit": "abc1234"}))
viewer = threading.Thread(target=stream, args=("/api/sse?channels=batch:b1", 40)); viewer.start()
for job in ("j1", "j2"):
    req("/api/events", ev("job_start", {"model": "m", "total_epochs": 40}, job))
for n in range(40):
    for job in ("j1", "j2"):
        req("/api/events", ev("job_epoch", {"epoch": n, "train_loss": 2 / (n + 1), "val_loss": 2.2 / (n + 1), "lr": 3e-4}, job))
        req("/api/events", ev("log_line", {"line": f"step {n}: loss {2 / (n + 1):.4f}", "level": "info"}, job))
    if n % 10 == 0:
        req("/api/events", ev("resource_snapshot", {"gpu_util": 60, "gpu_mem_used_gb": 20, "gpu_mem_total_gb": 80, "pid": 4242}, "j1"))
        req("/api/batches/b1/stop-requested")
req("/api/events/batch", {"events": [ev("log_line", {"line": f"burst {i}", "level": "info"}, "j1") for i in range(300)]})
for p in ["/api/batches", "/api/batches/b1", "/api/batches/b1/jobs", "/api/jobs/b1/j1", "/api/jobs/b1/j1/view",
          "/api/jobs/b1/j1/view?epochs=columns", "/api/jobs/b1/j1/epochs", "/metrics", "/health"]:
    req(p)
status, body = req("/api/batches/b1/shares", {}, "POST")
share = json.loads(body).get("token", "") if status == 201 else ""
for p in ["/", "/batches/b1", "/jobs/b1/j1"] + ([f"/share/{share}"] if share else []):
    _, page = req(p, headers={**auth, "Accept": "text/html"})
    for asset in set(re.findall(rb'/assets/[^"\'\s)]+', page)):
        _, text = req(asset.decode(), headers={})
        for sub in set(re.findall(rb'\./([\w-]+\.js)', text)):  # the modules it imports
            req(asset.decode().rsplit("/", 1)[0] + "/" + sub.decode(), headers={})
viewer.join()
PY

echo "hot-functions: argus-tui under callgrind" >&2
TERM=xterm-256color tmux -L $sock new-session -d -s hot -x 120 -y 40 \
  "env ARGUS_URL=$url ARGUS_TOKEN=$token ${callgrind[*]} --callgrind-out-file=$tmp/tui.cg $tmp/argus-tui b1/j1 2>$tmp/tui.err"
drew=
for _ in $(seq 600); do tmux -L $sock capture-pane -p -t hot | grep -q "train_loss" && drew=1 && break; sleep 0.2; done
[ -n "$drew" ] || { echo "hot-functions: argus-tui drew no job in 2 minutes:" >&2; tmux -L $sock capture-pane -p -t hot >&2; exit 1; }
for k in '?' Escape g g e E e G Escape m Escape / s t e p Enter Escape Home End Escape Down Enter Escape Escape Down Up q; do
  tmux -L $sock send-keys -t hot "$k"
  sleep 1.5
done
for _ in $(seq 300); do tmux -L $sock has-session -t hot 2>/dev/null || break; sleep 0.2; done
[ -s "$tmp/tui.cg" ] || { echo "hot-functions: argus-tui did not quit and write its profile:" >&2; cat "$tmp/tui.err" >&2; exit 1; }
kill -TERM $srv
wait $srv 2>/dev/null || true
srv=

[ -s "$tmp/server.cg" ] || { echo "hot-functions: the server wrote no profile:" >&2; tail -5 "$tmp/err" >&2; exit 1; }

# Every function that ran and is the binary's own, in the order this build holds them (module by module), written
# whole and then put in place. lld moves whole sections: a name in a library's one big .text (one not compiled with
# -function-sections) brings all of it, and a name many sections define (the compiler's merged `…Tm` helpers) brings
# every copy. Both are kept: cold code inside the front costs nothing resident unless it is next to hot code, and
# leaving them out took the idle server from 25.2 to 28.4 MB (bench/README.md).
python3 - "$tmp" >"$tmp/hot-functions.txt" <<'PY'
import re, subprocess, sys
tmp = sys.argv[1]
print("# made by scripts/hot-functions.sh: the functions argus-server and argus-tui ran (lld reads each line as a name)")
seen = set()
for p in ("argus-server", "argus-tui"):
    ran = set()
    for line in open(f"{tmp}/{p.split('-')[1]}.cg", errors="replace"):
        m = re.match(r"c?fn=\(\d+\) (.+)$", line.rstrip("\n"))
        if m: ran.add(m.group(1))
    own = {}
    for line in subprocess.run(["nm", "--defined-only", f"{tmp}/{p}"], capture_output=True, text=True).stdout.splitlines():
        f = line.split(" ")
        if len(f) == 3 and f[1] in "tTwW": own.setdefault(f[2], int(f[0], 16))
    for name in sorted((n for n in ran if n in own and n not in seen), key=own.get):
        seen.add(name)
        print(name)
PY
mv "$tmp/hot-functions.txt" scripts/hot-functions.txt
echo "hot-functions: $(($(wc -l <scripts/hot-functions.txt) - 1)) functions in scripts/hot-functions.txt" >&2
