// Entry point: which page this is (`<body data-page>`), who is asking (session cookie, or a share link's token), and
// the page's controller. When the server stops accepting the credential, the page starts over (sign-in form or
// dead-link notice) without a reload.
import { $, el } from './dom.js';
import { api, useShareToken } from './api.js';
import { signedIn, wireSignOut } from './signin.js';
import { indexPage } from './index-page.js';
import { batchPage } from './batch-page.js';
import { jobPage } from './job-page.js';

const kind = document.body.dataset.page;
const parts = location.pathname.split('/').slice(1).map((p) => decodeURIComponent(p));
let current = null;

function stop() {
  if (current) current.close();
  current = null;
  $('main').replaceChildren();
}

function problem(text) {
  $('main').replaceChildren(el('p', { class: 'error', id: 'page-error', role: 'alert', text }));
}

async function boot() {
  stop();
  try {
    if (kind === 'share') { await share(); return; }
    await signedIn();
    const onAuthLost = () => boot();
    if (kind === 'batch') current = await batchPage({ batchID: parts[1], onAuthLost });
    else if (kind === 'job') current = await jobPage({ batchID: parts[1], jobID: parts[2], onAuthLost });
    else current = await indexPage();
  } catch (e) {
    if (e.status === 401) { boot(); return; }
    problem(e.status === 404 ? `${e.message} (Or it is not yours to see.)` : `Could not load the page: ${e.message}`);
  }
}

/** `/share/<token>`: the batch's first job, read-only, with a switcher for its other jobs. */
async function share() {
  useShareToken(parts[1]);
  const deadLink = () => {
    stop();
    $('conn').dataset.state = 'offline';
    $('conn').textContent = 'offline';
    $('main').replaceChildren(el('section', { id: 'dead-link', class: 'dead-link' },
      el('h1', { text: 'This share link does not open anything any more' }),
      el('p', { text: 'It was revoked or it has expired. Ask whoever sent it for a new one.' })));
  };
  try {
    const link = await api(location.pathname);
    const jobs = await api(`/api/batches/${encodeURIComponent(link.batch_id)}/jobs`);
    if (!jobs.length) { problem('This batch has no jobs yet.'); return; }
    current = await jobPage({ batchID: link.batch_id, jobID: jobs[0].id, jobs, onAuthLost: deadLink });
  } catch (e) {
    if (e.status === 401 || e.status === 404) deadLink(); else problem(`Could not load the page: ${e.message}`);
  }
}

if (kind !== 'share') {
  wireSignOut(() => { stop(); boot(); });
}
boot();
