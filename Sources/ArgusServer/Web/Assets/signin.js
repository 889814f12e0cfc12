// Sign-in: a `#token=` fragment or a pasted token is exchanged for the session cookie (POST /api/session); the
// page keeps no token. A session the server ends brings the form back.
import { $, clean, confirmAction, toast } from './dom.js';
import { api, APIError } from './api.js';

/** Whether this page has shown someone signed in: a 401 after that means the session ended. */
let wasSignedIn = false;
/** Why the next sign-in form is shown, when the page knows better than "the session ended". */
let nextReason = null;
/** Takes the listener off the form an earlier `signedIn()` is waiting on. */
let dropForm = null;

/** Another user's token than the one signed in (409) signs in only if the reader says so. */
async function exchange(token) {
  const post = (replace) => api('/api/session', { method: 'POST', body: { token, replace } });
  try { await post(false); } catch (e) {
    if (e.status !== 409) throw e;
    if (await confirmAction(e.message, 'Switch')) await post(true);
  }
}

function showUser(user) {
  wasSignedIn = true;
  nextReason = null;
  if (dropForm) dropForm();
  $('signin').hidden = true;
  const who = $('who');
  who.textContent = clean(user.is_admin ? `${user.user} (admin)` : user.user);
  who.hidden = false;
  $('signout').hidden = false;
}

/** The header when nobody is signed in: no user, no Sign out, no live indicator. */
function showSignedOut() {
  const reason = nextReason || (wasSignedIn ? 'your session ended; sign in again' : null);
  const who = $('who');
  who.textContent = reason ? `signed out: ${reason}` : '';
  who.hidden = !reason;
  $('signout').hidden = true;
  const conn = $('conn');
  conn.dataset.state = 'offline';
  conn.textContent = reason ? 'offline: signed out' : 'not connected';
  return reason;
}

/** The token of a `#token=` fragment, or null; the fragment leaves the address bar either way. */
export function fragmentToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(history.state, '', location.pathname + location.search);
  try { return decodeURIComponent(m[1]); } catch (e) { return m[1]; }
}

/** Resolves with `{user, is_admin}` once signed in, showing the form for as long as it takes. */
export async function signedIn() {
  const token = fragmentToken();
  let fragmentError = null;
  if (token !== null) {
    try {
      await exchange(token);
    } catch (e) {
      fragmentError = `The token in the link did not sign you in: ${e.message}`;
    }
  }
  try {
    const user = await api('/api/session');
    showUser(user);
    // Still signed in from before: say the link's token did not change that.
    if (fragmentError) toast(`${fragmentError} (still signed in as ${user.user})`, true);
    return user;
  } catch (e) {
    if (!(e instanceof APIError) || e.status !== 401) throw e;
  }
  const reason = showSignedOut();
  if (dropForm) dropForm();
  return new Promise((resolve) => {
    const form = $('signin');
    const error = $('signin-error');
    error.textContent = fragmentError || (reason ? `Signed out: ${reason}.` : '');
    form.hidden = false;
    $('signin-token').focus();
    async function onSubmit(ev) {
      ev.preventDefault();
      const input = $('signin-token');
      $('signin-submit').disabled = true;
      try {
        await exchange(input.value.trim());
        input.value = '';
        const user = await api('/api/session');
        showUser(user);
        resolve(user);
      } catch (e) {
        error.textContent = e.message;
      } finally {
        $('signin-submit').disabled = false;
      }
    }
    form.addEventListener('submit', onSubmit);
    dropForm = () => { form.removeEventListener('submit', onSubmit); dropForm = null; };
  });
}

/** Sign-out: the server ends the session (and its streams) and clears the cookie. */
export function wireSignOut(onSignedOut) {
  $('signout').addEventListener('click', async () => {
    try { await api('/api/session', { method: 'DELETE' }); } catch (e) { /* the cookie is cleared either way */ }
    nextReason = 'you signed out';
    onSignedOut();
  });
}
