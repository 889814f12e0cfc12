// Numbers, durations and times as argus-tui shows them (Sources/ArgusTUI/View/JobPanels.swift `Fmt`,
// LossChart.format), so the page and the terminal say the same thing. Unknown values are an em dash.
export const DASH = '—';
const CENTURY_S = 100 * 365.25 * 86400;
const MEMORY_LIMIT_MB = 1024 * 1024 * 1024;

const pad2 = (n) => String(n).padStart(2, '0');
const isNum = (v) => typeof v === 'number';

/** 42s, 3m 05s, 1h 02m, 2d 3h. */
export function duration(s) {
  if (!isNum(s) || !Number.isFinite(s) || s < 0) return DASH;
  if (s >= CENTURY_S) return '>100y';
  const t = Math.floor(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m ${pad2(t % 60)}s`;
  if (t < 86400) return `${Math.floor(t / 3600)}h ${pad2(Math.floor((t % 3600) / 60))}m`;
  return `${Math.floor(t / 86400)}d ${Math.floor((t % 86400) / 3600)}h`;
}

/** How long ago, for the connection indicator: "3 s ago". */
export function age(seconds) {
  if (!isNum(seconds) || Number.isNaN(seconds)) return DASH;
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** C's %.Ne: the exponent has at least two digits (1.23e+05), as the TUI prints it. */
function exp(v, digits) {
  return v.toExponential(digits).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** A telemetry's latest `key` loss: NaN when the run reported NaN or ±inf (in `nonfinite`), as argus-tui shows. */
export function latestLoss(t, key) {
  return t?.nonfinite?.includes(key) ? 'NaN' : loss(t?.[key]);
}

/** A loss: 4 significant digits; very large or small values in exponent form; NaN/inf spelled out. */
export function loss(v) {
  if (v === null || v === undefined) return DASH;
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'inf' : '-inf';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 100000 || a < 0.001)) return exp(v, 2);
  const s = v.toPrecision(4);
  return s.includes('e') ? exp(v, 2) : String(Number(s));
}

/** Axis labels: the fewest significant digits (from 3) that tell them apart, short exponents (4e-4). */
export function axisLabels(values) {
  const distinct = new Set(values).size;
  for (let digits = 3; digits <= 8; digits++) {
    const labels = values.map((v) => compact(v, digits));
    if (new Set(labels).size === distinct) return labels;
  }
  return values.map((v) => compact(v, 8));
}

function compact(v, digits) {
  if (!Number.isFinite(v)) return loss(v);
  let s = Number(v.toPrecision(digits)).toString();
  const a = Math.abs(v);
  if (a !== 0 && (a >= 10 ** digits || a < 1e-4)) s = v.toExponential(digits - 1).replace(/\.?0+e/, 'e');
  return s.replace('e+', 'e');
}

export function percent(v) {
  if (!isNum(v) || Number.isNaN(v)) return DASH;
  if (v > 999) return '>999%';
  if (v < 0) return '<0%';
  return `${v.toFixed(1)}%`;
}

export function memory(mb) {
  if (!isNum(mb) || Number.isNaN(mb) || mb < 0) return DASH;
  if (mb >= MEMORY_LIMIT_MB) return '>1 PiB';
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GiB` : `${mb.toFixed(0)} MiB`;
}

/** The most-loaded GPU's peak against its own capacity, e.g. "63.4 / 79.6 GiB ×4" (four GPUs). */
export function gpuMemory(peak, total, gpus) {
  if (!isNum(peak)) return DASH;
  let text = memory(peak);
  if (isNum(total) && total > 0 && total < MEMORY_LIMIT_MB && peak >= 0 && peak < MEMORY_LIMIT_MB) {
    text = total >= 1024
      ? `${(peak / 1024).toFixed(1)} / ${(total / 1024).toFixed(1)} GiB`
      : `${peak.toFixed(0)} / ${total.toFixed(0)} MiB`;
  }
  return isNum(gpus) && gpus > 1 ? `${text} ×${gpus}` : text;
}

/** Seconds since the epoch of an ISO timestamp, or null. */
export function isoSeconds(iso) {
  if (typeof iso !== 'string') return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms / 1000;
}

/** Local time of day, HH:MM:SS: "since when" stays true as time passes. */
export function clock(seconds) {
  if (!isNum(seconds) || !Number.isFinite(seconds)) return '--:--:--';
  const d = new Date(seconds * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** argus-tui's log time: local HH:MM:SS, dated when not today (Apr 22), with the year when not this year. */
export function isoClock(iso) {
  const s = isoSeconds(iso), d = new Date(s * 1000), n = new Date(), y = d.getFullYear(), c = clock(s);
  if (s === null) return typeof iso == 'string' ? iso : '';
  return y != n.getFullYear() ? `${y}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${c}`
    : d.toDateString() == n.toDateString() ? c : `${d.toDateString().slice(4, 10)} ${c}`;
}

export const nowSeconds = () => Date.now() / 1000;
/** BatchStatus.terminal */
export const FINISHED = new Set(['done', 'failed', 'stopped']);
/** A job's status as shown (stalled, stopping: its telemetry's). */
export const shownStatus = (j) => j.telemetry?.status || j.status;
