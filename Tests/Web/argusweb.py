"""Headless Chromium (Debian's chromium + chromium-driver) driven through selenium, for the web page's tests,
screenshots and benchmark.

A Browser records every console message and the URL of every request the page makes (the DevTools performance
log's Network.requestWillBeSent), so each scenario can end with `assert_clean()`: no console errors and no
request outside the server's origin. The browser itself cannot reach any other host: every host name but the
loopback ones resolves to nothing, and Chromium's own background traffic (component updates, safe browsing,
metrics, translate...) is switched off.

Environment:
  ARGUS_CHROMIUM        the browser binary (default /usr/lib/chromium/chromium, else `chromium` on PATH)
  ARGUS_CHROMEDRIVER    the driver (default /usr/bin/chromedriver, else `chromedriver` on PATH)
"""

import json
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request

os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

# Chromium flags: headless as root in a container, and no traffic of its own.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--metrics-recording-only",
    "--safebrowsing-disable-auto-update",
    "--password-store=basic",
    "--use-mock-keychain",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,"
    "OptimizationGuideModelDownloading,PrivacySandboxSettings4",
    # Anything that is not loopback resolves to nothing: a stray request fails fast instead of leaving the box.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


class Fail(Exception):
    """A scenario's assertion failed; the message says what the user would have seen."""


def find_binary(env, candidates):
    p = os.environ.get(env)
    if p:
        if not os.access(p, os.X_OK):
            raise Fail(f"{env}={p} is not an executable")
        return p
    for c in candidates:
        if os.path.isabs(c) and os.access(c, os.X_OK):
            return c
        w = shutil.which(c)
        if w:
            return w
    raise Fail(
        f"{candidates[-1]} not found (looked for {', '.join(candidates)}; set {env}). "
        "Install Debian's chromium and chromium-driver: scripts/deps.sh does."
    )


def chromium_path():
    return find_binary("ARGUS_CHROMIUM", ["/usr/lib/chromium/chromium", "chromium"])


def chromedriver_path():
    return find_binary("ARGUS_CHROMEDRIVER", ["/usr/bin/chromedriver", "chromedriver"])


class Browser:
    def __init__(self, width=1280, height=900):
        self.profile = tempfile.mkdtemp(prefix="argus-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium_path()
        for f in CHROMIUM_FLAGS:
            opts.add_argument(f)
        opts.add_argument(f"--user-data-dir={self.profile}")
        opts.add_argument(f"--window-size={width},{height}")
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        # Alerts must not block the driver: they are recorded by the hook below instead.
        opts.set_capability("unhandledPromptBehavior", "ignore")
        self.service = Service(executable_path=chromedriver_path(), log_output=os.devnull)
        try:
            self.driver = webdriver.Chrome(service=self.service, options=opts)
        except Exception as e:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise Fail(f"headless Chromium did not start: {e}")
        self.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)
        self.console = []  # {"level", "message"}
        self.requests = []  # URLs, in order
        self.width, self.height = width, height
        # The viewport is exactly width×height at scale 1, whatever the window decorations.
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        # Before any page script: record alert/confirm/prompt calls (an XSS payload would call them) and
        # EventSource connections; CDP-injected scripts are not subject to the page's CSP.
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            {
                "source": """
            (() => {
              window.__argusDialogs = [];
              for (const name of ['alert', 'prompt']) {
                window[name] = (msg) => { window.__argusDialogs.push(name + ': ' + msg); };
              }
            })();
            """
            },
        )
        self.home = self.driver.current_window_handle
        # Start from a blank page and forget what the new-tab page loaded.
        self.driver.get("about:blank")
        self.drain()
        self.console.clear()
        self.requests.clear()

    def reset(self):
        """Back to where a new Browser starts, for the next scenario in the same browser (page_tests.py --serve):
        one tab (the first, which has the dialog hook) on about:blank, no cookies (they are per host, not per port,
        so one server's session cookie would reach the next), no cache, the viewport and timeouts as built, and no
        console message or request recorded. Raises when the browser cannot be brought back; start a new one then."""
        for h in self.driver.window_handles:
            if h != self.home:
                self.driver.switch_to.window(h)
                self.driver.close()
        self.driver.switch_to.window(self.home)
        self.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)
        self.driver.get("about:blank")
        self.cdp("Network.clearBrowserCookies")
        self.cdp("Network.clearBrowserCache")
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.drain()
        self.console.clear()
        self.requests.clear()

    # -- plumbing ---------------------------------------------------------------------------------------------
    def cdp(self, method, params=None):
        return self.driver.execute_cdp_cmd(method, params or {})

    def add_init_script(self, source):
        """Runs `source` in every new document before the page's own scripts."""
        self.cdp("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def js_async(self, script, *args):
        """`script` gets its callback as arguments[arguments.length - 1]."""
        return self.driver.execute_async_script(script, *args)

    def drain(self):
        for e in self.driver.get_log("browser"):
            self.console.append({"level": e.get("level"), "message": e.get("message", "")})
        for e in self.driver.get_log("performance"):
            try:
                m = json.loads(e["message"])["message"]
            except (KeyError, ValueError):
                continue
            if m.get("method") == "Network.requestWillBeSent":
                self.requests.append(m["params"]["request"]["url"])

    def get(self, url):
        try:
            self.driver.get(url)
        except TimeoutException:
            raise Fail(f"loading {url} did not finish within {self.page_load_timeout} s")
        self.drain()

    def set_page_load_timeout(self, seconds):
        self.page_load_timeout = seconds
        self.driver.set_page_load_timeout(seconds)

    @property
    def url(self):
        return self.driver.current_url

    # -- waiting ----------------------------------------------------------------------------------------------
    def wait_js(self, expr, what, timeout=10, diag=None):
        """Waits until the JavaScript expression `expr` is truthy; returns its value. On timeout, fails with `what`
        and, when given, the value of the diagnostic expression `diag` (what the page shows instead).

        The page itself polls (every 30 ms, in one asynchronous script of up to 10 s): a poll from here costs the
        browser, chromedriver and this process about 3 ms of CPU each time, which made waiting most of what the web
        suites cost. A navigation ends the script; the wait then goes on in the new document."""
        deadline = time.monotonic() + timeout
        last, err = None, None
        while True:
            left = deadline - time.monotonic()
            try:
                last, err = self.js_async(
                    """const done = arguments[arguments.length - 1], until = Date.now() + arguments[0];
                    const poll = () => {
                      let v = null, e = null;
                      try { v = (%s); } catch (x) { e = String(x); }
                      if (v || Date.now() >= until) done([v || null, e]); else setTimeout(poll, 30);
                    };
                    poll();"""
                    % expr,
                    max(0, min(left, 10)) * 1000,
                )
            except Exception as e:  # a navigation in progress, or the document went away while waiting
                last, err = None, str(e).splitlines()[0]
                time.sleep(0.05)
            if last:
                return last
            if time.monotonic() > deadline:
                break
        shown = ""
        if diag:
            try:
                shown = f"; the page shows: {self.js(f'return ({diag});')!r}"
            except Exception as e:
                shown = f"; (diagnostic failed: {str(e).splitlines()[0]})"
        if err:
            shown += f"; last error: {err}"
        raise Fail(f"timed out after {timeout} s waiting for {what}{shown}")

    def wait_for(self, predicate, what, timeout=10):
        """Polls a Python callable until it returns something truthy: every 50 ms at first, then less often (up to
        every 250 ms), since each look that asks the page costs a few ms of CPU in the browser and chromedriver."""
        deadline = time.monotonic() + timeout
        pause = 0.05
        while True:
            v = predicate()
            if v:
                return v
            if time.monotonic() > deadline:
                raise Fail(f"timed out after {timeout} s waiting for {what}")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.25)

    def text(self, selector):
        """textContent of the first match, or None when absent."""
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", selector)

    def exists(self, selector):
        return bool(self.js("return !!document.querySelector(arguments[0]);", selector))

    def visible(self, selector):
        """Present and rendered (not display:none / hidden / zero-sized)."""
        return bool(
            self.js(
                """const e = document.querySelector(arguments[0]);
                   if (!e || e.hidden || e.closest('[hidden]')) return false;
                   const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
                   return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';""",
                selector,
            )
        )

    def click(self, selector):
        self.driver.find_element(By.CSS_SELECTOR, selector).click()

    def body_text(self, limit=1500):
        t = self.js("return document.body ? document.body.innerText : '';") or ""
        return t[:limit]

    # -- output -----------------------------------------------------------------------------------------------
    def screenshot(self, path):
        """A PNG of the viewport (width×height)."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if not self.driver.save_screenshot(path):
            raise Fail(f"could not write the screenshot {path}")
        return path

    def dialogs(self):
        return self.js("return window.__argusDialogs || [];")

    # -- checks every scenario ends with ---------------------------------------------------------------------
    def console_errors(self, allow=()):
        """SEVERE console messages, except those matching one of the regular expressions `allow`."""
        self.drain()
        return [
            c["message"]
            for c in self.console
            if c["level"] == "SEVERE" and not any(re.search(a, c["message"]) for a in allow)
        ]

    def foreign_requests(self, origin):
        self.drain()
        return [
            u
            for u in self.requests
            if not (u == origin or u.startswith(origin + "/") or u.startswith("data:") or u.startswith("about:"))
        ]

    def assert_clean(self, origin, allow_console=()):
        errors = self.console_errors(allow_console)
        if errors:
            raise Fail("console errors:\n  " + "\n  ".join(errors))
        foreign = self.foreign_requests(origin)
        if foreign:
            raise Fail(f"requests left the origin {origin}:\n  " + "\n  ".join(foreign))
        if self.dialogs():
            raise Fail(f"the page opened dialogs: {self.dialogs()}")

    # -- processes (for the CPU benchmark) -------------------------------------------------------------------
    def processes(self):
        """{pid: cmdline} of every process under chromedriver (the browser and its children)."""
        root = self.service.process.pid
        children = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
                ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError):
                continue
        out, todo = {}, [root]
        while todo:
            p = todo.pop()
            for c in children.get(p, []):
                try:
                    with open(f"/proc/{c}/cmdline", "rb") as f:
                        out[c] = f.read().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                todo.append(c)
        return out

    def renderer_pids(self):
        return [p for p, cmd in self.processes().items() if "--type=renderer" in cmd]

    def close(self):
        try:
            self.driver.quit()
        except Exception:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (0 when it has gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return 0
    fields = s[s.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the server's HTTP API (the scenarios' own ingest and checks) ---------------------------------------------
class Server:
    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = token

    def request(self, method, path, body=None, token=True, accept="application/json"):
        """(status, body bytes, headers)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", accept)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {self.token if token is True else token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def get_json(self, path, token=True):
        status, body, _ = self.request("GET", path, token=token)
        if status != 200:
            raise Fail(f"GET {path} → {status}: {body[:300]!r}")
        return json.loads(body)

    def post_events(self, events):
        status, body, _ = self.request("POST", "/api/events/batch", {"events": events})
        if status != 200:
            raise Fail(f"POST /api/events/batch → {status}: {body[:300]!r}")
        return json.loads(body)


_seq = [0]


def event(event_type, batch, job=None, data=None, ts=None, source=None):
    """An SDK-shaped event envelope (schema 1.1), like Tests/TestSupport's Ev.make."""
    import uuid
    from datetime import datetime, timezone

    _seq[0] += 1
    return {
        "event_id": str(uuid.uuid4()),
        "schema_version": "1.1",
        "event_type": event_type,
        "timestamp": ts or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "batch_id": batch,
        "job_id": job,
        "source": source or {"project": "proj", "host": "gpu-box-1", "user": "alice"},
        "data": data or {},
    }
