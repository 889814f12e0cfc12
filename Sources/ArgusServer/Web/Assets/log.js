// The log tail: follows new lines until the reader scrolls up; the filter box asks the server (`q=`, the whole
// history); scrolling to the top loads older lines (`before_id`). Lines are set as text, never as HTML, by
// timestamp, then id (argus-tui's LogLine); lines spilled in an outage arrive late.
import { $, el, setText } from './dom.js';
import { api } from './api.js';
import { isoClock } from './format.js';

const PAGE = 200;
/** Lines kept while following; older ones come back by scrolling up. */
const MAX_LINES = 5000;
/** Live lines are put on the page in batches at most this often (one layout and paint). */
const FLUSH_MS = 250;

/** The server's search rule (Shared/LogFilter.swift), for live lines while a filter is set. */
const matches = (q, row) => !q || row.line.toLowerCase().includes(q.toLowerCase()) || row.level.includes(q.toLowerCase());
const isHeartbeat = (row) => row.line === 'heartbeat' && row.level === 'debug';
/** The server's timestamp (Timestamp.iso) as a key that sorts as text: its fraction always six digits. */
const tkey = (iso) => String(iso).replace(/:(\d\d)Z$/, ':$1.000000Z');
const key = (e) => e && { t: e.dataset.t, id: Number(e.dataset.id) };
const earlier = (a, b) => a.t < b.t || (a.t === b.t && a.id < b.id);

const norm = (r) => ({ ...r, level: String(r.level || 'info').toLowerCase(), t: tkey(r.ts) });

/** The characters of a log line shown, as argus-tui keeps (LogLine.maxColumns). */
export const MAX_LINE = 8192;

/** Escape sequences as argus-tui drops them (TerminalText.withoutEscapes): CSI, OSC/DCS/APC/PM/SOS strings up to
 * BEL or ESC \, and the short ESC ones; a coloured logger's "ESC[31m" is not text. */
const ESCAPES = /(?:\x1b\[|\x9b)[\x20-\x3f]*[\x40-\x7e]?|(?:\x1b[\]P_^X]|[\x90\x98\x9d-\x9f])[\s\S]*?(?:\x07|\x9c|\x1b\\)|\x1b[\x20-\x2f]*[\x30-\x7e]|[\x1b\x90\x98\x9d-\x9f]/g;
export const plainLine = (line) => (/[\x1b\x90-\x9f]/.test(line) ? line.replace(ESCAPES, '') : line);

/** `line` cut to MAX_LINE characters, marked with its whole length in bytes, as argus-tui cuts it. */
export function capped(line) {
  const s = plainLine(String(line ?? ''));
  if (s.length <= MAX_LINE) return s;
  const chars = Array.from(s);
  if (chars.length <= MAX_LINE) return s;
  return `${chars.slice(0, MAX_LINE).join('')} [line cut: ${new TextEncoder().encode(s).length} bytes in all]`;
}

export class LogPane {
  /** `url(params)`: the log-lines URL of the job shown, with `before_id`/`q`/`limit` added. */
  constructor(url) {
    this.url = url;
    this.box = $('log');
    this.follow = true;
    this.query = '';
    this.olderExist = false;
    this.loading = false;
    this.newestID = 0;
    this.count = 0;
    this.pending = [];
    this.flushTimer = 0;
    this.note = null;
    this.generation = 0;
    this.box.addEventListener('scroll', () => this.onScroll());
    const filter = $('log-filter');
    let debounce = 0;
    filter.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.search(filter.value.trim()), 250);
    });
    $('log-follow').addEventListener('click', () => { this.follow = true; this.toBottom(); this.showFollow(); });
  }

  /** Starts over from a view's `log_tail` (newest first). */
  reset(url, rows) {
    this.url = url;
    this.generation++;
    this.query = $('log-filter').value.trim();
    if (this.query) { this.search(this.query); return; }
    this.replace(rows);
  }

  replace(rows) {
    this.box.replaceChildren();
    this.pending = [];
    this.note = null;
    this.newestID = 0;
    this.count = 0;
    this.olderExist = rows.length >= PAGE;
    this.follow = true;
    this.insertOlder(rows, true);
    this.toBottom();
    this.showFollow();
    this.showStatus();
  }

  /** `r` from `norm`; times as wide as the widest, as argus-tui pads them. */
  row(r) {
    const ts = isoClock(r.ts || r.timestamp);
    if (ts.length > (this.tsw || 0)) this.box.style.setProperty('--ts', `${this.tsw = ts.length}ch`);
    return el('div', { class: 'line', dataset: { id: String(r.id), t: String(r.t), level: r.level } },
      el('span', { class: 'ts', text: ts }),
      el('span', { class: 'lvl', text: r.level }),
      el('span', { class: 'text', text: capped(r.line) }));
  }

  /** Rows newest first, put above what is shown. An older page leaves `newestID` (the stream's) be: its late
   * lines may be newer than lines yet to stream. */
  insertOlder(rows, first) {
    const frag = document.createDocumentFragment();
    const oldest = key(this.box.querySelector('.line'));
    for (let i = rows.length - 1; i >= 0; i--) {
      const r = norm(rows[i]);
      if (isHeartbeat(r) || (oldest && !earlier(r, oldest))) continue;
      frag.append(this.row(r));
      this.count++;
      if (first && r.id > this.newestID) this.newestID = r.id;
    }
    this.box.prepend(frag);
    this.empty();
  }

  empty() {
    if (this.count > 0 && this.note) {
      this.note.remove();
      this.note = null;
    } else if (this.count === 0 && !this.note) {
      this.note = el('div', { class: 'note', text: this.query ? 'no line matches the filter' : 'no log lines' });
      this.box.append(this.note);
    }
  }

  /** A live `log_line` of the shown job: queued for the next flush (a quarter second). */
  append(r) {
    r = norm(r);
    if (r.id <= this.newestID || isHeartbeat(r) || !matches(this.query, r)) return;
    this.newestID = r.id;
    this.pending.push(r);
    if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** One DOM change and one scroll for the lines that came since the last flush. A late one goes where it sorts;
   * above every line shown, with older ones on the server, the page that reaches it brings it. */
  flush() {
    this.flushTimer = 0;
    if (!this.pending.length) return;
    const frag = document.createDocumentFragment(), lines = this.box.getElementsByClassName('line');
    let last = key(lines[lines.length - 1]);
    for (const r of this.pending.sort((a, b) => (earlier(a, b) ? -1 : 1))) {
      if (!last || !earlier(r, last)) { frag.append(this.row(r)); last = r; this.count++; continue; }
      let i = lines.length;
      while (i > 0 && earlier(r, key(lines[i - 1]))) i--;
      if ((i === 0 && this.olderExist) || this.box.querySelector(`[data-id="${r.id}"]`)) continue;
      lines[i].before(this.row(r));
      this.count++;
    }
    this.pending = [];
    this.box.append(frag);
    if (this.follow) {
      while (this.count > MAX_LINES) {
        this.box.firstElementChild.remove();
        this.count--;
        this.olderExist = true;
      }
      this.toBottom();
    }
    this.empty();
    this.showStatus();
  }

  toBottom() { this.box.scrollTop = this.box.scrollHeight; }

  onScroll() {
    const atBottom = this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 8;
    if (atBottom !== this.follow) {
      this.follow = atBottom;
      this.showFollow();
    }
    if (this.box.scrollTop < 60 && this.olderExist && !this.loading) this.loadOlder(); else this.showStatus();
  }

  async loadOlder() {
    const first = key(this.box.querySelector('.line'));
    if (!first) return;
    this.loading = true;
    this.showStatus();
    const gen = this.generation;
    try {
      const rows = await api(this.url({ before_id: first.id, limit: PAGE, q: this.query }));
      if (gen !== this.generation) return;
      const height = this.box.scrollHeight;
      this.insertOlder(rows);
      this.box.scrollTop += this.box.scrollHeight - height;
      this.olderExist = rows.length >= PAGE;
    } catch (e) {
      setText($('log-status'), `could not load older lines: ${e.message}`);
    } finally {
      if (gen === this.generation) this.loading = false;
      this.showStatus();
    }
  }

  async search(q) {
    this.query = q;
    const gen = ++this.generation;
    this.loading = true;
    setText($('log-status'), q ? 'searching the whole log…' : '');
    try {
      const rows = await api(this.url({ limit: PAGE, q }));
      if (gen !== this.generation) return;
      this.loading = false;
      this.replace(rows);
    } catch (e) {
      if (gen === this.generation) {
        this.loading = false;
        setText($('log-status'), `search failed: ${e.message}`);
      }
    }
  }

  showFollow() {
    const b = $('log-follow');
    b.dataset.follow = String(this.follow);
    setText(b, this.follow ? 'following' : 'paused · follow ⤓');
  }

  showStatus() {
    if (this.loading) { setText($('log-status'), 'loading older lines…'); return; }
    const n = this.count;
    let text = '';
    if (this.query) text = `filter "${this.query}": ${n}${this.olderExist ? '+' : ''} match${n === 1 ? '' : 'es'}`;
    else if (!this.olderExist && n > 0 && this.box.scrollTop < 60 && this.box.scrollHeight > this.box.clientHeight) text = 'start of the log';
    setText($('log-status'), text);
  }
}
