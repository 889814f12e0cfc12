// The loss curve on a <canvas>: every visible series drawn with min/max/first/last per pixel column (M4), so a
// spike or a NaN among 100k epochs stays visible; off-scale values are marked at the edge (▲▼), non-finite ones
// with a red ✕ at the top. Train and val loss by default; every other numeric key is a toggle in `#series`.
import { $, el, clean, setText } from './dom.js';
import { loss, axisLabels } from './format.js';
import { EpochSeries, NON_FINITE, EMA, plotted, smoothed, dataRange, stableBounds, niceStep } from './chart-scale.js';

const PALETTE = ['#39c5cf', '#d29922', '#3fb950', '#bc8cff', '#58a6ff', '#f85149', '#e6edf3'];
/** Redraws at most this often while epochs stream in, and at most this share of the time. */
const MIN_REDRAW_MS = 500;
const MAX_DRAW_SHARE = 0.015;

export class LossChart {
  constructor() {
    this.canvas = $('chart');
    this.tip = $('chart-tip');
    this.series = new EpochSeries();
    this.visible = new Set(['train_loss', 'val_loss']);
    this.ema = false;
    this.logY = false;
    this.bounds = null;
    this.smoothCache = new Map();
    this.legend = new Map();
    this.layout = null;
    this.info = { finished: false, epoch: null };
    this.timer = 0;
    this.lastDraw = 0;
    this.drawCost = 0;
    $('smooth').addEventListener('change', (e) => { this.ema = e.target.checked; this.rescale(); });
    $('logy').addEventListener('change', (e) => { this.logY = e.target.checked; this.rescale(); });
    $('series').addEventListener('change', (e) => {
      const name = e.target.dataset.series;
      if (!name) return;
      if (e.target.checked) this.visible.add(name); else this.visible.delete(name);
      this.rescale();
    });
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.canvas);
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.cursor = $('chart-cursor');
    this.canvas.addEventListener('mouseleave', () => this.unhover());
  }

  /** The page is going away: no more redraws. */
  close() {
    this.resize.disconnect();
    clearTimeout(this.timer);
    this.closed = true;
  }

  /** Starts over from a view's `epochs` (ascending rows). */
  reset(rows, info) {
    this.series = new EpochSeries();
    for (const r of rows) this.series.upsert(r);
    this.smoothCache.clear();
    this.legend.clear();
    $('series').replaceChildren();
    this.info = info;
    this.bounds = null;
    this.draw();
  }

  /** What the empty chart says depends on the job (finished? an epoch the rows no longer show?). */
  setInfo(info) {
    const changed = info.finished !== this.info.finished || info.epoch !== this.info.epoch;
    this.info = info;
    if (changed && this.series.count === 0) this.schedule();
  }

  add(row) {
    this.series.upsert(row);
    this.schedule();
  }

  rescale() {
    this.bounds = null;
    this.draw();
  }

  schedule() {
    if (this.timer) return;
    const gap = Math.max(MIN_REDRAW_MS, this.drawCost / MAX_DRAW_SHARE);
    const wait = Math.max(0, gap - (performance.now() - this.lastDraw));
    this.timer = setTimeout(() => requestAnimationFrame(() => { this.timer = 0; this.draw(); }), wait);
  }

  column(name) {
    const raw = this.series.column(name) || [];
    if (!this.ema) return raw;
    const hit = this.smoothCache.get(name);
    if (hit && hit.version === this.series.version) return hit.col;
    const col = smoothed(raw);
    this.smoothCache.set(name, { version: this.series.version, col });
    return col;
  }

  color(name) { return PALETTE[Math.max(0, this.series.names.indexOf(name)) % PALETTE.length]; }

  renderLegend() {
    const box = $('series');
    for (const name of this.series.names) {
      let entry = this.legend.get(name);
      if (!entry) {
        const input = el('input', { type: 'checkbox', dataset: { series: name } });
        input.checked = this.visible.has(name);
        const swatch = el('span', { class: 'swatch' });
        swatch.style.background = this.color(name);
        const val = el('span', { class: 'val' });
        box.append(el('label', {}, input, swatch, name, val));
        entry = { val };
        this.legend.set(name, entry);
      }
      const v = this.series.latest(name);
      setText(entry.val, v === null ? '—' : v === NON_FINITE ? 'NaN' : loss(v));
    }
  }

  emptyMessage(hasRange, shown) {
    if (this.series.count > 0) {
      if (!shown) return 'nothing to plot: every series is unticked';
      if (this.logY && !hasRange) return 'log y: no value above 0 to plot (untick log y)';
      return 'nothing to plot: every visible series is empty';
    }
    if (this.info.epoch !== null && this.info.epoch !== undefined) {
      return 'epoch rows purged by retention; the latest loss above is kept';
    }
    return this.info.finished ? 'this job reported no epochs' : 'waiting for the first epoch…';
  }

  draw() {
    if (this.closed) return;
    const t0 = performance.now();
    this.paint();
    this.lastDraw = performance.now();
    this.drawCost = this.lastDraw - t0;
    this.canvas.dataset.drawMs = this.drawCost.toFixed(1);
  }

  paint() {
    this.renderLegend();
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w) c.width = w;
    if (c.height !== h) c.height = h;
    const ctx = c.getContext('2d');
    ctx.clearRect(0, 0, w, h);
    const s = this.series;
    c.dataset.epochs = String(s.count);
    const names = s.names.filter((n) => this.visible.has(n));
    const cols = names.map((n) => this.column(n));
    const range = s.count ? dataRange(cols, this.logY) : null;
    const empty = $('chart-empty');
    if (!range) {
      c.dataset.drawn = '0';
      this.layout = null;
      empty.textContent = this.emptyMessage(names.length > 0 && s.count > 0 && dataRange(cols, false) !== null, names.length);
      empty.hidden = false;
      setText($('chart-note'), '');
      return;
    }
    empty.hidden = true;
    this.bounds = stableBounds(this.bounds, range, this.logY);
    const [lo, hi] = this.bounds;
    const px = (v) => v * dpr;
    ctx.font = `${px(11)}px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace`;
    ctx.textBaseline = 'middle';

    // Y grid and labels (the gutter fits the widest); from quarters: hi - lo overflows for ±1e308.
    const step = niceStep(hi / 4 - lo / 4);
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9 && ticks.length < 12; t += step) ticks.push(t);
    const labels = axisLabels(ticks.map((t) => (this.logY ? 10 ** t : t)));
    const gutter = Math.max(...labels.map((l) => ctx.measureText(l).width)) + px(10);
    const plot = { x: gutter, y: px(8), w: Math.max(1, w - gutter - px(12)), h: Math.max(1, h - px(8) - px(22)) };
    // A row as a fraction of the range, from halves: hi - lo overflows for ±1e308, its inverse for subnormals.
    const half = hi / 2 - lo / 2;
    const yOf = (p) => plot.y + ((hi / 2 - p / 2) / half) * (plot.h - 1);
    ctx.strokeStyle = '#21262d';
    ctx.fillStyle = '#8b949e';
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ticks.forEach((t, i) => {
      const y = Math.round(yOf(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(plot.x, y);
      ctx.lineTo(plot.x + plot.w, y);
      ctx.stroke();
      ctx.fillText(labels[i], plot.x - px(6), y);
    });
    // Epoch axis: first, middle, last.
    const e0 = s.epochs[0];
    const eN = s.epochs[s.count - 1];
    const span = Math.max(1, eN - e0);
    const xScale = (plot.w - 1) / span;
    ctx.textBaseline = 'top';
    const axisY = plot.y + plot.h + px(6);
    ctx.textAlign = 'left';
    ctx.fillText(String(e0), plot.x, axisY);
    ctx.textAlign = 'center';
    // The middle label sits over its own epoch's points.
    const mid = e0 + Math.floor((eN - e0) / 2);
    if (plot.w > px(200) && mid !== e0 && mid !== eN) ctx.fillText(`epoch ${mid}`, plot.x + (mid - e0) * xScale, axisY);
    ctx.textAlign = 'right';
    if (eN !== e0) ctx.fillText(String(eN), plot.x + plot.w, axisY);

    const off = { above: 0, below: 0, nonPositive: 0, nonFinite: 0 };
    const marks = { above: new Map(), below: new Map(), nan: new Set() };
    let drawnTrain = 0;
    let trainMin = Infinity;
    let trainMax = -Infinity;
    const slack = half * 2e-9;
    const epochs = s.epochs;
    names.forEach((name, k) => {
      const col = cols[k];
      const color = this.color(name);
      ctx.strokeStyle = color;
      ctx.lineWidth = px(1.25);
      ctx.beginPath();
      let curX = -1;
      let first = 0;
      let last = 0;
      let mn = 0;
      let mx = 0;
      let started = false;
      let drawn = 0;
      let columns = 0;
      const flush = () => {
        if (curX < 0) return;
        if (started) ctx.lineTo(curX, first); else ctx.moveTo(curX, first);
        started = true;
        columns++;
        if (mn !== mx) { ctx.moveTo(curX, mn); ctx.lineTo(curX, mx); }
        ctx.moveTo(curX, last);
      };
      const n = Math.min(col.length, epochs.length);
      const isTrain = name === 'train_loss';
      for (let i = 0; i < n; i++) {
        const v = col[i];
        if (Number.isNaN(v)) continue;
        const x = plot.x + Math.round((epochs[i] - e0) * xScale) + 0.5;
        if (v === NON_FINITE || v === -Infinity) {
          marks.nan.add(x);
          off.nonFinite++;
          continue;
        }
        const p = plotted(v, this.logY);
        if (p === null) {
          marks.below.set(x, color);
          off.nonPositive++;
          continue;
        }
        if (p > hi + slack) { marks.above.set(x, color); off.above++; continue; }
        if (p < lo - slack) { marks.below.set(x, color); off.below++; continue; }
        const y = yOf(p);
        drawn++;
        if (isTrain) {
          if (y < trainMin) trainMin = y;
          if (y > trainMax) trainMax = y;
        }
        if (x !== curX) {
          flush();
          curX = x;
          first = y;
          mn = y;
          mx = y;
        }
        last = y;
        if (y < mn) mn = y;
        if (y > mx) mx = y;
      }
      flush();
      ctx.stroke();
      // One epoch so far (an hour-long first epoch): a path of one point strokes nothing, so it is a dot.
      if (columns === 1 && mn === mx) {
        ctx.fillStyle = color;
        ctx.beginPath();
        ctx.arc(curX, mn, px(2.5), 0, 2 * Math.PI);
        ctx.fill();
      }
      if (name === 'train_loss') drawnTrain = drawn;
    });
    ctx.textAlign = 'center';
    ctx.font = `${px(10)}px sans-serif`;
    ctx.textBaseline = 'top';
    for (const [x, color] of marks.above) { ctx.fillStyle = color; ctx.fillText('▲', x, plot.y - px(4)); }
    ctx.textBaseline = 'bottom';
    for (const [x, color] of marks.below) { ctx.fillStyle = color; ctx.fillText('▼', x, plot.y + plot.h + px(4)); }
    ctx.fillStyle = '#f85149';
    ctx.textBaseline = 'top';
    for (const x of marks.nan) ctx.fillText('✕', x, plot.y - px(4));

    c.dataset.drawn = String(drawnTrain);
    // For tests: the y labels, and how many pixels the train_loss curve spans from top to bottom.
    c.dataset.ticks = labels.join(' ');
    c.dataset.trainSpan = String(Math.round(trainMax - trainMin));
    this.layout = { plot, e0, xScale, dpr };
    const flags = [];
    if (this.ema) flags.push(`EMA ${EMA}`);
    if (this.logY) flags.push(`log y${off.nonPositive ? `: ${off.nonPositive} ≤0 at ▼` : ''}`);
    if (off.above + off.below) flags.push(`${off.above + off.below} off-scale ${off.above ? '▲' : ''}${off.below ? '▼' : ''}`);
    if (off.nonFinite) flags.push(`${off.nonFinite} non-finite ✕`);
    setText($('chart-note'), `${s.count} epoch${s.count === 1 ? '' : 's'}` + (flags.length ? ` · ${flags.join(', ')}` : ''));
  }

  /** The tooltip: the epoch under the pointer and every visible series' value there. */
  hover(ev) {
    const L = this.layout;
    const s = this.series;
    if (!L || !s.count) { this.unhover(); return; }
    const rect = this.canvas.getBoundingClientRect();
    const x = (ev.clientX - rect.left) * L.dpr;
    if (x < L.plot.x - 4 * L.dpr || x > L.plot.x + L.plot.w + 4 * L.dpr) { this.unhover(); return; }
    const target = L.e0 + (x - L.plot.x) / L.xScale;
    const ep = s.epochs;
    let a = 0;
    let b = ep.length - 1;
    while (a < b) {
      const m = (a + b) >> 1;
      if (ep[m] < target) a = m + 1; else b = m;
    }
    const i = a > 0 && Math.abs(ep[a - 1] - target) <= Math.abs(ep[a] - target) ? a - 1 : a;
    const lines = [`epoch ${ep[i]}`];
    for (const name of s.names) {
      if (!this.visible.has(name)) continue;
      const v = s.column(name)[i];
      let text = Number.isNaN(v) ? '—' : v === NON_FINITE ? 'NaN/inf' : loss(v);
      if (this.ema && Number.isFinite(v)) text += ` (EMA ${loss(this.column(name)[i])})`;
      lines.push(`${clean(name)} ${text}`);
    }
    this.tip.textContent = lines.join('\n');
    this.tip.hidden = false;
    const box = this.canvas.parentElement.getBoundingClientRect();
    let left = ev.clientX - box.left + 14;
    if (left + this.tip.offsetWidth > box.width) left = ev.clientX - box.left - this.tip.offsetWidth - 14;
    this.tip.style.left = `${Math.max(0, left)}px`;
    this.tip.style.top = `${Math.max(0, ev.clientY - box.top - this.tip.offsetHeight - 8)}px`;
    this.cursor.style.left = `${(L.plot.x + (ep[i] - L.e0) * L.xScale) / L.dpr}px`;
    this.cursor.hidden = false;
  }

  unhover() {
    this.tip.hidden = true;
    this.cursor.hidden = true;
  }
}
