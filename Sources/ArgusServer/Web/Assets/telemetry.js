// The telemetry strip: the server's summary of the job (JobOut.telemetry), formatted as argus-tui does; redrawn
// at each `summary` frame.
import { $, el, setText } from './dom.js';
import { duration, percent, gpuMemory, latestLoss, isoSeconds, nowSeconds, DASH } from './format.js';

export function renderTelemetry(job) {
  const t = job.telemetry || {};
  const status = t.status || job.status || DASH;
  const tile = $('tile-status');
  if (tile.firstChild?.nodeValue !== status || tile.childNodes.length === 0) {
    tile.replaceChildren(document.createTextNode(status));
  }
  tile.dataset.status = status;
  const idle = t.is_idle_flagged ?? job.is_idle_flagged;
  let badge = $('badge-idle');
  if (idle && !badge) {
    badge = el('span', { id: 'badge-idle' });
    tile.append(badge);
  } else if (!idle && badge) {
    badge.remove();
    badge = null;
  }
  if (badge) {
    const since = isoSeconds(t.idle_since);
    setText(badge, since === null ? 'IDLE' : `IDLE ${duration(nowSeconds() - since)}`);
  }
  setText($('tile-elapsed'), duration(t.elapsed_s ?? job.elapsed_s));
  const util = $('tile-gpu-util');
  setText(util, percent(t.gpu_util_pct));
  util.classList.toggle('warn', typeof t.gpu_util_pct === 'number' && t.gpu_util_pct < 5);
  setText($('tile-gpu-mem'), gpuMemory(t.gpu_mem_peak_mb, t.gpu_mem_total_mb, t.gpu_count));
  setText($('tile-train-loss'), latestLoss(t, 'train_loss'));
  setText($('tile-val-loss'), latestLoss(t, 'val_loss'));
  setText($('tile-epoch'), t.epoch === null || t.epoch === undefined ? '' : `@ epoch ${t.epoch}`);
}
