// The loss chart's data and y scale, as argus-tui's EpochSeries and ChartScale.
/** The EMA's weight on the previous value, as argus-tui, W&B and TensorBoard write it. */
export const EMA = 0.9;
/** A value the run reported as NaN or infinite (stored as null and listed by the server). */
export const NON_FINITE = Infinity;
const SKIPPED = new Set(['epoch', 'timestamp', 'nonfinite', '_nonfinite']);
const OUTLIER_SPREADS = 10;

export class EpochSeries {
  constructor() {
    this.epochs = [];
    this.names = ['train_loss', 'val_loss'];
    this.columns = new Map([['train_loss', []], ['val_loss', []]]);
    // The same columns by name in a plain object: the fastest lookup for the per-value hot path.
    this.colOf = Object.create(null);
    for (const [k, col] of this.columns) this.colOf[k] = col;
    this.version = 0;
  }

  get count() { return this.epochs.length; }
  column(name) { return this.columns.get(name); }

  /** Adds or replaces one epoch (a `/epochs` row or a job_epoch's data): the hot path of a 100k load. */
  upsert(o) {
    const epoch = o.epoch;
    if (!Number.isInteger(epoch)) return;
    const ep = this.epochs;
    const n = ep.length;
    let row;
    if (n === 0 || epoch > ep[n - 1]) {
      row = n;
      ep.push(epoch);
      for (const col of this.columns.values()) col.push(NaN);
    } else {
      // A re-sent epoch replaces the earlier one; one out of order is inserted in place.
      let a = 0;
      let b = n;
      while (a < b) {
        const m = (a + b) >> 1;
        if (ep[m] < epoch) a = m + 1; else b = m;
      }
      row = a;
      if (ep[row] === epoch) {
        for (const col of this.columns.values()) col[row] = NaN;
      } else {
        ep.splice(row, 0, epoch);
        for (const col of this.columns.values()) col.splice(row, 0, NaN);
      }
    }
    const nonfinite = o.nonfinite || o._nonfinite;
    for (const key in o) {
      if (SKIPPED.has(key)) continue;
      const v = o[key];
      if (typeof v === 'number') this.put(key, row, Number.isFinite(v) ? v : NON_FINITE);
      else if (v === null && nonfinite && nonfinite.includes(key)) this.put(key, row, NON_FINITE);
    }
    if (nonfinite) for (const key of nonfinite) if (!(key in o)) this.put(key, row, NON_FINITE);
    this.version++;
  }

  put(key, row, value) {
    let col = this.colOf[key];
    if (!col) {
      col = new Array(this.epochs.length).fill(NaN);
      this.columns.set(key, col);
      this.colOf[key] = col;
      this.names.push(key);
    }
    col[row] = value;
  }

  latest(name) {
    const col = this.columns.get(name);
    if (!col) return null;
    for (let i = col.length - 1; i >= 0; i--) if (!Number.isNaN(col[i])) return col[i];
    return null;
  }
}

/** A value as plotted (log10 when asked); null when it cannot be drawn on this scale. */
export function plotted(v, logY) {
  if (!Number.isFinite(v)) return null;
  if (logY) return v > 0 ? Math.log10(v) : null;
  return v;
}

/** Outlier fences of sorted sample `v`: 10 spreads beyond its 10th–90th percentile (one decade on log y). */
function fences(v, logY) {
  const n = v.length;
  const q10 = v[Math.ceil(0.1 * (n - 1))];
  const q90 = v[Math.floor(0.9 * (n - 1))];
  const bulkLo = Math.min(q10, q90);
  const bulkHi = Math.max(q10, q90);
  const median = v[Math.floor((n - 1) / 2)];
  const spread = Math.max(bulkHi - bulkLo, logY ? 1 : Math.abs(median), 1e-300);
  return [bulkLo - OUTLIER_SPREADS * spread, bulkHi + OUTLIER_SPREADS * spread];
}

/** A column's plotted min and max inside the outlier fences (from a sample of ~4096). */
function columnRange(col, logY) {
  const step = Math.floor(col.length / 4096) + 1;
  let v = [];
  for (let i = 0; i < col.length; i += step) {
    const p = plotted(col[i], logY);
    if (p !== null) v.push(p);
  }
  if (v.length < 64) {
    // A sparse column (a metric logged now and then): the sample may miss it, so take it all.
    v = [];
    for (const x of col) {
      const p = plotted(x, logY);
      if (p !== null) v.push(p);
    }
  }
  if (!v.length) return null;
  const [fenceLo, fenceHi] = fences(v.sort((a, b) => a - b), logY);
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of col) {
    const p = plotted(x, logY);
    if (p !== null && p >= fenceLo && p <= fenceHi) {
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

/** EMA of the finite values, debiased (ChartScale.smoothed); outliers pass through, out of the average. */
export function smoothed(col) {
  const out = col.slice();
  const usual = columnRange(col, false);
  let acc = 0;
  let w = 1;
  for (let i = 0; i < col.length; i++) {
    const v = col[i];
    if (!Number.isFinite(v) || (usual && (v < usual[0] || v > usual[1]))) continue;
    acc = acc * EMA + (1 - EMA) * v;
    w *= EMA;
    out[i] = acc / (1 - w);
  }
  return out;
}

/** The range the visible series need, each without its outliers. */
export function dataRange(columns, logY) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const col of columns) {
    const r = columnRange(col, logY);
    if (!r) continue;
    lo = Math.min(lo, r[0]);
    hi = Math.max(hi, r[1]);
  }
  return lo <= hi ? [lo, hi] : null;
}

export function niceStep(raw) {
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/** What can be drawn and labelled (ChartScale.drawable): no label reads Infinity or 0. */
function drawable(logY) {
  return logY ? [Math.log10(Number.MIN_VALUE), Math.log10(Number.MAX_VALUE * 0.999)] : [-Number.MAX_VALUE, Number.MAX_VALUE];
}

/** Bounds with ~10% headroom snapped to round numbers, within `drawable`; kept while the data fills a third. */
export function stableBounds(previous, data, logY) {
  const [dlo, dhi] = data;
  if (previous && previous[0] <= dlo && dhi <= previous[1] && dhi - dlo >= (previous[1] - previous[0]) / 3) {
    return previous;
  }
  let span = dhi - dlo;
  if (span <= 0) span = Math.max(Math.abs(dhi) * 0.2, 1e-9);
  const step = niceStep(span / 4);
  let lo = Math.floor((dlo - span * 0.1) / step) * step;
  const hi = Math.ceil((dhi + span * 0.1) / step) * step;
  if (dlo >= 0 && lo < 0) lo = 0;
  const snapped = !Number.isFinite(lo) || !Number.isFinite(hi) || !Number.isFinite(step) || !(lo + step > lo)
    ? [dlo, Math.max(dhi, dlo + Math.abs(dlo) * 1e-12 + 1e-300)]
    : [lo, Math.max(hi, lo + step)];
  const [minB, maxB] = drawable(logY);
  const kept = [Math.max(snapped[0], minB), Math.min(snapped[1], maxB)];
  return kept[0] < kept[1] ? kept : snapped;
}
