// The sign-in page: a bearer token and the organization it acts for.

import { el, field, replace } from './dom.js';
import * as session from './session.js';

// Renders the sign-in form into `main`; `reason` (words) says why we are
// here, such as an expired session; `onSignedIn` runs after a sign-in.
export function renderSignIn(main, { reason, onSignedIn }) {
  const token = el('textarea', {
    rows: 4,
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    'data-testid': 'signin-token',
  });
  const org = el('input', {
    type: 'text',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    inputmode: 'text',
    'data-testid': 'signin-org',
  });
  // The organization follows the token's `org_id` until someone types one.
  let orgTyped = false;
  org.addEventListener('input', () => {
    orgTyped = org.value !== '';
  });
  token.addEventListener('input', () => {
    const fromToken = session.organizationOf(token.value.trim());
    if (!orgTyped && fromToken) org.value = fromToken;
  });
  const problem = el('p', { class: 'field-error', 'data-testid': 'signin-problem', hidden: true });
  const form = el(
    'form',
    { class: 'card signin', 'data-testid': 'signin-form', novalidate: true },
    field({
      label: 'Bearer token',
      name: 'token',
      input: token,
      hint: 'A JWT of an owner or admin of the organization. It stays in this tab only and is forgotten when the tab closes.',
    }),
    field({
      label: 'Organization ID',
      name: 'organizationId',
      input: org,
      hint: "Filled in from the token's org_id claim when it has one.",
    }),
    problem,
    el('button', { type: 'submit', 'data-testid': 'signin-submit' }, 'Sign in'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = token.value.trim().replace(/^Bearer\s+/i, '');
    const organization = org.value.trim();
    if (!value || !organization) {
      problem.textContent = !value
        ? 'Paste a token to sign in.'
        : 'Give the organization ID (a UUID) the token acts for.';
      problem.hidden = false;
      (value ? org : token).focus();
      return;
    }
    session.start(value, organization, 'pasted');
    token.value = '';
    onSignedIn();
  });

  const portal = session.openedFromPortal();
  replace(
    main,
    el('h1', {}, 'Sign in'),
    reason ? el('p', { class: 'notice', role: 'alert', 'data-testid': 'signin-reason' }, reason) : null,
    portal
      ? el('p', { 'data-testid': 'signin-portal-help' },
        'This console was opened from your application. Open it from there again to start a new session.')
      : el('p', { 'data-testid': 'signin-paste-help' },
        'Paste a bearer token to manage and debug the organization’s webhooks.'),
    form,
  );
  if (!portal || reason) token.focus();
}
