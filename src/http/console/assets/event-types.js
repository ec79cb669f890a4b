// The event-type catalogue: what a webhook can subscribe to.

import { api } from './api.js';
import { el, replace } from './dom.js';
import { showError } from './messages.js';

export async function renderEventTypes(main) {
  const section = el('section', { 'data-testid': 'event-types-page' }, el('h1', {}, 'Event types'));
  replace(main, section);
  try {
    const answer = await api.listEventTypes();
    section.append(
      el('p', {}, 'The events a webhook can subscribe to.'),
      el('dl', { class: 'catalogue' },
        (answer.eventTypes || []).map((type) =>
          el('div', { class: 'entry', 'data-testid': 'event-type-row' },
            el('dt', {}, el('code', { 'data-testid': 'event-type-name' }, type.name)),
            el('dd', { 'data-testid': 'event-type-description' }, type.description)))));
  } catch (error) {
    if (error.status !== 401) showError(error);
  }
}
