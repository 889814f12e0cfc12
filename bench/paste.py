"""bench/paste.sh's measurement: URL TOKEN ARGUS_TUI TMUX_SOCKET."""
import json, os, subprocess, sys, time, urllib.request, uuid
url, token, tui, sock = sys.argv[1:5]
def ev(t, job=None):
    return {"event_id": str(uuid.uuid4()), "schema_version": "1.1", "event_type": t, "timestamp": "2026-04-23T09:00:00Z",
            "batch_id": "wide", "job_id": job, "source": {"project": "bench", "host": "gpu-1"}, "data": {}}
evs = [ev("batch_start")] + [ev("job_start", f"j{i}") for i in range(200)]
for k in range(0, len(evs), 100):
    urllib.request.urlopen(urllib.request.Request(f"{url}/api/events/batch", data=json.dumps({"events": evs[k:k + 100]}).encode(),
                                                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}))
tm = ["tmux", "-L", sock]
# tmux needs a terminal type it knows to start its server (scripts may run with TERM unset or dumb).
os.environ["TERM"] = "xterm-256color"
print("| paste | argus-tui CPU | busy for |\n|---|---|---|")
for n in (300, 800, 3000):
    subprocess.run(tm + ["kill-server"], stderr=subprocess.DEVNULL)
    subprocess.run(tm + ["new", "-d", "-s", "t", "-x", "120", "-y", "40",
                         f"ARGUS_URL={url} ARGUS_TOKEN={token} exec {tui} wide"], check=True, capture_output=True)
    time.sleep(2)
    pid = subprocess.run(tm + ["display", "-p", "-t", "t", "#{pane_pid}"], capture_output=True, text=True).stdout.strip()
    def cpu():
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    subprocess.run(tm + ["send-keys", "-t", "t", "/"])
    c0, t0 = cpu(), time.time()
    subprocess.run(tm + ["send-keys", "-t", "t", "-l", ("j1 日本🚀" * 2000)[:n]])
    last, stable = cpu(), time.time()
    # Busy until its CPU time stops moving for 1.5 s (at most 120 s).
    while time.time() - t0 < 120:
        time.sleep(0.2)
        c = cpu()
        if c != last:
            last, stable = c, time.time()
        elif time.time() - stable > 1.5:
            break
    print(f"| {n} characters | {last - c0:.2f} s | {stable - t0:.1f} s |")
subprocess.run(tm + ["kill-server"], stderr=subprocess.DEVNULL)
