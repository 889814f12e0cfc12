// Guardrail banners, as argus-tui raises them: idle GPUs, a stalled run, a stop on its way (all from the server's
// summaries), and what the server reports about a rerun or a run it ended (from their notices).
import { $, el } from './dom.js';
import { clock, duration, isoSeconds, nowSeconds } from './format.js';

/** Notices streamed by the server: kept until the page shows another batch. */
export function noticeFor(type, data) {
  const d = data.data || {};
  switch (type) {
    case 'rerun_started':
      return d.new_batch_id ? { kind: 'rerun-started', text: `Rerun started as batch ${d.new_batch_id}: `,
        link: [`/batches/${encodeURIComponent(d.new_batch_id)}`, 'open it'] } : null;
    case 'rerun_failed':
      return { kind: 'rerun-failed', text: `Rerun failed on the host: ${d.reason || d.error || 'the agent could not start it'}` };
    case 'batch_marked_failed':
      return d.reason ? { kind: 'notice', text: d.reason } : null;
    default:
      return null;
  }
}

/** What the host's agent could not do (`{stop,rerun}.failed`): shown to whoever opens the page later too. */
function agentFailures(actions) {
  const out = [];
  for (const [key, kind, what] of [['stop', 'stop-failed', 'Stop'], ['rerun', 'rerun-failed', 'Rerun']]) {
    const f = actions?.[key]?.failed;
    if (!f) continue;
    const at = isoSeconds(f.at);
    out.push({ kind, text: `${what} failed on the host${at === null ? '' : ` at ${clock(at)}`}: ${f.reason}` });
  }
  return out;
}

/** The banners of a batch (and the job shown), from summaries, actions and notices. */
export function banners(batch, job, notices, actions) {
  const out = [];
  const t = job?.telemetry || {};
  if (job && (t.is_idle_flagged ?? job.is_idle_flagged)) {
    const since = isoSeconds(t.idle_since);
    out.push({ kind: 'idle', text: since === null
      ? 'GPU idle: every GPU under 5%; nothing was stopped'
      : `GPU idle: every GPU under 5% for ${duration(nowSeconds() - since)} (since ${clock(since)}); nothing was stopped` });
  }
  if (batch?.status === 'stalled') {
    const last = isoSeconds(batch.last_received) ?? isoSeconds(batch.last_activity);
    out.push({ kind: 'stalled', text: `Stalled: nothing received from this run since ${last === null ? 'its start' : clock(last)}` });
  }
  if (batch?.status === 'stopping') {
    const at = isoSeconds(batch.stop_requested_at);
    out.push({ kind: 'stopping', text: `Stopping: stop requested${at === null ? '' : ` at ${clock(at)}`}${batch.stop_detail ? `; ${batch.stop_detail}` : ''}` });
  }
  // Why the server ended it (batch_stopped's reason), for whoever opens it later too.
  if (batch?.status === 'stopped' && batch.end_reason) out.push({ kind: 'notice', text: batch.end_reason });
  const failures = agentFailures(actions);
  // A rerun failure streamed a moment ago is the one the actions now carry (with its time): shown once.
  const kinds = new Set(failures.map((f) => f.kind));
  return out.concat(failures, notices.filter((n) => !kinds.has(n.kind)));
}

export function renderBanners(list) {
  const box = $('banners');
  if (!box) return;
  const key = JSON.stringify(list);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(...list.map((b) => el('div', { class: 'banner', dataset: { kind: b.kind }, role: 'status' },
    `⚠ ${b.text}`, b.link ? el('a', { href: b.link[0], text: b.link[1] }) : null)));
}
