// The console's entry point: takes a portal link's token, picks the page to
// show, and wires navigation, sign-out and the 401 → sign-in flow.
//
// Navigation: the page is named in the query (`?view=webhooks`, the
// default; `?view=deliveries&webhookId=&status=&eventType=`;
// `?view=delivery&id=`; `?view=event-types`), changed with
// history.pushState, so Back and reload work. The fragment is never used
// for navigation: `#token=` is a portal link's token, taken and removed on
// load. Sign-in is shown whenever there is no session, whatever the query.
//
// Test ids (data-testid), for the browser tests:
//   nav, nav-webhooks, nav-deliveries, nav-event-types  the navigation (hidden when signed out)
//   session, session-org, session-expiry ("Session ends at HH:MM"), signout
//   status-message   the polite live region (what just happened)
//   error-message    the alert region: a failed call in words, the service's message, stray field violations
//   main             the page's content
//   signin-form, signin-token, signin-org, signin-submit
//   signin-problem   a missing token or organization
//   signin-reason    why sign-in is shown (expired or refused token, signed out)
//   signin-paste-help / signin-portal-help  the text under the title (pasting vs. portal sessions)
//   field-error-<field>  the error next to a field, by the API's field name (url, events, description, ...)
//   webhooks-page, webhooks-table, webhooks-empty
//   webhook-row (data-webhook-id), webhook-url, webhook-events, webhook-state, webhook-description
//   webhook-create   opens the new-webhook dialog
//   webhook-edit, webhook-pause, webhook-resume, webhook-test, webhook-rotate, webhook-delete, webhook-deliveries
//   webhook-dialog   the create / edit dialog; webhook-form, webhook-url-input, webhook-event (one checkbox per
//                    event type, value = its name), webhook-description-input, webhook-submit, dialog-cancel
//   dialog-error     a failed call shown inside a dialog
//   secret-dialog, secret-value, secret-copy, secret-copied, secret-overlap (rotation: until when the old
//                    secret still signs), secret-done
//   confirm-dialog, confirm-accept, confirm-cancel  delete and rotate confirmations
//   webhooks-prev, webhooks-next, deliveries-prev, deliveries-next  paging
//   deliveries-page, deliveries-filter, filter-webhook, filter-status, filter-event-type, filter-submit
//   deliveries-table, deliveries-empty, delivery-row (data-delivery-id), delivery-status, delivery-open
//   delivery-page, delivery-back, delivery-summary, delivery-retry, attempts-table, attempt-row,
//   attempt-excerpt, attempts-empty, delivery-payload (the body, pretty-printed), delivery-payload-unavailable
//   event-types-page, event-type-row, event-type-name, event-type-description
//   loading          shown while a page loads

import { el, replace } from './dom.js';
import { setUnauthorizedHandler } from './api.js';
import { clearMessages, showStatus } from './messages.js';
import * as session from './session.js';
import { renderSignIn } from './signin.js';
import { renderWebhooks } from './webhooks.js';
import { renderDeliveries, renderDelivery } from './deliveries.js';
import { renderEventTypes } from './event-types.js';

const REFUSED = 'Your session has expired or the token was refused. Sign in again.';

// First of all: a portal link's token leaves the address bar.
session.takeTokenFromFragment();

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
  sessionBox.querySelector('[data-testid="session-org"]').textContent =
    `Organization ${current.organization}`;
  const expiry = sessionBox.querySelector('[data-testid="session-expiry"]');
  clearTimeout(expiryTimer);
  if (current.expiresAt) {
    const time = current.expiresAt.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    expiry.textContent = `Session ends at ${time}`;
    const left = current.expiresAt.getTime() - Date.now();
    // setTimeout holds at most ~24.8 days.
    if (left < 2 ** 31 - 1) expiryTimer = setTimeout(() => signIn(REFUSED), Math.max(left, 0));
  } else {
    expiry.textContent = '';
  }
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
  if (current.expiresAt && current.expiresAt.getTime() <= Date.now()) {
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

window.addEventListener('popstate', () => render());

render();
