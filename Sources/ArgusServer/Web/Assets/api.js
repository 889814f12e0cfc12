// The page's one door to the server. Signed-in pages send the session cookie (the browser does); a share page
// sends its link's token as a bearer token, and in the SSE URL, since EventSource cannot set headers.
let shareToken = null;

export function useShareToken(token) { shareToken = token; }
export const isShare = () => shareToken !== null;

export class APIError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }

  get authLost() { return this.status === 401 || this.status === 404; }
}

/** An id as one path segment (`/api/jobs/${enc(b)}/${enc(j)}`). */
export const enc = encodeURIComponent;

/** A JSON request; a non-2xx throws APIError with the server's sentence. Writes carry the CSRF header. */
export async function api(url, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (shareToken) headers.Authorization = `Bearer ${shareToken}`;
  if (method !== 'GET') headers['X-Argus-CSRF'] = '1';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  // A write whose answer was lost may have been done.
  const lost = method === 'GET' ? 'the answer was cut off' : 'no whole answer came: the server may have done it';
  let res;
  try {
    res = await fetch(url, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new APIError(0, method === 'GET' ? 'the server cannot be reached' : lost);
  }
  if (res.status === 204) return null;
  let json = null;
  try { json = await res.json(); } catch (e) { json = null; }
  if (!res.ok) throw new APIError(res.status, (json && json.detail) || `HTTP ${res.status}`);
  if (json === null) throw new APIError(0, lost);
  return json;
}

/** The SSE URL of some channels (`batch:<b>`), resuming after `lastEventID` on the first connect. */
export function sseURL(channels, lastEventID) {
  const names = channels.map(([kind, ...ids]) => [kind, ...ids.map(encodeURIComponent)].join(':')).join(',');
  // Keepalives as events, which the page's watchdog sees (EventSource hides comments): live.js.
  let url = `/api/sse?channels=${encodeURIComponent(names)}&keepalive=event`;
  if (lastEventID !== null && lastEventID !== undefined) url += `&last_event_id=${encodeURIComponent(lastEventID)}`;
  if (shareToken) url += `&token=${encodeURIComponent(shareToken)}`;
  return url;
}
