"""The web page's benchmark (bench/web.sh): first full paint of big jobs and the renderer's CPU under live events.

    python bench/web_page.py URL TOKEN [runs] [live-seconds]

1. Seeds `bench/e10k` (10 000 epochs) and `bench/e100k` (100 000 epochs), each with GPU telemetry and log lines.
2. First full paint: navigates to the job page `runs` times (signed in; assets cached after the first run) and
   reads, inside the page, the performance.now() (ms since navigation start) at which #chart[data-drawn] > 0 and
   every telemetry tile is filled, and the next animation frame after that (the frame that paints it).
   A MutationObserver installed before the page's scripts records the moment, so polling adds nothing.
3. Live CPU: with a job page open, posts 20 events/s (alternately a job_epoch and a log_line) for `live-seconds`
   and reads utime+stime of Chromium's renderer processes (/proc/<pid>/stat) before and after: % of one core.
Prints one JSON object on the last line.
"""

import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Web"))
from argusweb import CLOCK_TICKS, Browser, Fail, Server, cpu_ticks, event  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402

NAV_TIMEOUTS = []

TILES = ["#tile-status", "#tile-elapsed", "#tile-gpu-util", "#tile-gpu-mem", "#tile-train-loss", "#tile-val-loss"]

PAINT_PROBE = """
(() => {
  const tiles = %s;
  const filled = () => tiles.every(s => { const e = document.querySelector(s);
      if (!e) return false; const t = e.textContent.trim(); return t !== '' && !t.endsWith('\\u2014'); });
  const ready = () => { const c = document.querySelector('#chart');
      return !!c && Number(c.getAttribute('data-drawn')) > 0 && filled(); };
  window.__argusReadyAt = null; window.__argusPaintedAt = null;
  const mo = new MutationObserver(() => {
    if (window.__argusReadyAt !== null || !ready()) return;
    window.__argusReadyAt = performance.now();
    mo.disconnect();
    requestAnimationFrame(() => { window.__argusPaintedAt = performance.now(); });
  });
  mo.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
})();
""" % json.dumps(TILES)


def seed(s, batch, job, epochs):
    s.post_events([
        event("batch_start", batch, None, {"n_total_jobs": 1, "command": "python train.py --bench", "cwd": "/srv/bench"},
              source={"project": "bench", "host": "gpu-box-1", "user": "alice", "commit": "0123456789abcdef0123"}),
        event("job_start", batch, job, {"model": "resnet50", "dataset": "imagenet"}),
    ])
    chunk = []
    for n in range(epochs):
        train = 2.0 / (1 + n / 500) + 0.05 * ((n * 7919) % 13) / 13
        d = {"epoch": n, "train_loss": train, "val_loss": train * 1.1 + 0.02, "lr": 3e-4 * 0.9999 ** n}
        if n % 20_000 == 1234:
            d["train_loss"] = train * 40  # spikes the chart has to keep
        chunk.append(event("job_epoch", batch, job, d))
        if len(chunk) == 500:
            s.post_events(chunk)
            chunk = []
    chunk.append(event("resource_snapshot", batch, None, {"gpus": [
        {"index": 0, "util_pct": 91, "mem_mb": 40_000, "mem_total_mb": 81_559},
        {"index": 1, "util_pct": 87, "mem_mb": 41_000, "mem_total_mb": 81_559}]}))
    for k in range(50):
        chunk.append(event("log_line", batch, job, {"line": f"step {k * 100}: loss {2.0 / (k + 1):.4f}", "level": "info"}))
    s.post_events(chunk)


def first_paint(b, url, runs):
    times, frames = [], []
    for _ in range(runs):
        b.get("about:blank")
        for attempt in range(3):
            try:
                b.get(url)
                break
            except TimeoutException as e:  # chromedriver lost the renderer's answer (seen on a loaded machine)
                NAV_TIMEOUTS.append(f"{url}: {str(e).splitlines()[0]}")
                b.get("about:blank")
        else:
            raise Fail(f"{url}: three navigations timed out")
        b.wait_js("window.__argusPaintedAt !== null && window.__argusPaintedAt !== undefined",
                  f"{url}: chart drawn and tiles filled", 60,
                  "({drawn: document.querySelector('#chart') && document.querySelector('#chart').getAttribute('data-drawn'),"
                  " tiles: %s.map(s => document.querySelector(s) && document.querySelector(s).textContent.trim())})"
                  % json.dumps(TILES))
        ready, painted, view = b.js(
            "const v = performance.getEntriesByType('resource').find(e => e.name.includes('/view'));"
            " return [window.__argusReadyAt, window.__argusPaintedAt,"
            " v ? [v.startTime, v.responseStart, v.responseEnd, v.encodedBodySize] : null];")
        times.append(painted)
        frames.append({"ready_ms": ready, "view_request": view})
    return times, frames


def main_thread(b):
    """The renderer main thread's busy time so far (s, thread CPU clock) by kind, from DevTools Performance.getMetrics."""
    m = {x["name"]: x["value"] for x in b.cdp("Performance.getMetrics")["metrics"]}
    keys = ["TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration"]
    out = {k: m.get(k, 0.0) for k in keys}
    out["LayoutCount"] = m.get("LayoutCount", 0)
    return out


def live_cpu(b, s, batch, job, seconds, rate=20):
    start_epoch = s.get_json(f"/api/jobs/{batch}/{job}")["telemetry"]["epoch"] or 0
    b.wait_js("document.querySelector('#conn') && document.querySelector('#conn').dataset.state === 'live'",
              "#conn live", 15)
    time.sleep(2)  # settle after load
    pids = b.renderer_pids()
    allp = list(b.processes())
    # Baseline: the same page with nothing arriving (the connection indicator's clock still ticks).
    idle0, w_idle = {p: cpu_ticks(p) for p in pids}, time.monotonic()
    time.sleep(min(5.0, seconds))
    idle = sum(cpu_ticks(p) - idle0[p] for p in pids) / CLOCK_TICKS / (time.monotonic() - w_idle)
    before = {p: cpu_ticks(p) for p in allp}
    m0 = main_thread(b)
    sent = [0]
    stop = threading.Event()

    def post():
        n, t0 = 0, time.monotonic()
        while not stop.is_set():
            if n % 2 == 0:
                e = event("job_epoch", batch, job, {"epoch": start_epoch + 1 + n // 2, "train_loss": 0.5 + (n % 7) * 0.01,
                                                     "val_loss": 0.6, "lr": 1e-4})
            else:
                e = event("log_line", batch, job, {"line": f"live line {n}", "level": "info"})
            s.post_events([e])
            n += 1
            sent[0] = n
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    t = threading.Thread(target=post)
    w0 = time.monotonic()
    t.start()
    time.sleep(seconds)
    stop.set()
    t.join()
    wall = time.monotonic() - w0
    after = {p: cpu_ticks(p) for p in allp}
    m1 = main_thread(b)
    ren = sum(after[p] - before[p] for p in pids) / CLOCK_TICKS
    tot = sum(after[p] - before[p] for p in allp) / CLOCK_TICKS
    # The page kept up: it shows the last epoch posted.
    last = start_epoch + (sent[0] - 1) // 2 + 1 if sent[0] else start_epoch
    b.wait_js(f"Number(document.querySelector('#chart').getAttribute('data-epochs')) > 0", "the chart after the live run", 10)
    return {"renderer_pct": 100 * ren / wall, "all_chromium_pct": 100 * tot / wall, "idle_renderer_pct": 100 * idle,
            "main_thread_pct": {k: 100 * (m1[k] - m0[k]) / wall for k in m0 if k != "LayoutCount"},
            "layouts_per_s": (m1["LayoutCount"] - m0["LayoutCount"]) / wall, "events": sent[0],
            "events_per_s": sent[0] / wall, "seconds": wall, "last_epoch": last,
            "page_epochs": int(b.js("return document.querySelector('#chart').getAttribute('data-epochs');"))}


def main(argv):
    url, token = argv[1].rstrip("/"), argv[2]
    runs = int(argv[3]) if len(argv) > 3 else 5
    live_s = float(argv[4]) if len(argv) > 4 else 20
    s = Server(url, token)
    out = {}
    t0 = time.monotonic()
    seed(s, "bench", "e10k", 10_000)
    seed(s, "bench", "e100k", 100_000)
    out["seed_s"] = time.monotonic() - t0
    try:
        with Browser() as b:
            b.add_init_script(PAINT_PROBE)
            b.cdp("Performance.enable", {"timeDomain": "threadTicks"})
            b.get(f"{url}/#token={token}")
            b.wait_js("location.hash === ''", "sign-in through #token=", 15, "location.href")
            for job in ["e10k", "e100k"]:
                times, ready = first_paint(b, f"{url}/jobs/bench/{job}", runs)
                out[job] = {"median_ms": statistics.median(times), "runs_ms": times, "detail": ready,
                            "epochs_drawn": int(b.js("return document.querySelector('#chart').getAttribute('data-drawn');")),
                            "epochs_held": int(b.js("return document.querySelector('#chart').getAttribute('data-epochs');"))}
            b.assert_clean(url)
            for job in ["e10k"]:
                b.get(f"{url}/jobs/bench/{job}")
                b.wait_js("window.__argusPaintedAt", "the page", 60)
                out[f"live_{job}"] = live_cpu(b, s, "bench", job, live_s)
            s.post_events([event("batch_start", "live-small", None, {"n_total_jobs": 1, "command": "python t.py"}),
                           event("job_start", "live-small", "j1", {"model": "mlp"})] +
                          [event("job_epoch", "live-small", "j1", {"epoch": n, "train_loss": 1 / (n + 1), "val_loss": 1.1 / (n + 1)}) for n in range(50)] +
                          [event("resource_snapshot", "live-small", None, {"gpus": [{"index": 0, "util_pct": 90, "mem_mb": 1000, "mem_total_mb": 8000}]})])
            b.get(f"{url}/jobs/live-small/j1")
            b.wait_js("window.__argusPaintedAt", "the page", 60)
            out["live_small"] = live_cpu(b, s, "live-small", "j1", live_s)
            b.assert_clean(url)
    except Fail as e:
        out["error"] = str(e)
        out["navigation_timeouts"] = NAV_TIMEOUTS
        print(json.dumps(out))
        return 1
    out["navigation_timeouts"] = NAV_TIMEOUTS
    out["loadavg"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
