// The deliveries log (filtered by webhook, status, event type and a range
// of creation times, newest first, paged) and one delivery: its attempts, its body, Retry.

import { api } from './api.js';
import { el, field, replace, truncated } from './dom.js';
import { showError, showStatus } from './messages.js';
import { formatTime, fromLocalInput, timeEl, toLocalInput } from './time.js';

const STATUSES = [
  ['', 'Any status'],
  ['DELIVERY_STATUS_PENDING', 'Pending'],
  ['DELIVERY_STATUS_SUCCEEDED', 'Succeeded'],
  ['DELIVERY_STATUS_FAILED', 'Failed'],
  ['DELIVERY_STATUS_CANCELLED', 'Cancelled'],
];
const STATUS_NAMES = Object.fromEntries(STATUSES.filter(([value]) => value));

function statusBadge(status) {
  const kind = {
    DELIVERY_STATUS_SUCCEEDED: 'good',
    DELIVERY_STATUS_FAILED: 'bad',
    DELIVERY_STATUS_CANCELLED: 'bad',
  }[status] || '';
  return el('span', { class: `badge ${kind}`, 'data-testid': 'delivery-status', 'data-status': status },
    STATUS_NAMES[status] || status || 'Unknown');
}

function option(value, label, selected) {
  const node = el('option', { value }, label);
  node.selected = value === selected;
  return node;
}

// What a query asks for: only the filters the API knows.
function filtersOf(query) {
  return {
    webhookId: query.get('webhookId') || '',
    status: query.get('status') || '',
    eventType: query.get('eventType') || '',
    // UTC instants (`toISOString`): a link means the same moment to
    // whoever opens it, whatever their zone.
    createdAtOrAfter: query.get('createdAtOrAfter') || '',
    createdBefore: query.get('createdBefore') || '',
  };
}

// A `datetime-local` input (the reader's local time, to the minute) for
// the bound `value`.
function timeInput(value, testid) {
  const input = el('input', { type: 'datetime-local', 'data-testid': testid });
  input.value = toLocalInput(value);
  return input;
}

// The input's local time as a UTC instant for the URL, or ''.
function instantOf(input) {
  const date = fromLocalInput(input.value);
  return date ? date.toISOString() : '';
}

export async function renderDeliveries(main, query, { navigate }) {
  const filters = filtersOf(query);
  // In the page at once: should the page change (or a 401 show sign-in)
  // while the calls run, what they fill in is detached and unseen.
  const section = el('section', { 'data-testid': 'deliveries-page' },
    el('h1', {}, 'Deliveries'), el('p', { 'data-testid': 'loading' }, 'Loading…'));
  replace(main, section);
  // The filter's choices; a failure here leaves plain "any" lists.
  const [webhooks, types] = await Promise.all([
    api.listWebhooks('', 200).then((a) => a.webhooks || [], () => []),
    // Archived types too: the history may hold their deliveries.
    api.listEventTypes({ includeArchived: true }).catch(() => []),
  ]);
  const urls = new Map(webhooks.map((w) => [w.id, w.url]));

  const webhook = el('select', { 'data-testid': 'filter-webhook' },
    option('', 'Any webhook', filters.webhookId),
    webhooks.map((w) => option(w.id, w.url, filters.webhookId)),
    filters.webhookId && !urls.has(filters.webhookId)
      ? option(filters.webhookId, `Webhook ${filters.webhookId}`, filters.webhookId)
      : null);
  const status = el('select', { 'data-testid': 'filter-status' },
    STATUSES.map(([value, label]) => option(value, label, filters.status)));
  const eventType = el('select', { 'data-testid': 'filter-event-type' },
    option('', 'Any event type', filters.eventType),
    types.map((t) => option(t.name, t.archived ? `${t.name} (archived)` : t.name, filters.eventType)),
    // A type the catalogue does not list (`webhook.ping`, of test events).
    filters.eventType && !types.some((t) => t.name === filters.eventType)
      ? option(filters.eventType, filters.eventType, filters.eventType)
      : null);
  // From (inclusive) to (exclusive): consecutive ranges hold each
  // delivery once.
  const from = timeInput(filters.createdAtOrAfter, 'filter-from');
  const to = timeInput(filters.createdBefore, 'filter-to');
  const form = el('form', { class: 'filters', 'data-testid': 'deliveries-filter' },
    field({ label: 'Webhook', name: 'webhookId', input: webhook }),
    field({ label: 'Status', name: 'status', input: status }),
    field({ label: 'Event type', name: 'eventType', input: eventType }),
    field({ label: 'From', name: 'createdAtOrAfter', input: from }),
    field({ label: 'To (not included)', name: 'createdBefore', input: to }),
    el('div', { class: 'field submit' }, el('button', { type: 'submit', 'data-testid': 'filter-submit' }, 'Show deliveries')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ view: 'deliveries' });
    if (webhook.value) params.set('webhookId', webhook.value);
    if (status.value) params.set('status', status.value);
    if (eventType.value) params.set('eventType', eventType.value);
    if (instantOf(from)) params.set('createdAtOrAfter', instantOf(from));
    if (instantOf(to)) params.set('createdBefore', instantOf(to));
    navigate(`?${params}`);
  });

  const pageTokens = [''];
  let index = 0;
  const body = el('div', { 'data-testid': 'deliveries-list' });
  const prev = el('button', { type: 'button', class: 'secondary', 'data-testid': 'deliveries-prev', hidden: true }, 'Previous page');
  const next = el('button', { type: 'button', class: 'secondary', 'data-testid': 'deliveries-next', hidden: true }, 'Next page');
  async function load(at) {
    try {
      const answer = await api.listDeliveries(filters, pageTokens[at]);
      index = at;
      if (answer.nextPageToken) pageTokens[at + 1] = answer.nextPageToken;
      else pageTokens.length = at + 1;
      const deliveries = answer.deliveries || [];
      // A filtered page reads a bounded stretch of the history: it may
      // come back empty with more to read (docs/api.md).
      const empty = answer.nextPageToken
        ? 'None in this stretch of the history; the next page reads further back.'
        : at === 0 ? 'No deliveries match.' : 'No more deliveries.';
      replace(body, deliveries.length
        ? deliveriesTable(deliveries, urls)
        : el('p', { 'data-testid': 'deliveries-empty' }, empty));
      prev.hidden = at === 0;
      next.hidden = !answer.nextPageToken;
    } catch (error) {
      replace(body);
      // A bad range is told next to the field it names.
      if (error.status !== 401) showError(error, form);
    }
  }
  prev.addEventListener('click', () => load(index - 1));
  next.addEventListener('click', () => load(index + 1));

  replace(section,
    el('h1', {}, 'Deliveries'),
    form,
    body,
    el('div', { class: 'pager' }, prev, next));
  await load(0);
}

function deliveriesTable(deliveries, urls) {
  return el('div', { class: 'table-wrap' },
    el('table', { class: 'cards', 'data-testid': 'deliveries-table' },
      el('caption', { class: 'visually-hidden' }, 'Deliveries, newest first'),
      el('thead', {}, el('tr', {},
        ['Created', 'Event type', 'Webhook', 'Status', 'Attempts', 'Last error'].map((h) => el('th', { scope: 'col' }, h)),
        el('th', { scope: 'col' }, el('span', { class: 'visually-hidden' }, 'Actions')))),
      el('tbody', {}, deliveries.map((d) =>
        el('tr', { 'data-testid': 'delivery-row', 'data-delivery-id': d.id },
          el('td', { 'data-label': 'Created' }, timeEl(d.createdAt)),
          el('td', { 'data-label': 'Event type' }, el('code', {}, d.eventType)),
          el('td', { 'data-label': 'Webhook', 'data-testid': 'delivery-webhook' }, truncated(urls.get(d.webhookId) || d.webhookId, 'url')),
          el('td', { 'data-label': 'Status' }, statusBadge(d.status)),
          el('td', { 'data-label': 'Attempts' }, String(d.attemptCount ?? 0)),
          el('td', { 'data-label': 'Last error', 'data-testid': 'delivery-last-error' }, lastError(d)),
          el('td', { class: 'row-actions' },
            el('a', {
              href: `?view=delivery&id=${encodeURIComponent(d.id)}`,
              class: 'button small secondary',
              'data-testid': 'delivery-open',
              'aria-label': `Open the ${d.eventType} delivery of ${formatTime(d.createdAt)}`,
            }, 'Open')))))));
}

// The last error in a table: the service's one-line summary ("connection
// refused", "HTTP 503"); the whole text is on the delivery's page and in
// the title.
function lastError(delivery) {
  if (!delivery.lastError) return '';
  const summary = delivery.lastErrorSummary || delivery.lastError;
  return el('span', { class: 'truncate url', title: delivery.lastError, 'data-testid': 'last-error-summary' }, summary);
}

export async function renderDelivery(main, query) {
  const id = query.get('id') || '';
  const section = el('section', { 'data-testid': 'delivery-page' });
  replace(main, section);
  try {
    const delivery = await api.getDelivery(id);
    showDelivery(section, delivery);
  } catch (error) {
    replace(section, backLink(''));
    if (error.status !== 401) showError(error);
  }
}

function backLink(webhookId) {
  const href = webhookId ? `?view=deliveries&webhookId=${encodeURIComponent(webhookId)}` : '?view=deliveries';
  return el('p', {}, el('a', { href, 'data-testid': 'delivery-back' }, '← Deliveries'));
}

function showDelivery(section, delivery) {
  const finished = delivery.status && delivery.status !== 'DELIVERY_STATUS_PENDING';
  const retry = finished
    ? el('button', {
      type: 'button',
      'data-testid': 'delivery-retry',
      on: {
        click: async () => {
          retry.disabled = true;
          try {
            const again = await api.retryDelivery(delivery.id);
            showDelivery(section, again);
            showStatus('One more attempt was scheduled; the delivery is pending again.');
          } catch (error) {
            retry.disabled = false;
            if (error.status !== 401) showError(error);
          }
        },
      },
    }, 'Retry now')
    : null;
  const item = (term, ...value) => [el('dt', {}, term), el('dd', {}, ...value)];
  replace(section,
    backLink(delivery.webhookId),
    el('div', { class: 'page-head' }, el('h1', {}, 'Delivery ', el('code', {}, delivery.eventType || '')), retry),
    el('dl', { class: 'summary', 'data-testid': 'delivery-summary' },
      item('Status', statusBadge(delivery.status)),
      item('Attempts', String(delivery.attemptCount ?? 0)),
      item('Created', timeEl(delivery.createdAt)),
      item('Updated', timeEl(delivery.updatedAt)),
      delivery.nextAttemptAt ? item('Next attempt', timeEl(delivery.nextAttemptAt)) : null,
      delivery.lastError
        ? item('Last error',
          el('strong', { 'data-testid': 'delivery-error-summary' }, delivery.lastErrorSummary || ''),
          el('span', { class: 'wrap block', 'data-testid': 'delivery-last-error' }, delivery.lastError))
        : null,
      item('Delivery', el('code', {}, delivery.id)),
      item('Event', el('code', {}, delivery.eventId)),
      item('Webhook', el('a', { href: `?view=deliveries&webhookId=${encodeURIComponent(delivery.webhookId)}` }, el('code', {}, delivery.webhookId)))),
    el('h2', {}, 'Attempts'),
    attempts(delivery.attempts || []),
    el('h2', {}, 'Body'),
    payload(delivery.payload));
  if (!finished) followPending(section, delivery.id);
}

// How often a pending delivery's page asks again, so that attempts and the
// outcome appear without a reload.
const FOLLOW_EVERY_MS = 2000;

// Shows the delivery again once it has had time to change, for as long as
// its page is the one on screen. A failed call ends the following quietly:
// a 401 has already gone back to sign-in, and anything else shows at the
// next navigation.
function followPending(section, id) {
  setTimeout(async () => {
    if (!section.isConnected) return;
    let delivery;
    try {
      delivery = await api.getDelivery(id);
    } catch {
      return;
    }
    if (section.isConnected) showDelivery(section, delivery);
  }, FOLLOW_EVERY_MS);
}

function attempts(list) {
  if (!list.length) return el('p', { 'data-testid': 'attempts-empty' }, 'No attempt yet.');
  return el('div', { class: 'table-wrap' },
    el('table', { class: 'cards', 'data-testid': 'attempts-table' },
      el('caption', { class: 'visually-hidden' }, 'Attempts, oldest first'),
      el('thead', {}, el('tr', {},
        ['#', 'Started', 'Duration', 'Result', 'Response'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, list.map((a) =>
        el('tr', { 'data-testid': 'attempt-row' },
          el('td', { 'data-label': 'Attempt' }, String(a.attempt)),
          el('td', { 'data-label': 'Started' }, timeEl(a.startedAt)),
          el('td', { 'data-label': 'Duration' }, `${a.durationMs ?? 0} ms`),
          el('td', { 'data-label': 'Result', class: 'wrap' }, result(a)),
          el('td', { 'data-label': 'Response' },
            a.responseExcerpt
              ? el('pre', { 'data-testid': 'attempt-excerpt' }, a.responseExcerpt)
              : el('span', { class: 'hint' }, 'No body')))))));
}

function result(attempt) {
  const parts = [];
  if (attempt.statusCode !== undefined && attempt.statusCode !== null) {
    parts.push(el('span', { class: `badge ${attempt.errorKind ? 'bad' : 'good'}` }, `HTTP ${attempt.statusCode}`));
  } else if (attempt.errorKind) {
    parts.push(el('span', { class: 'badge bad' }, attempt.errorKind));
  }
  if (attempt.errorMessage) parts.push(' ', attempt.errorMessage);
  return parts;
}

// The exact JSON body that was sent, when the service returns it.
function payload(body) {
  if (typeof body !== 'string' || body === '') {
    return el('p', { 'data-testid': 'delivery-payload-unavailable' }, 'Not available.');
  }
  let text = body;
  try {
    text = JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    // Not JSON after all: shown as sent.
  }
  return el('pre', { 'data-testid': 'delivery-payload' }, text);
}
