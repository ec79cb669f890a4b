// The form of the create and edit webhook dialogs: the URL (create only),
// the events to deliver, chosen from the catalogue, the filter with its
// Try-it panel (filter-field.js), the description, how deliveries go out
// (delivery-settings.js) and what the endpoint demands (endpoint-auth.js).

import { api } from './api.js';
import { deliverySettings } from './delivery-settings.js';
import { el, field } from './dom.js';
import { endpointAuth } from './endpoint-auth.js';
import { filterField } from './filter-field.js';
import { clearFieldErrors, showDialogError, showError } from './messages.js';

// The catalogue, archived types included (an edited webhook may hold one),
// read again at each dialog: the platform may have changed it since the
// page loaded. Null when the call failed (the error is shown).
export async function loadTypes() {
  try {
    return await api.listEventTypes({ includeArchived: true });
  } catch (error) {
    if (error.status !== 401) showError(error);
    return null;
  }
}

// A type's group: the part of its name before the first `.`.
function groupOf(name) {
  const dot = name.indexOf('.');
  return dot === -1 ? name : name.slice(0, dot);
}

// The types a dialog offers: every one not archived, and those the webhook
// already has whatever their state, so that saving never drops one
// silently (the API keeps an archived type a webhook already has). A name
// the catalogue does not list is kept too, marked as such.
function offered(types, chosen) {
  const known = new Set(types.map((type) => type.name));
  const unknown = [...chosen].filter((name) => !known.has(name))
    .map((name) => ({ name, description: '', unknown: true }));
  return [...types.filter((type) => !type.archived || chosen.has(type.name)), ...unknown];
}

// The checkboxes, one <fieldset> per group, groups in name order.
function eventChoices(types, chosen) {
  const groups = new Map();
  for (const type of offered(types, chosen)) {
    const group = groupOf(type.name);
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(type);
  }
  const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return [...groups.keys()].sort(byName).map((group) =>
    el('fieldset', { class: 'event-group', 'data-testid': 'event-group', 'data-group': group },
      el('legend', {}, group),
      groups.get(group).sort((a, b) => byName(a.name, b.name)).map((type) => choice(type, chosen))));
}

function choice(type, chosen) {
  const box = el('input', { type: 'checkbox', name: 'events', value: type.name, 'data-testid': 'webhook-event' });
  box.checked = chosen.has(type.name);
  const mark = (text, testid, kind) => [' ', el('span', { class: `badge ${kind}`, 'data-testid': testid }, text)];
  return el('label', { class: 'check', 'data-event-type': type.name }, box,
    el('span', {},
      el('code', {}, type.name),
      type.deprecated ? mark('deprecated', 'event-deprecated', 'warn') : null,
      type.archived ? mark('archived', 'event-archived', 'bad') : null,
      type.unknown ? mark('not in the catalogue', 'event-unknown', 'bad') : null,
      type.description ? [' ', el('span', { class: 'hint' }, type.description)] : null,
      type.archived
        ? el('span', { class: 'hint block' }, 'No new events of this type. Unchecked, it cannot be chosen again.')
        : null));
}

// The form; `webhook` is the one edited (none: create). `onSubmit(values)`
// makes the call; a failure shows in the dialog, next to its field.
export function webhookForm({ webhook, types, submitLabel, onSubmit, close }) {
  const url = el('input', {
    type: 'url',
    required: true,
    placeholder: 'https://example.com/webhooks',
    autocomplete: 'off',
    'data-testid': 'webhook-url-input',
  });
  const description = el('textarea', {
    rows: 2,
    maxlength: 500,
    'data-testid': 'webhook-description-input',
  });
  description.value = webhook ? webhook.description || '' : '';
  const chosen = new Set(webhook ? webhook.events || [] : []);
  const events = el('fieldset', { class: 'events', 'aria-describedby': 'events-error' },
    el('legend', {}, 'Events to deliver'),
    eventChoices(types, chosen),
    el('p', { class: 'field-error', id: 'events-error', 'data-testid': 'field-error-events', 'data-field': 'events', hidden: true }));
  const checked = () => [...events.querySelectorAll('input[name="events"]:checked')].map((b) => b.value);
  const filter = filterField({ webhook, types, chosenTypes: checked });
  events.addEventListener('change', filter.refresh);
  const settings = deliverySettings(webhook);
  const auth = endpointAuth(webhook);
  // Chosen at creation only: the scheme of a webhook never changes.
  const scheme = el('select', { 'data-testid': 'webhook-scheme-input' },
    el('option', { value: 'SIGNATURE_SCHEME_HMAC_SHA256' }, 'HMAC-SHA256: a shared secret (whsec_)'),
    el('option', { value: 'SIGNATURE_SCHEME_ED25519' }, 'ed25519: a key pair; receivers hold only the public key (whpk_)'));
  const problem = el('div', { class: 'error', role: 'alert', 'data-testid': 'dialog-error', hidden: true });
  const submit = el('button', { type: 'submit', 'data-testid': 'webhook-submit' }, submitLabel);
  const form = el('form', { 'data-testid': 'webhook-form', novalidate: true },
    webhook
      ? el('p', {}, 'URL: ', el('span', { class: 'url' }, webhook.url))
      : field({ label: 'URL', name: 'url', input: url, hint: 'An https URL on a public host.' }),
    events,
    filter.node,
    field({ label: 'Description (optional)', name: 'description', input: description, hint: 'A note for people, at most 500 characters.' }),
    webhook
      ? null
      : field({
        label: 'Signatures',
        name: 'signatureScheme',
        input: scheme,
        hint: 'Both follow Standard Webhooks (v1 and v1a). Fixed for the webhook’s life.',
      }),
    settings.node,
    auth.node,
    problem,
    el('div', { class: 'actions' },
      submit,
      el('button', { type: 'button', class: 'secondary', 'data-testid': 'dialog-cancel', on: { click: close } }, 'Cancel')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    problem.hidden = true;
    submit.disabled = true;
    try {
      const values = {
        url: url.value.trim(),
        events: checked(),
        filter: filter.value(),
        description: description.value,
        signatureScheme: scheme.value,
        ...settings.value(),
        ...auth.value(),
      };
      await onSubmit(values, [...settings.changed(values), ...auth.changed(values)]);
    } catch (error) {
      if (error.status !== 401) {
        showDialogError(problem, error, form);
        revealErrors(form);
      }
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// A refusal inside a folded part unfolds it, and the first marked field
// takes the focus (it could not while folded).
function revealErrors(form) {
  for (const folded of form.querySelectorAll('details:not([open])')) {
    if (folded.querySelector('.field-error:not([hidden])')) folded.open = true;
  }
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}
