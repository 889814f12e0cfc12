// Entry point: which page (`<body data-page>`), who asks (session cookie or share token), and its controller. A
// credential the server stops accepting starts the page over (sign-in form or dead-link notice) without a reload.
import { $, el, toast } from './dom.js';
import { api, enc, useShareToken } from './api.js';
import { signedIn, wireSignOut } from './signin.js';
import { indexPage } from './index-page.js';
import { batchPage } from './batch-page.js';
import { jobPage } from './job-page.js';
import { Live } from './live.js';

const kind = document.body.dataset.page;
/** The address's path segments, decoded; null if one cannot be (a bad `%` escape, not UTF-8). */
const parts = location.pathname.split('/').slice(1).map((p) => {
  try { return decodeURIComponent(p); } catch (e) { return null; }
});
let current = null;
/** Counts boots: a boot that a newer one overtook (e.g. while its sign-in form waited) mounts nothing. */
let generation = 0;

function stop() {
  if (current) current.close();
  current = null;
  $('main').replaceChildren();
  const conn = $('conn');
  conn.hidden = false;
  conn.dataset.state = 'offline';
  conn.textContent = 'not connected';
}

function problem(text) {
  $('main').replaceChildren(el('p', { class: 'error', id: 'page-error', role: 'alert', text }));
}

async function boot() {
  stop();
  const gen = ++generation;
  try {
    if (parts.includes(null)) {
      $('conn').hidden = true;
      problem('This address cannot be read: a % in it does not start an escape of UTF-8 text (an id with % in it is written %25).');
      return;
    }
    if (kind === 'share') { await share(); return; }
    await signedIn();
    if (gen !== generation) return;
    const onAuthLost = () => { if (gen === generation) boot(); };
    let page;
    if (kind === 'batch') page = await batchPage({ batchID: parts[1], onAuthLost });
    else if (kind === 'job') page = await jobPage({ batchID: parts[1], jobID: parts[2], onAuthLost });
    else page = await indexPage({ onAuthLost });
    if (gen !== generation) { page.close(); return; }
    current = page;
  } catch (e) {
    if (gen !== generation) return;
    if (e.status === 401) { boot(); return; }
    // A 404 is the server's answer: no connection state ("not connected" read as if the server were down).
    if (e.status !== 404) return problem(`Could not load the page: ${e.message}`);
    $('conn').hidden = true;
    problem(`${e.message} It opens here once it reports (or it is not yours to see).`);
    // A link sent before its run started: asked again every 3 s, as argus-tui does.
    const path = kind === 'job' ? `/api/jobs/${enc(parts[1])}/${enc(parts[2])}` : `/api/batches/${enc(parts[1])}`;
    const later = () => setTimeout(() => gen === generation && api(path).then(boot, (e) => e.status === 404 ? later() : boot()), 3000);
    later();
  }
}

/** The job a share page's address names (`?job=<id>`), or null; in NFC, as the server keeps ids. */
const shareJobInURL = () => new URLSearchParams(location.search).get('job')?.normalize('NFC') ?? null;

/** `/share/<token>`: one job of the batch, read-only, with a switcher. The address names the job shown (`?job=`,
 *  an entry per switch). */
async function share() {
  useShareToken(parts[1].trim());  // a space pasted along with the link is no part of the token
  const deadLink = () => {
    stop();
    $('conn').textContent = 'offline';
    $('main').replaceChildren(el('section', { id: 'dead-link', class: 'dead-link' },
      el('h1', { text: 'This share link does not open anything any more' }),
      el('p', { text: 'It was revoked or it has expired. Ask whoever sent it for a new one.' })));
  };
  try {
    const link = await api(location.pathname);
    const jobs = await api(`/api/batches/${enc(link.batch_id)}/jobs`);
    if (!jobs.length) {
      // Shared at batch_start, before its first job: follow the batch and open that job as soon as it starts.
      problem('This batch has no jobs yet: its first job opens here as soon as it starts.');
      const live = new Live({
        channels: [['batch', link.batch_id]], lastEventID: null,
        onFrame(type, id, data) {
          if (type === 'job_start' || (type === 'summary' && data.jobs?.length)) {
            live.close();
            current = null;
            share();
          }
        },
        onClosed: async () => {
          try { await api(location.pathname); return true; } catch (e) {
            if (e.authLost) { live.close(); deadLink(); return false; }
            return true;
          }
        },
      });
      live.start();
      current = { close() { live.close(); } };
      return;
    }
    const wanted = shareJobInURL();
    const first = jobs.some((j) => j.id === wanted) ? wanted : jobs[0].id;
    // The address always names the job shown (a link without ?job=, or with one the batch does not have).
    if (wanted !== first) history.replaceState(null, '', `${location.pathname}?job=${enc(first)}`);
    if (wanted !== null && wanted !== first) toast(`This batch has no job '${wanted}': showing '${first}'.`, true);
    current = await jobPage({
      batchID: link.batch_id, jobID: first, jobs, onAuthLost: deadLink,
      onSwitch: (id) => history.pushState(null, '', `${location.pathname}?job=${enc(id)}`),
    });
    addEventListener('popstate', () => {
      if (current) current.show(shareJobInURL() || jobs[0].id);
    });
  } catch (e) {
    if (e.authLost) deadLink(); else problem(`Could not load the page: ${e.message}`);
  }
}

if (kind !== 'share') {
  wireSignOut(() => boot());
  addEventListener('hashchange', () => { if (/(?:^#|&)token=/.test(location.hash)) boot(); });
  // Back after Sign out may restore this page from the back/forward cache: ask whether the session still holds.
  addEventListener('pageshow', async (ev) => {
    if (!ev.persisted) return;
    try { await api('/api/session'); } catch (e) { if (e.status === 401) boot(); }
  });
}
boot();
