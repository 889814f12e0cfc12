// Sign-in: a `#token=<token>` fragment or the pasted token is exchanged for the session cookie (POST /api/session);
// the fragment is then removed from the address bar. The token is not kept anywhere by the page.
import { $ } from './dom.js';
import { api, APIError } from './api.js';

async function exchange(token) {
  await api('/api/session', { method: 'POST', body: { token } });
}

function showUser(user) {
  const who = $('who');
  who.textContent = user.is_admin ? `${user.user} (admin)` : user.user;
  who.hidden = false;
  $('signout').hidden = false;
}

/** Resolves with `{user, is_admin}` once signed in, showing the form for as long as it takes. */
export async function signedIn() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  let fragmentError = null;
  if (m) {
    history.replaceState(null, '', location.pathname + location.search);
    try {
      await exchange(decodeURIComponent(m[1]));
    } catch (e) {
      fragmentError = `The token in the link did not sign you in: ${e.message}`;
    }
  }
  try {
    const user = await api('/api/session');
    showUser(user);
    return user;
  } catch (e) {
    if (!(e instanceof APIError) || e.status !== 401) throw e;
  }
  return new Promise((resolve) => {
    const form = $('signin');
    const error = $('signin-error');
    error.textContent = fragmentError || '';
    form.hidden = false;
    $('signin-token').focus();
    form.addEventListener('submit', async function onSubmit(ev) {
      ev.preventDefault();
      const input = $('signin-token');
      $('signin-submit').disabled = true;
      try {
        await exchange(input.value.trim());
        input.value = '';
        const user = await api('/api/session');
        form.hidden = true;
        form.removeEventListener('submit', onSubmit);
        showUser(user);
        resolve(user);
      } catch (e) {
        error.textContent = e.message;
      } finally {
        $('signin-submit').disabled = false;
      }
    });
  });
}

/** Sign-out: the server ends the session (and its streams) and clears the cookie. */
export function wireSignOut(onSignedOut) {
  $('signout').addEventListener('click', async () => {
    try { await api('/api/session', { method: 'DELETE' }); } catch (e) { /* the cookie is cleared either way */ }
    $('who').hidden = true;
    $('signout').hidden = true;
    onSignedOut();
  });
}
