// `/`: recent batches, running ones first (as argus-tui lists them), with their jobs. Polled every 15 s.
import { $, el, mount, crumbs } from './dom.js';
import { api, enc } from './api.js';
import { age, isoSeconds, latestLoss, nowSeconds, shownStatus, DASH } from './format.js';

const ACTIVE_FIRST = { running: 0, stalled: 1, stopping: 2 };
const rank = (status, table = ACTIVE_FIRST) => table[status] ?? 9;
const REFRESH_MS = 15000;
/** Batches shown, and added per "Show older batches", up to MOST (each is polled). */
const PAGE = 30;
const MOST = 300;
/** Jobs under a batch: those going, then failed, then the last to end; the rest are on its page. */
const JOBS_SHOWN = 8;
const JOB_RANK = { ...ACTIVE_FIRST, failed: 3 };

export function statusCell(tag, status) {
  return el(tag, { class: 'status', dataset: { status }, text: status });
}

/** `onAuthLost()`: the server no longer takes the session. */
export async function indexPage({ onAuthLost }) {
  mount('tpl-index');
  crumbs([['recent batches']]);
  document.title = 'argus';
  let lastOK = null;
  const conn = $('conn');
  const show = () => {
    conn.dataset.state = lastOK === null ? 'offline' : 'live';
    conn.textContent = lastOK === null ? 'offline' : `updated ${age(nowSeconds() - lastOK)}`;
  };

  let shown = PAGE;
  /** Each batch's jobs as last fetched, with the summary they were fetched at. */
  const jobsSeen = new Map();
  const more = $('index-more');
  more.addEventListener('click', () => {
    shown = Math.min(MOST, shown + PAGE);
    more.disabled = true;
    refresh().finally(() => { more.disabled = false; });
  });

  async function refresh() {
    try {
      // One more than shown: whether there are older ones to offer.
      const batches = await api(`/api/batches?order=going_first&limit=${shown + 1}`);
      const older = batches.length > shown;
      if (older) batches.length = shown;
      more.hidden = !older || shown >= MOST;
      batches.sort((a, b) => rank(a.status) - rank(b.status));
      // A batch's jobs are asked for again only when its summary changed since the last poll.
      const jobLists = await Promise.all(batches.map(async (b) => {
        const key = JSON.stringify([b.status, b.last_received, b.n_done, b.n_failed]);
        const known = jobsSeen.get(b.id);
        if (known && known.key === key) return known.jobs;
        const jobs = await api(`/api/batches/${enc(b.id)}/jobs`).catch(() => null);
        if (jobs) jobsSeen.set(b.id, { key, jobs });
        return jobs || [];
      }));
      $('index-empty').hidden = batches.length > 0;
      $('batches').replaceChildren(...batches.map((b, i) => batchBlock(b, jobLists[i])));
      lastOK = nowSeconds();
    } catch (e) {
      if (e.status === 401) { onAuthLost(); return; }
      lastOK = null;
    }
    show();
  }

  await refresh();
  const timers = [setInterval(refresh, REFRESH_MS), setInterval(show, 1000)];
  return { close() { timers.forEach(clearInterval); } };
}

function batchBlock(b, jobs) {
  const last = isoSeconds(b.last_seen);
  const counts = `${b.n_done}✓ ${b.n_failed}✗${b.n_total === null || b.n_total === undefined ? '' : ` of ${b.n_total}`}`;
  return el('section', { class: 'batch', dataset: { id: b.id } },
    el('div', { class: 'batch-head' },
      statusCell('span', b.status),
      el('a', { href: `/batches/${enc(b.id)}`, text: b.id, title: b.id }),
      el('span', { class: 'muted', text: [b.project, b.host].filter(Boolean).join(' · ') }),
      el('span', { class: 'muted', text: counts }),
      el('span', { class: 'muted', text: last === null ? '' : `last activity ${age(nowSeconds() - last)}` })),
    el('ul', {}, ...jobRows(b, jobs)));
}

function jobRows(b, jobs) {
  const r = (j) => rank(shownStatus(j), JOB_RANK);
  const order = [...jobs].sort((x, y) => r(x) - r(y) || (y.end_time || '').localeCompare(x.end_time || ''));
  const rows = order.slice(0, JOBS_SHOWN).map((j) => el('li', { class: 'job', dataset: { id: j.id } },
    statusCell('span', shownStatus(j)), ' ',
    el('a', { href: `/jobs/${enc(b.id)}/${enc(j.id)}`, text: j.id, title: j.id }),
    el('span', { class: 'muted', text: `  ${j.model || ''}  epoch ${j.telemetry?.epoch ?? DASH}  loss ${latestLoss(j.telemetry, 'train_loss')} / ${latestLoss(j.telemetry, 'val_loss')}` })));
  const rest = order.slice(JOBS_SHOWN), n = {};
  for (const k of rest.filter((j) => r(j) < 9).map(shownStatus)) n[k] = (n[k] || 0) + 1;
  const note = Object.entries(n).map(([k, c]) => `${c} ${k}`).join(', ');
  if (rest.length) rows.push(el('li', { class: 'more' }, el('a', { href: `/batches/${enc(b.id)}`, text: `${rest.length} more job${rest.length === 1 ? '' : 's'}${note && ` (${note})`} on the batch page` })));
  return rows;
}
