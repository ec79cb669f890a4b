// The console's entry point: takes a portal link's token (asking before it
// replaces a live session: portal-link.js), picks the page to show, and
// wires navigation, sign-out and the 401 → sign-in flow.
//
// Navigation: the page is named in the query (`?view=webhooks`, the
// default; `?view=deliveries&webhookId=&status=&eventType=`;
// `?view=delivery&id=`; `?view=event-types`), changed with
// history.pushState, so Back and reload work. The fragment is never used
// for navigation: `#token=` is a portal link's token, taken and removed on
// load or when the fragment alone changes (a link followed from a page of
// the console is no reload). Sign-in is shown whenever there is no
// session, whatever the query.
//
// The test ids (data-testid) of the elements, for the browser tests, are
// listed in src/http/console/README.md.

import { el, replace } from './dom.js';
import { formatTime } from './time.js';
import { setUnauthorizedHandler } from './api.js';
import { clearMessages, showStatus } from './messages.js';
import { takeLink } from './portal-link.js';
import * as session from './session.js';
import { renderSignIn } from './signin.js';
import { renderWebhooks } from './webhooks.js';
import { renderDeliveries, renderDelivery } from './deliveries.js';
import { renderEventTypes } from './event-types.js';

const REFUSED = 'Your session has expired or the token was refused. Sign in again.';

const main = document.querySelector('main');
const nav = document.querySelector('[data-testid="nav"]');
const sessionBox = document.querySelector('[data-testid="session"]');
let expiryTimer = null;

function params() {
  return new URLSearchParams(location.search);
}

// Goes to the page named by `query` (a string such as `?view=deliveries`).
export function navigate(query) {
  history.pushState(null, '', `${location.pathname}${query}`);
  render();
}

function signIn(reason) {
  session.end();
  clearTimeout(expiryTimer);
  nav.hidden = true;
  sessionBox.hidden = true;
  clearMessages();
  document.title = 'Sign in · Webhooks console';
  renderSignIn(main, { reason, onSignedIn: () => render() });
}

function showSession(current) {
  nav.hidden = false;
  sessionBox.hidden = false;
  showOrganization(sessionBox.querySelector('[data-testid="session-org"]'), current.organization);
  const expiry = sessionBox.querySelector('[data-testid="session-expiry"]');
  clearTimeout(expiryTimer);
  if (current.expiresAt) {
    expiry.textContent = `Session ends at ${formatTime(current.expiresAt)}`;
    const left = current.expiresAt.getTime() - Date.now();
    // setTimeout holds at most ~24.8 days.
    if (left < 2 ** 31 - 1) expiryTimer = setTimeout(() => signIn(REFUSED), Math.max(left, 0));
  } else {
    expiry.textContent = '';
  }
}

// Tokens carry the organization's id only (no name claim), so the header
// shows its first eight characters; the whole id is in the title (on
// hover), in the accessible name, and shows in full on focus.
function showOrganization(node, organization) {
  const short = organization.length > 13 ? `${organization.slice(0, 8)}…` : organization;
  node.dataset.organization = organization;
  node.title = organization;
  node.tabIndex = 0;
  node.setAttribute('aria-label', `Organization ${organization}`);
  replace(node, 'Organization ', el('code', { class: 'org-short' }, short), el('code', { class: 'org-full' }, organization));
}

const PAGES = {
  webhooks: { title: 'Webhooks', render: renderWebhooks },
  deliveries: { title: 'Deliveries', render: renderDeliveries },
  delivery: { title: 'Delivery', render: renderDelivery, nav: 'deliveries' },
  'event-types': { title: 'Event types', render: renderEventTypes },
};

function render() {
  const current = session.current();
  if (!current) {
    signIn(undefined);
    return;
  }
  if (!session.isLive(current)) {
    signIn(REFUSED);
    return;
  }
  showSession(current);
  const query = params();
  const name = PAGES[query.get('view')] ? query.get('view') : 'webhooks';
  const page = PAGES[name];
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.view === (page.nav || name)) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${page.title} · Webhooks console`;
  clearMessages();
  replace(main, el('p', { 'data-testid': 'loading' }, 'Loading…'));
  page.render(main, query, { navigate });
}

setUnauthorizedHandler(() => signIn(REFUSED));

// Links inside the console (`<a href="?view=…">`) change the page without
// a reload; a modified click (new tab) is left to the browser.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[href^="?"]');
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute('href'));
  main.focus();
});

document.querySelector('[data-testid="signout"]').addEventListener('click', () => {
  signIn(session.openedFromPortal() ? 'You signed out.' : undefined);
  showStatus('You signed out. The token was forgotten.');
});

// Takes a portal link's token from the address, renders the page when
// that started a session (or `always`), then says what the link did.
function followLink(always) {
  const link = takeLink({ onSwitched: () => render() });
  if (link.started || always) render();
  if (link.notice) link.notice();
}

window.addEventListener('popstate', () => render());
window.addEventListener('hashchange', () => followLink(false));

// First of all, before anything is shown: a portal link's token leaves the
// address bar.
followLink(true);
