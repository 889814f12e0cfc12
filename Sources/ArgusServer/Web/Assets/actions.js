// The action bar as the server's `actions` say (ActionPolicy), a disabled button with its reason; never derived here.
import { $, el, clean, confirmAction, toast } from './dom.js';
import { api, enc } from './api.js';

const ORDER = [
  ['stop', 'act-stop', 'Stop'],
  ['rerun', 'act-rerun', 'Rerun'],
  ['share', 'act-share', 'Share'],
  ['copy_command', 'act-copy', 'Copy command'],
  ['mark_failed', 'act-mark-failed', 'Mark failed'],
];

export class ActionBar {
  /** `ctx()` gives `{batchID, jobID, command}` now; `refresh()` refetches the actions after one ran. */
  constructor(ctx, refresh) {
    this.ctx = ctx;
    this.refresh = refresh;
    this.key = '';
    $('actions').addEventListener('click', (e) => {
      const button = e.target.closest('button');
      if (button && !button.disabled) this.run(button.id);
    });
  }

  render(actions) {
    const box = $('actions');
    if (!box) return;
    const a = actions || {};
    this.runsIn = a.rerun && a.rerun.runs_in;
    const key = JSON.stringify(a);
    if (key === this.key) return;
    this.key = key;
    const items = [];
    for (const [id, domID, label] of ORDER) {
      const state = a[id] || { enabled: false, reason: 'unknown' };
      // Mark failed is a way out for a dead run: it shows only while it can be used, as in argus-tui.
      if (id === 'mark_failed' && !state.enabled) continue;
      const button = el('button', { id: domID, type: 'button', class: ['stop', 'rerun', 'mark_failed'].includes(id) ? 'danger' : null,
        text: label });
      if (!state.enabled) {
        button.disabled = true;
        button.title = state.reason || 'not available';
      }
      items.push(el('span', { class: 'action' }, button,
        state.enabled ? null : el('span', { class: 'reason', text: state.reason || 'not available' })));
    }
    box.replaceChildren(...items);
  }

  async run(domID) {
    const { batchID, command } = this.ctx();
    const base = `/api/batches/${enc(batchID)}`;
    try {
      switch (domID) {
        case 'act-stop':
          if (!await confirmAction(`Stop batch ${batchID}? Running jobs will be asked to finish.`, 'Stop')) return;
          toast(`Stop requested: ${(await api(`${base}/stop`, { method: 'POST' })).detail}.`);
          break;
        case 'act-rerun': {
          if (!await confirmAction(`Rerun batch ${batchID} on its host? Its recorded command runs again, in ${this.runsIn || 'its recorded directory'}.`, 'Rerun')) return;
          const r = await api(`${base}/rerun`, { method: 'POST' });
          toast(`Rerun queued for the agent on ${r.host || 'its host'}.`);
          break;
        }
        case 'act-mark-failed':
          if (!await confirmAction(`Mark batch ${batchID} failed? It and its running jobs end as failed.`, 'Mark failed')) return;
          await api(`${base}/mark-failed`, { method: 'POST', body: {} });
          toast('Marked failed.');
          break;
        case 'act-share': {
          const r = await api(`${base}/shares`, { method: 'POST', body: {} });
          // The link opens the job it was minted on.
          const url = `${r.url}?job=${enc(this.ctx().jobID)}`;
          $('share-url').textContent = clean(url);
          $('share-box').hidden = false;
          toast(await copy(url) ? 'Read-only link minted and copied.' : 'Read-only link minted: copy it from the box.');
          break;
        }
        case 'act-copy':
          if (!command) return;
          $('copy-text').textContent = clean(command);
          $('copy-box').hidden = false;
          toast(await copy(command) ? 'Command copied.' : 'The clipboard is not available here: copy the command from the box.',
            false);
          break;
        default:
          return;
      }
    } catch (e) {
      toast(e.status ? e.message : `${$(domID)?.textContent}: ${e.message}`, true);
    }
    this.refresh();
  }
}

/** navigator.clipboard exists only in a secure context (HTTPS or localhost); false when it cannot copy. */
async function copy(text) {
  try {
    if (!navigator.clipboard) return false;
    await navigator.clipboard.writeText(text);
    return true;
  } catch (e) {
    return false;
  }
}
