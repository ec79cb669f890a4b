// The webhooks page: the list with paging, and create, edit, pause and
// resume, recover, rotate the secret, send a test event, delete.

import { api } from './api.js';
import { ask, copyText, el, menu, openDialog, replace, truncated } from './dom.js';
import { showError, showStatus } from './messages.js';
import { fillAll, lastDayCell } from './last-day.js';
import { recoverDialog } from './recover.js';
import { timeEl } from './time.js';
import { loadTypes, webhookForm } from './webhook-form.js';
import { filterSummary } from './filter-field.js';
import { settingsSummary } from './delivery-settings.js';
import { authSummary } from './endpoint-auth.js';

export function renderWebhooks(main) {
  // Page tokens already seen: pageTokens[i] fetches page i.
  const pageTokens = [''];
  let index = 0;
  const body = el('div', { 'data-testid': 'webhooks-list' });
  const prev = el('button', { type: 'button', class: 'secondary', 'data-testid': 'webhooks-prev' }, 'Previous page');
  const next = el('button', { type: 'button', class: 'secondary', 'data-testid': 'webhooks-next' }, 'Next page');
  const create = el('button', { type: 'button', 'data-testid': 'webhook-create' }, 'New webhook');

  async function load(at) {
    try {
      const answer = await api.listWebhooks(pageTokens[at]);
      index = at;
      const webhooks = answer.webhooks || [];
      if (answer.nextPageToken) pageTokens[at + 1] = answer.nextPageToken;
      else pageTokens.length = at + 1;
      const fills = [];
      replace(body, webhooks.length ? table(webhooks, actions, fills) : empty(at));
      prev.hidden = at === 0;
      next.hidden = !answer.nextPageToken;
      fillAll(fills);
    } catch (error) {
      replace(body);
      if (error.status !== 401) showError(error);
    }
  }
  const reload = () => load(index);

  const actions = {
    edit: (webhook) => editDialog(webhook, reload),
    setEnabled: (webhook, enabled) => setEnabled(webhook, enabled, reload),
    recover: (webhook) => recoverDialog(webhook, reload),
    test: (webhook) => sendTest(webhook),
    rotate: (webhook) => rotate(webhook, reload),
    remove: (webhook) => remove(webhook, reload),
  };
  prev.addEventListener('click', () => load(index - 1));
  next.addEventListener('click', () => load(index + 1));
  create.addEventListener('click', () => createDialog(() => load(0)));
  prev.hidden = true;
  next.hidden = true;

  replace(
    main,
    el('section', { 'data-testid': 'webhooks-page' },
      el('div', { class: 'page-head' }, el('h1', {}, 'Webhooks'), create),
      body,
      el('div', { class: 'pager' }, prev, next)),
  );
  load(0);
}

function empty(at) {
  return el('p', { 'data-testid': 'webhooks-empty' },
    at === 0 ? 'This organization has no webhooks yet. Create one with “New webhook”.' : 'No more webhooks.');
}

function table(webhooks, actions, fills) {
  return el('div', { class: 'table-wrap' },
    el('table', { class: 'cards', 'data-testid': 'webhooks-table' },
      el('caption', { class: 'visually-hidden' }, 'Webhooks of this organization, newest first'),
      el('thead', {}, el('tr', {},
        ['URL', 'Events', 'State', 'Last 24 h', 'Description', 'Actions'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, webhooks.map((webhook) => row(webhook, actions, fills)))));
}

// One webhook: its one primary action (its deliveries) in view, the rest
// in a menu, so that a row stays one line of buttons at any width.
function row(webhook, actions, fills) {
  const lastDay = lastDayCell(webhook.id);
  fills.push(lastDay.fill);
  const item = (label, testid, handler, extra = {}) =>
    el('button', {
      type: 'button',
      'data-testid': testid,
      on: { click: () => handler(webhook) },
      ...extra,
    }, label);
  const enabled = Boolean(webhook.enabled);
  return el('tr', { 'data-testid': 'webhook-row', 'data-webhook-id': webhook.id },
    el('td', { 'data-label': 'URL', 'data-testid': 'webhook-url' }, truncated(webhook.url, 'url')),
    el('td', { 'data-label': 'Events', 'data-testid': 'webhook-events' },
      el('ul', { class: 'tags' }, (webhook.events || []).map((e) => el('li', {}, e))),
      filterSummary(webhook.filter)),
    el('td', { 'data-label': 'State', 'data-testid': 'webhook-state' }, state(webhook)),
    lastDay.cell,
    el('td', { 'data-label': 'Description', 'data-testid': 'webhook-description' }, webhook.description || ''),
    el('td', { 'data-label': 'Actions' },
      el('div', { class: 'actions row-actions' },
        el('a', {
          class: 'button small secondary',
          href: `?view=deliveries&webhookId=${encodeURIComponent(webhook.id)}`,
          'data-testid': 'webhook-deliveries',
          'aria-label': `Deliveries of ${webhook.url}`,
        }, 'Deliveries'),
        menu({
          label: 'More',
          accessibleLabel: `More actions for ${webhook.url}`,
          testid: 'webhook-menu',
          items: [
            item('Edit…', 'webhook-edit', actions.edit),
            enabled
              ? item('Pause', 'webhook-pause', (w) => actions.setEnabled(w, false))
              : item('Resume', 'webhook-resume', (w) => actions.setEnabled(w, true)),
            // RecoverWebhook resends failures; a webhook that stopped
            // (paused, or disabled by the service) has them to resend.
            enabled ? null : item('Recover…', 'webhook-recover', actions.recover),
            item('Send test event', 'webhook-test', actions.test),
            item('Rotate secret…', 'webhook-rotate', actions.rotate),
            item('Delete…', 'webhook-delete', actions.remove, { class: 'danger' }),
          ],
        }))));
}

const ED25519 = 'SIGNATURE_SCHEME_ED25519';

function state(webhook) {
  const parts = [];
  if (webhook.disabledReason) {
    parts.push(el('span', { class: 'badge bad' }, 'Disabled by the service'));
    if (webhook.disabledAt) parts.push(el('p', { class: 'reason' }, 'At ', timeEl(webhook.disabledAt)));
    parts.push(el('p', { class: 'reason' }, truncated(webhook.disabledReason, 'clamp')));
  } else if (webhook.enabled) {
    parts.push(el('span', { class: 'badge good' }, 'Active'));
  } else {
    parts.push(el('span', { class: 'badge' }, 'Paused'));
  }
  if (webhook.failingSince) {
    parts.push(el('p', { class: 'reason' }, 'Failing since ', timeEl(webhook.failingSince)));
  }
  parts.push(settingsSummary(webhook));
  parts.push(authSummary(webhook));
  return parts;
}

async function createDialog(done) {
  const types = await loadTypes();
  if (!types) return;
  openDialog({
    title: 'New webhook',
    testid: 'webhook-dialog',
    build: (close) => webhookForm({
      types,
      submitLabel: 'Create webhook',
      close,
      onSubmit: async (values) => {
        const answer = await api.createWebhook({
          url: values.url,
          events: values.events,
          filter: values.filter,
          description: values.description,
          rateLimitPerSecond: values.rateLimitPerSecond,
          ordering: values.ordering,
          retrySchedule: values.retrySchedule,
          signatureScheme: values.signatureScheme,
          ...present(values),
        });
        const webhook = answer.webhook || {};
        close();
        done();
        showSecret({ title: 'Webhook created', secret: answer.secret, publicKey: answer.publicKey, url: webhook.url });
        showStatus(`Webhook ${webhook.url} created.`);
      },
    }),
  });
}

async function editDialog(webhook, done) {
  const types = await loadTypes();
  if (!types) return;
  openDialog({
    title: 'Edit webhook',
    testid: 'webhook-dialog',
    build: (close) => webhookForm({
      webhook,
      types,
      submitLabel: 'Save',
      close,
      // The delivery settings and what the endpoint demands go in the mask
      // only when changed: saving a description must not switch an ordered
      // webhook's backlog around, nor touch its credentials.
      onSubmit: async (values, changedPaths) => {
        await api.updateWebhook(
          webhook.id,
          {
            events: values.events,
            filter: values.filter,
            description: values.description,
            rateLimitPerSecond: values.rateLimitPerSecond,
            ordering: values.ordering,
            retrySchedule: values.retrySchedule,
            ...present(values),
          },
          ['events', 'filter', 'description', ...changedPaths].join(','),
        );
        close();
        showStatus(`Webhook ${webhook.url} saved.`);
        done();
      },
    }),
  });
}

// What the endpoint demands, as the API takes it: a part left out is none,
// which for an update whose mask names it means removing it.
function present({ headers, clientCertificate, oauth2 }) {
  const body = {};
  if (headers.length) body.headers = headers;
  if (clientCertificate) body.clientCertificate = clientCertificate;
  if (oauth2) body.oauth2 = oauth2;
  return body;
}

async function setEnabled(webhook, enabled, done) {
  try {
    await api.updateWebhook(webhook.id, { enabled }, 'enabled');
    showStatus(enabled ? `Webhook ${webhook.url} resumed.` : `Webhook ${webhook.url} paused: new events are not delivered to it, pending deliveries wait.`);
    done();
  } catch (error) {
    if (error.status !== 401) showError(error);
  }
}

async function sendTest(webhook) {
  try {
    const answer = await api.sendTestEvent(webhook.id);
    showStatus(
      `A webhook.ping event was scheduled for ${webhook.url}. `,
      el('a', { href: `?view=delivery&id=${encodeURIComponent(answer.deliveryId)}`, 'data-testid': 'test-delivery-link' },
        'Follow its delivery'),
    );
  } catch (error) {
    if (error.status !== 401) showError(error);
  }
}

async function rotate(webhook, done) {
  const pair = webhook.signatureScheme === ED25519;
  const confirmed = await ask({
    title: pair ? 'Rotate the signing key?' : 'Rotate the signing secret?',
    text: pair
      ? `A new key pair will sign the deliveries to ${webhook.url}. The current key keeps signing them too for a grace period, so your receiver can add the new public key.`
      : `A new secret will sign the deliveries to ${webhook.url}. The current one keeps signing them too for a grace period, so your receiver can switch over.`,
    accept: pair ? 'Rotate key' : 'Rotate secret',
  });
  if (!confirmed) return;
  try {
    const answer = await api.rotateSecret(webhook.id);
    showSecret({
      title: pair ? 'New public key' : 'New signing secret',
      secret: answer.secret,
      publicKey: answer.publicKey,
      url: webhook.url,
      overlapUntil: answer.previousSecretExpiresAt,
    });
    showStatus(`The secret of ${webhook.url} was rotated.`);
    done();
  } catch (error) {
    if (error.status !== 401) showError(error);
  }
}

async function remove(webhook, done) {
  const confirmed = await ask({
    title: 'Delete this webhook?',
    text: `${webhook.url} will get no more deliveries, and its pending ones are cancelled. Its delivery history stays readable until it expires. This cannot be undone.`,
    accept: 'Delete webhook',
    danger: true,
  });
  if (!confirmed) return;
  try {
    await api.deleteWebhook(webhook.id);
    showStatus(`Webhook ${webhook.url} deleted.`);
    done();
  } catch (error) {
    if (error.status !== 401) showError(error);
  }
}

// Shows a signing secret once, or an ed25519 webhook's public key (no
// secret: it can be read again). It lives only in this dialog, which is
// removed from the page when closed.
function showSecret({ title, secret, publicKey, url, overlapUntil }) {
  const shown = publicKey || secret || '';
  openDialog({
    title,
    testid: 'secret-dialog',
    build: (close) => {
      const value = el('code', { class: 'secret', 'data-testid': 'secret-value' }, shown);
      const copied = el('span', { role: 'status', 'data-testid': 'secret-copied' });
      const copy = el('button', {
        type: 'button',
        'data-testid': 'secret-copy',
        on: {
          click: async () => {
            const done = await copyText(shown, value);
            copied.textContent = done ? 'Copied.' : 'Selected: press Ctrl+C (⌘C on a Mac) to copy.';
          },
        },
      }, 'Copy');
      return el('div', {},
        el('p', {}, publicKey ? 'The public key of ' : 'The signing secret of ', el('span', { class: 'url' }, url || ''), ':'),
        el('p', { class: 'secret-box' }, value),
        publicKey
          ? el('p', { 'data-testid': 'public-key-note' },
            'Your receiver verifies the v1a signatures with it (see docs/receiving/ed25519.md). It is not a secret: the webhook shows it again.')
          : el('p', { class: 'warning' }, el('strong', {}, 'Copy it now: you will not see it again.')),
        overlapUntil
          ? el('p', { 'data-testid': 'secret-overlap' },
            'The previous secret also signs deliveries until ', timeEl(overlapUntil),
            ', so your receiver can switch to the new one without missing any.')
          : null,
        el('div', { class: 'actions' },
          copy, copied,
          el('button', { type: 'button', class: 'secondary', 'data-testid': 'secret-done', on: { click: close } }, 'Done')));
    },
  });
}
