// The signed-in session: the bearer token and the organization, kept in
// sessionStorage only (gone when the tab closes; never in a URL, a cookie, local
// storage or a log line).

const TOKEN = 'webhookConsole.token';
const ORG = 'webhookConsole.organization';
const SOURCE = 'webhookConsole.source';
// Kept after sign-out: whether this tab was opened from a portal link.
const PORTAL = 'webhookConsole.portal';

// The payload of a JWT, without any verification (the server verifies every
// call); null when it does not decode.
export function decodePayload(token) {
  const part = String(token || '').split('.')[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const payload = JSON.parse(new TextDecoder().decode(bytes));
    return payload && typeof payload === 'object' && !Array.isArray(payload) ? payload : null;
  } catch {
    return null;
  }
}

// The `org_id` claim of a token, when it has a string one.
export function organizationOf(token) {
  const payload = decodePayload(token);
  return payload && typeof payload.org_id === 'string' ? payload.org_id : '';
}

// When a token expires (its `exp` claim), or null.
export function expiryOf(token) {
  const payload = decodePayload(token);
  return payload && typeof payload.exp === 'number' ? new Date(payload.exp * 1000) : null;
}

// A portal link opens `/console/#token=<jwt>`: the token is taken from the
// address and the fragment removed at once, so that it is not left in the
// history, a bookmark or a screenshot. Returns the token, or null when the
// address holds none. What to do with it is portal-link.js's business.
export function tokenFromFragment() {
  if (!location.hash) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token === null) return null;
  history.replaceState(history.state, '', location.pathname + location.search);
  return token || null;
}

// The `sub` claim of a token (who it speaks for), when it has a string one.
export function subjectOf(token) {
  const payload = decodePayload(token);
  return payload && typeof payload.sub === 'string' ? payload.sub : '';
}

// Starts a session with a portal link's token, for the organization it names.
export function startFromLink(token) {
  start(token, organizationOf(token), 'portal');
  sessionStorage.setItem(PORTAL, '1');
}

// Starts a session with `token` for `organization`.
export function start(token, organization, source = 'pasted') {
  sessionStorage.setItem(TOKEN, token);
  sessionStorage.setItem(ORG, organization);
  sessionStorage.setItem(SOURCE, source);
}

// The current session, or null.
export function current() {
  const token = sessionStorage.getItem(TOKEN);
  if (!token) return null;
  return {
    token,
    organization: sessionStorage.getItem(ORG) || '',
    fromPortal: sessionStorage.getItem(SOURCE) === 'portal',
    expiresAt: expiryOf(token),
  };
}

// Whether `session` (from current()) is there and not past its expiry.
export function isLive(session) {
  return Boolean(session) && !(session.expiresAt && session.expiresAt.getTime() <= Date.now());
}

// Whether this tab's session came from a portal link (even after sign-out).
export function openedFromPortal() {
  return sessionStorage.getItem(PORTAL) === '1';
}

// Ends the session: the token is forgotten.
export function end() {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(ORG);
  sessionStorage.removeItem(SOURCE);
}
