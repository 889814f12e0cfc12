// The live connection: one EventSource, its state in `#conn` with the age of the run's last event. It resumes
// with Last-Event-ID itself; when it gives up (an HTTP error), the page asks why and tries again.
import { $, setText } from './dom.js';
import { sseURL } from './api.js';
import { age, clock, isoSeconds, nowSeconds } from './format.js';

/** What training scripts send: only these count as "last event" (server-made notices do not). */
const FROM_RUN = ['batch_start', 'batch_done', 'batch_failed', 'job_start', 'job_epoch', 'job_done', 'job_failed',
  'resource_snapshot', 'log_line', 'env_snapshot'];
const SERVER_MADE = ['summary', 'stop_requested', 'rerun_requested', 'rerun_started', 'rerun_failed', 'share_created',
  'job_idle_flagged', 'job_idle_recovered', 'batch_stalled', 'batch_resumed', 'batch_stopped', 'batch_marked_failed'];

export class Live {
  /** channels: [['batch', b]]; onFrame(type, id, data) for every frame; onClosed() when the stream was refused
   *  (resolves to false to stop retrying, e.g. signed out). */
  constructor({ channels, lastEventID, onFrame, onClosed }) {
    this.channels = channels;
    this.lastID = lastEventID;
    this.onFrame = onFrame;
    this.onClosed = onClosed || (async () => true);
    this.lastEventAt = null;
    this.state = 'reconnecting';
    this.reason = 'connecting…';
    this.es = null;
    this.retryTimer = 0;
    this.stopped = false;
    // Watchdog: silence past `keepalive_s` (from hello) is a dead connection EventSource would wait on forever.
    this.keepaliveS = 15;
    this.heardFromServerAt = nowSeconds();
    // Down since when, and tries to resume (argus-tui counts them too); reset when the server speaks.
    this.lostAt = null;
    this.attempts = 0;
    this.failedAt = 0;
    this.tick = setInterval(() => { this.watch(); this.show(); }, 1000);
    // Six connections per host (http/1.1): a hidden or cached page gives its stream back and resumes when shown.
    this.onPageHide = () => {
      clearTimeout(this.retryTimer);
      if (this.es) this.es.close();
      this.es = null;
    };
    this.onPageShow = (ev) => { if (ev.persisted) this.start(); };
    this.onVisible = () => document.hidden ? this.onPageHide() : this.es || this.start();
    addEventListener('pagehide', this.onPageHide);
    addEventListener('pageshow', this.onPageShow);
    document.addEventListener('visibilitychange', this.onVisible);
  }

  /** When the run was last heard from (seconds), as of the page's first load. */
  heardAt(seconds) {
    if (seconds !== null && (this.lastEventAt === null || seconds > this.lastEventAt)) this.lastEventAt = seconds;
    this.show();
  }

  start() {
    if (this.stopped || document.hidden) return;
    const es = new EventSource(sseURL(this.channels, this.lastID));
    this.es = es;
    this.heardFromServerAt = nowSeconds();
    if (this.lostAt === null) this.set('reconnecting', 'connecting…');
    es.onopen = () => this.set('live', '');
    es.onerror = () => {
      if (es !== this.es) return;
      // A try failed and the browser makes the next one itself: the watchdog leaves it be.
      if (es.readyState === EventSource.CONNECTING) return this.failed();
      es.close();
      this.why().then((no) => {
        if (es !== this.es) return false;
        // A 5xx is an outage, not a refusal: tried again as the browser does.
        if (no?.status >= 500) {
          this.downWhy = no.detail;
          this.failed();
          return 2000;
        }
        this.set('offline', 'the server refused the stream' + (no ? `: ${no.detail}` : ''));
        return this.onClosed().then((again) => again && 5000);
      }).then((ms) => {
        if (ms && !this.stopped) this.retryTimer = setTimeout(() => this.start(), ms);
      });
    };
    for (const type of ['hello', 'keepalive', ...FROM_RUN, ...SERVER_MADE]) {
      es.addEventListener(type, (ev) => this.frame(type, ev));
    }
  }

  /** Why the server refuses the stream ({status, detail}; EventSource never says), by one fetch; or null. */
  async why() {
    const ctl = new AbortController();
    try {
      const res = await fetch(sseURL(this.channels, null), { signal: ctl.signal, credentials: 'same-origin', cache: 'no-store' });
      if (res.ok) { ctl.abort(); return null; }
      const body = await res.json().catch(() => null);
      return { status: res.status, detail: body?.detail || `HTTP ${res.status}` };
    } catch (e) {
      return null;
    }
  }

  /** Nothing for 1.5 keepalives + 2 s: it died silently. Closed and resumed from the last id. */
  watch() {
    if (!this.es) return;
    const silent = nowSeconds() - Math.max(this.heardFromServerAt, this.failedAt);
    if (silent <= 1.5 * this.keepaliveS + 2) return;
    // Dated from the first silence, not this try.
    if (this.lostAt === null) this.lostAt = this.heardFromServerAt;
    this.es.close();
    this.es = null;
    this.start();
    this.retrying(`nothing from the server since ${clock(this.lostAt)}`);
  }

  /** A try to resume failed and another comes: counted, with when the stream was lost. */
  failed() {
    this.failedAt = nowSeconds();
    if (this.lostAt === null) this.lostAt = this.failedAt;
    this.retrying(`lost at ${clock(this.lostAt)}${this.downWhy ? ` · ${this.downWhy}` : ''}`);
  }

  /** One more try to resume: counted, with what was lost when. */
  retrying(what) {
    this.attempts += 1;
    this.set('reconnecting', `reconnecting (attempt ${this.attempts}) · ${what}`);
  }

  frame(type, ev) {
    this.heardFromServerAt = nowSeconds();
    this.lostAt = null;
    this.attempts = 0;
    this.downWhy = '';
    // Replay, then the summary of now.
    if (type === 'hello') this.set('reconnecting', 'catching up…');
    else if (type === 'summary' && this.state !== 'live') this.set('live', '');
    const id = ev.lastEventId ? Number(ev.lastEventId) : null;
    if (id !== null && Number.isFinite(id)) this.lastID = id;
    if (type === 'keepalive') return;
    if (type === 'hello') {
      let hello = {};
      try { hello = JSON.parse(ev.data); } catch (e) { /* the defaults stand */ }
      const k = hello.keepalive_s;
      if (Number.isFinite(k) && k > 0) this.keepaliveS = k;
      // The server's history ends before our last id (a restored backup): load the page again.
      if (hello.reset === true) {
        this.close();
        location.reload();
      }
      return;
    }
    // A replayed event is of the past: the summary after it says when the run was heard.
    if (FROM_RUN.includes(type) && this.state === 'live') {
      this.lastEventAt = nowSeconds();
      this.show();
    }
    let data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    if (type === 'summary') this.heardAt(isoSeconds(data.batch?.last_received));
    this.onFrame(type, id, data);
  }

  set(state, reason) {
    this.state = state;
    this.reason = reason;
    this.show();
  }

  show() {
    const conn = $('conn');
    if (!conn) return;
    if (conn.dataset.state !== this.state) conn.dataset.state = this.state;
    const since = this.lastEventAt === null ? '' : ` · last event ${age(nowSeconds() - this.lastEventAt)}`;
    const word = this.state === 'live' ? 'live' : this.state === 'offline' ? `offline: ${this.reason}` : this.reason;
    setText(conn, word + since);
    conn.title = word + since;
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.tick);
    removeEventListener('pagehide', this.onPageHide);
    removeEventListener('pageshow', this.onPageShow);
    document.removeEventListener('visibilitychange', this.onVisible);
    if (this.es) this.es.close();
    this.es = null;
  }
}
