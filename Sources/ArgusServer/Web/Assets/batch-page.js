// `/batches/{b}`: the batch's jobs with status, epoch and latest loss, live from `summary` frames.
import { $, el, clean, mount, crumbs, setText, confirmAction, toast } from './dom.js';
import { api, enc } from './api.js';
import { Live } from './live.js';
import { statusCell } from './index-page.js';
import { banners, noticeFor, renderBanners } from './banners.js';
import { clock, duration, latestLoss, isoSeconds, nowSeconds, DASH } from './format.js';

export async function batchPage({ batchID, onAuthLost }) {
  mount('tpl-batch');
  crumbs([['batches', '/'], [batchID]]);
  document.title = clean(`${batchID} · argus`);
  const s = { batch: null, jobs: new Map(), notices: [], actions: null };
  // The actions say what the host's agent could not do (a banner).
  const [batch, jobs, actions] = await Promise.all([
    api(`/api/batches/${enc(batchID)}`), api(`/api/batches/${enc(batchID)}/jobs`),
    api(`/api/batches/${enc(batchID)}/actions`).catch(() => null)]);
  s.batch = batch;
  s.actions = actions;
  for (const j of jobs) s.jobs.set(j.id, j);

  function render() {
    const b = s.batch;
    setText($('batch-title'), b.id);
    const counts = `${b.n_done} done, ${b.n_failed} failed${b.n_total === null || b.n_total === undefined ? '' : ` of ${b.n_total}`}`;
    setText($('batch-summary'), [b.status, b.project, b.host, counts].filter(Boolean).join(' · '));
    renderBanners(banners(b, null, s.notices, s.actions));
    const body = $('jobs');
    const rows = [...s.jobs.values()];
    const key = JSON.stringify(rows);
    if (body.dataset.key === key) return;
    body.dataset.key = key;
    body.replaceChildren(...rows.map((j) => {
      const t = j.telemetry || {};
      return el('tr', { class: 'job', dataset: { id: j.id } },
        statusCell('td', t.status || j.status),
        el('td', {}, el('a', { href: `/jobs/${enc(b.id)}/${enc(j.id)}`, text: j.id, title: j.id })),
        el('td', { text: j.model || DASH }),
        el('td', { class: 'epoch', text: t.epoch == null ? DASH : t.total_epochs ? `${t.epoch}/${t.total_epochs}` : t.epoch }),
        el('td', { class: 'train-loss', text: latestLoss(t, 'train_loss') }),
        el('td', { class: 'val-loss', text: latestLoss(t, 'val_loss') }),
        el('td', { class: 'elapsed', text: duration(t.elapsed_s ?? j.elapsed_s) }));
    }));
  }

  render();
  loadShares();
  $('share-rows').addEventListener('click', async (e) => {
    const id = e.target?.dataset?.revoke;
    if (!id || !await confirmAction(`Revoke share link ${id}? Whoever has it loses access at once.`, 'Revoke')) return;
    try {
      await api(`/api/batches/${enc(batchID)}/shares/${enc(id)}`, { method: 'DELETE' });
      toast(`Share link ${id} revoked.`);
    } catch (err) {
      toast(err.message, true);
    }
    loadShares();
  });

  /** The batch's share links, for its owner or an admin (others see no section). */
  async function loadShares() {
    let list;
    try { list = await api(`/api/batches/${enc(batchID)}/shares`); } catch (e) { $('shares').hidden = true; return; }
    const when = (iso) => {
      const t = isoSeconds(iso);
      return t === null ? DASH : `${new Date(t * 1000).toLocaleDateString()} ${clock(t)}`;
    };
    $('shares').hidden = list.length === 0;
    $('share-rows').replaceChildren(...list.map((sh) => {
      const ends = isoSeconds(sh.expires_at);
      const state = sh.revoked ? 'revoked' : ends !== null && ends <= nowSeconds() ? 'expired' : 'active';
      return el('tr', { class: 'share', dataset: { id: String(sh.id), state } },
        el('td', { text: when(sh.created_at) }), el('td', { text: sh.created_by }),
        el('td', { text: sh.expires_at ? when(sh.expires_at) : 'never' }), el('td', { text: state }),
        el('td', {}, state === 'active'
          ? el('button', { type: 'button', dataset: { revoke: String(sh.id) } }, 'Revoke') : null));
    }));
  }

  const live = new Live({
    channels: [['batch', batchID]], lastEventID: null,
    onFrame(type, id, data) {
      if (type === 'summary') {
        if (!data.batch || data.batch.id !== batchID) return;
        s.batch = data.batch;
        for (const j of data.jobs || []) s.jobs.set(j.id, j);
        render();
        return;
      }
      const n = noticeFor(type, data);
      if (n) { s.notices.push(n); render(); }
      if (type === 'share_created') loadShares();
    },
    onClosed: async () => {
      try { await api(`/api/batches/${enc(batchID)}`); return true; } catch (e) {
        if (e.authLost) { onAuthLost(); return false; }
        return true;
      }
    },
  });
  live.heardAt(isoSeconds(batch.last_received) ?? isoSeconds(batch.last_activity));
  live.start();
  return { close() { live.close(); } };
}
