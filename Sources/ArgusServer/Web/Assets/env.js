// The environment panel: what the SDK recorded at batch_start (what a rerun runs again).
import { $, setText } from './dom.js';
import { DASH } from './format.js';

export function renderEnv(env) {
  const e = env || {};
  const sha = $('env-sha');
  setText(sha, e.git_sha_short || e.git_sha || DASH);
  if (e.git_sha) sha.title = e.git_sha; else sha.removeAttribute('title');
  setText($('env-command'), e.command || DASH);
  setText($('env-cwd'), e.cwd || DASH);
  setText($('env-host'), e.hostname || DASH);
}
