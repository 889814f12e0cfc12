// The job-detail page, as argus-tui's: `/view`, then `summary` frames replace the batch and job; `job_epoch` and
// `log_line` frames add points and lines. Run state is never worked out here.
import { $, el, clean, mount, crumbs, setText } from './dom.js';
import { api, enc, isShare } from './api.js';
import { Live } from './live.js';
import { LossChart } from './chart.js';
import { LogPane } from './log.js';
import { ActionBar } from './actions.js';
import { renderTelemetry } from './telemetry.js';
import { banners, noticeFor, renderBanners } from './banners.js';
import { renderEnv } from './env.js';
import { FINISHED, isoSeconds, loss, shownStatus } from './format.js';


/** Shows job `jobID` of `batchID` in `<main>`; with `jobs` (a share link), a switcher. `onAuthLost()`: the server
 *  no longer takes the credential; `onSwitch(jobID)`: the reader picked a job. Returns `{close, show(jobID)}`. */
export async function jobPage({ batchID, jobID, jobs = null, onAuthLost, onSwitch = () => {} }) {
  mount('tpl-job');
  const readOnly = isShare();
  const s = { b: batchID, j: jobID, batch: null, job: null, actions: null, env: null, notices: [], watermark: 0 };
  if (readOnly) {
    for (const id of ['actions', 'share-box', 'copy-box']) $(id).remove();
    $('readonly-tag').hidden = false;
  }
  const chart = new LossChart();
  // Parameters percent-encoded one by one, as ids are (`enc`).
  const logURL = () => (params) => {
    const q = Object.entries(params).filter(([, v]) => v !== '' && v !== undefined && v !== null)
      .map(([k, v]) => `${k}=${enc(String(v))}`).join('&');
    return `/api/jobs/${enc(s.b)}/${enc(s.j)}/log-lines?${q}`;
  };
  const log = new LogPane(logURL());
  const bar = readOnly ? null : new ActionBar(() => ({ batchID: s.b, jobID: s.j, command: s.env?.command }), () => refreshActions());

  function render() {
    if (!s.job) return;
    document.title = clean(`${s.j} · ${s.b} · argus`);
    crumbs(readOnly ? [[s.b], [s.j]] : [['batches', '/'], [s.b, `/batches/${enc(s.b)}`], [s.j]]);
    renderTelemetry(s.job);
    chart.setInfo({ finished: FINISHED.has(s.job.status), epoch: s.job.telemetry?.epoch ?? null });
    const failure = $('failure');
    const reason = s.job.status === 'failed' ? s.job.failure_reason : null;
    failure.hidden = !reason;
    setText(failure, reason ? `Failed: ${reason}` : '');
    const m = Object.entries(s.job.metrics || {}), fin = $('final');
    fin.hidden = !m.length;
    setText(fin, m.length ? 'Final: ' + m.map(([k, v]) => `${k} ${loss(v)}`).join(' · ') : '');
    renderBanners(banners(s.batch, s.job, s.notices, s.actions));
    renderEnv(s.env);
    if (bar) bar.render(s.actions);
    if (jobs) { renderSwitcher(); renderElsewhere(); }
  }

  /** A finished job shown while another job of the batch runs: say so, with a way to it. */
  function renderElsewhere() {
    const box = $('job-elsewhere');
    const other = FINISHED.has(shownStatus(s.job)) ? jobs.find((j) => j.id !== s.j && shownStatus(j) === 'running') : null;
    const key = other ? `${s.j}\n${other.id}` : '';
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    box.hidden = !other;
    if (!other) { box.replaceChildren(); return; }
    const link = el('a', { href: `?job=${enc(other.id)}`, text: `show ${other.id}` });
    link.addEventListener('click', (ev) => { ev.preventDefault(); pick(other.id); });
    const more = jobs.filter((j) => j.id !== s.j && shownStatus(j) === 'running').length - 1;
    const ended = shownStatus(s.job) === 'done' ? 'finished' : shownStatus(s.job);
    box.replaceChildren(`This job ${ended}; job ${other.id} of the batch is still running${more > 0 ? ` (and ${more} more)` : ''}: `, link);
  }

  // Summaries can come 20 times a second on a busy run: the page shows the latest of each quarter second.
  let renderTimer = 0;
  function scheduleRender() {
    if (!renderTimer) renderTimer = setTimeout(() => { renderTimer = 0; render(); }, 250);
  }

  function renderSwitcher() {
    const row = $('job-switcher-row');
    row.hidden = jobs.length < 2;
    const select = $('job-switcher');
    const key = JSON.stringify(jobs.map((j) => [j.id, j.status]));
    if (select.dataset.key !== key) {
      select.dataset.key = key;
      select.replaceChildren(...jobs.map((j) => {
        const o = document.createElement('option');
        o.value = j.id;
        o.textContent = clean(`${j.id} · ${shownStatus(j)}`);
        return o;
      }));
    }
    select.value = s.j;
  }

  async function load(j) {
    const v = await api(`/api/jobs/${enc(s.b)}/${enc(j)}/view`);
    s.j = j;
    s.batch = v.batch;
    s.job = v.job;
    s.actions = v.actions;
    s.env = v.env_snapshot;
    s.watermark = v.last_event_id ?? 0;
    chart.reset(v.epochs || [], { finished: FINISHED.has(v.job.status), epoch: v.job.telemetry?.epoch ?? null });
    log.reset(logURL(), v.log_tail || []);
    render();
    return v;
  }

  async function refreshActions() {
    if (readOnly) return;
    try {
      s.actions = await api(`/api/batches/${enc(s.b)}/actions`);
      render();
    } catch (e) { /* the next summary tries again */ }
  }

  function applySummary(d) {
    if (!d.batch || d.batch.id !== s.b) return;
    const before = s.batch;
    s.batch = d.batch;
    if (d.batch.env_snapshot) s.env = d.batch.env_snapshot;
    for (const j of d.jobs || []) {
      if (j.id === s.j) s.job = j;
      if (jobs) {
        const i = jobs.findIndex((x) => x.id === j.id);
        if (i >= 0) jobs[i] = j; else jobs.push(j);
      }
    }
    if (before && (before.status !== d.batch.status || before.stop_requested !== d.batch.stop_requested)) refreshActions();
    scheduleRender();
  }

  function onFrame(type, id, data) {
    if (type === 'summary') { applySummary(data); return; }
    if (data.batch_id !== s.b || (id !== null && id <= s.watermark)) return;
    if (type === 'job_epoch') {
      if (data.job_id === s.j) chart.add(data.data || {});
    } else if (type === 'log_line') {
      const d = data.data || {};
      if (data.job_id === s.j) log.append({ id, ts: data.timestamp, level: d.level, line: d.line });
    } else {
      const n = noticeFor(type, data);
      if (n) {
        s.notices.push(n);
        render();
        // The actions keep a rerun's failure for later visitors; asked now, the banner gains its time.
        if (n.kind === 'rerun-failed') refreshActions();
      }
    }
  }

  let first;
  try {
    first = await load(jobID);
  } catch (e) {
    chart.close();
    throw e;
  }
  /** Shows another job of the batch; false when it could not be loaded. */
  async function show(j) {
    if (j === s.j) return true;
    try { await load(j); return true; } catch (err) { setText($('log-status'), err.message); return false; }
  }
  /** The reader chose job `j` (switcher or notice): show it; the page puts it in the address. */
  async function pick(j) {
    if (j !== s.j && await show(j)) onSwitch(j);
  }
  if (jobs) $('job-switcher').addEventListener('change', (e) => pick(e.target.value));
  const live = new Live({
    channels: [['batch', s.b]], lastEventID: first.last_event_id ?? null, onFrame,
    onClosed: async () => {
      try {
        await api(`/api/jobs/${enc(s.b)}/${enc(s.j)}/view`);
        return true;
      } catch (e) {
        if (e.authLost) { onAuthLost(); return false; }
        return true;
      }
    },
  });
  live.heardAt(isoSeconds(first.batch?.last_received) ?? isoSeconds(first.batch?.last_activity));
  live.start();
  // No event says when an agent comes or goes, or when a stopping batch's silent minute (Mark failed) is up:
  // meanwhile the actions are asked for every 3 s (argus-tui's Update.actionsFollowAgents).
  let ticks = 0;
  const tick = setInterval(() => {
    if (s.job) { renderTelemetry(s.job); renderBanners(banners(s.batch, s.job, s.notices, s.actions)); }
    const waiting = (FINISHED.has(s.batch?.status) && s.env?.command) || s.batch?.status === 'stopping';
    if (++ticks % 3 === 0 && !readOnly && waiting) refreshActions();
  }, 1000);
  return { show, close() { clearInterval(tick); clearTimeout(renderTimer); live.close(); chart.close(); } };
}
