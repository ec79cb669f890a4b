// The event-type catalogue: what a webhook can subscribe to, each type with
// its description, flags, and the schema and example of its `data`.
//
// The platform writes the catalogue, not the reader: every name,
// description, schema and example is shown as text (dom.js), never parsed
// as HTML.

import { api } from './api.js';
import { el, replace } from './dom.js';
import { showError } from './messages.js';

export async function renderEventTypes(main) {
  const section = el('section', { 'data-testid': 'event-types-page' }, el('h1', {}, 'Event types'));
  replace(main, section);
  try {
    // Archived types are left out: nothing can subscribe to them any more.
    const types = await api.listEventTypes();
    section.append(
      el('p', {}, 'The events a webhook can subscribe to. The schema says what the ',
        el('code', {}, 'data'), ' of each delivered event holds.'),
      el('dl', { class: 'catalogue' }, types.map(entry)));
  } catch (error) {
    if (error.status !== 401) showError(error);
  }
}

function entry(type) {
  return el('div', { class: 'entry', 'data-testid': 'event-type-row', 'data-event-type': type.name },
    el('dt', {},
      el('code', { 'data-testid': 'event-type-name' }, type.name),
      type.deprecated
        ? [' ', el('span', { class: 'badge warn', 'data-testid': 'event-type-deprecated' }, 'deprecated')]
        : null,
      type.builtIn
        ? [' ', el('span', { class: 'badge', 'data-testid': 'event-type-built-in', title: 'Every installation has this type' }, 'built-in')]
        : null),
    el('dd', { 'data-testid': 'event-type-description' }, type.description || ''),
    el('dd', { class: 'json-parts' },
      jsonPart('Schema', 'event-type-schema', type.schema,
        'No schema: any JSON object', 'event-type-no-schema'),
      jsonPart('Example', 'event-type-example', type.example,
        'No example.', 'event-type-no-example')));
}

// A folded part: `value` pretty-printed in a <pre>, or `none` when it is
// absent or an empty object (an empty schema accepts any `data`).
function jsonPart(title, testid, value, none, noneTestid) {
  const given = value && typeof value === 'object' && Object.keys(value).length > 0;
  return el('details', { class: 'json-part' },
    el('summary', { 'data-testid': `${testid}-toggle` }, title),
    given
      ? el('pre', { 'data-testid': testid }, JSON.stringify(value, null, 2))
      : el('p', { class: 'hint', 'data-testid': noneTestid }, none));
}
