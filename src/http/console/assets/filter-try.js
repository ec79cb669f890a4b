// "Try it": the filter as typed (not saved) against a sample event, with
// TestWebhookFilter, which stores and sends nothing. The sample is the
// first chosen type, its catalogue example as data, and labels written as
// `key=value` lines (simpler to type than a JSON object, and a label is
// only ever a string). What the service answers is shown as text.

import { api } from './api.js';
import { el, field, replace } from './dom.js';
import { placeViolations } from './messages.js';

// Labels from `key=value` lines (blank lines skipped, spaces around the
// key and the value dropped): {labels}, or {problem} in words. The keys'
// rules are the service's, which names a broken one.
export function parseLabels(text) {
  const labels = Object.create(null);
  const lines = text.split('\n');
  for (let at = 0; at < lines.length; at += 1) {
    const line = lines[at].trim();
    if (!line) continue;
    const equals = line.indexOf('=');
    if (equals <= 0) return { problem: `Line ${at + 1}: write key=value, such as region=eu.` };
    const key = line.slice(0, equals).trim();
    if (Object.hasOwn(labels, key)) return { problem: `Line ${at + 1}: ${key} is given twice.` };
    labels[key] = line.slice(equals + 1).trim();
  }
  return { labels };
}

// The sample's data from JSON text (empty: {}): {data}, or {problem}.
export function parseData(text) {
  if (!text.trim()) return { data: {} };
  let data;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { problem: `Not valid JSON: ${error.message}` };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { problem: 'The data must be a JSON object, such as {"amount": 1200}.' };
  }
  return { data };
}

let panels = 0;

// The panel. `filter()` is the filter to try ('' for none) and
// `filterInput` its field; `chosenTypes()` the checked types, in order.
export function tryPanel({ filter, filterInput, types, chosenTypes }) {
  const examples = new Map(types.map((type) => [type.name, type.example]));
  const listId = `try-types-${++panels}`;
  const type = el('input', { type: 'text', list: listId, autocomplete: 'off', spellcheck: 'false', 'data-testid': 'try-type' });
  const labels = el('textarea', { rows: 2, class: 'code', spellcheck: 'false', placeholder: 'region=eu', 'data-testid': 'try-labels' });
  const data = el('textarea', { rows: 6, class: 'code', spellcheck: 'false', 'data-testid': 'try-data' });
  const run = el('button', { type: 'button', class: 'secondary', 'data-testid': 'try-submit' }, 'Try');
  const verdict = el('div', { class: 'verdict', role: 'status', 'data-testid': 'try-result' });
  const panel = el('details', { class: 'try', 'data-testid': 'try-panel' },
    el('summary', { 'data-testid': 'try-toggle' }, 'Try it on a sample event'),
    el('p', { class: 'hint' }, 'Evaluates the filter as typed, without saving it. Nothing is sent or stored.'),
    el('div', { class: 'try-head' },
      field({ label: 'Event type', name: 'type', input: type, hint: 'The first type chosen above, or any.' }),
      field({ label: 'Labels', name: 'labels', input: labels, hint: 'One key=value a line.' })),
    el('datalist', { id: listId }, types.map((t) => el('option', { value: t.name }))),
    field({ label: 'Data', name: 'data', input: data, hint: 'A JSON object: the catalogue’s example of the type, when it has one.' }),
    el('div', { class: 'actions' }, run),
    verdict);

  // The type follows the first chosen one, and the data its example,
  // until the reader types in them.
  let typeTyped = false;
  let dataTyped = false;
  const fillData = () => {
    if (dataTyped) return;
    const example = examples.get(type.value.trim());
    data.value = JSON.stringify(example && typeof example === 'object' ? example : {}, null, 2);
  };
  const refresh = () => {
    if (!typeTyped) type.value = chosenTypes()[0] || '';
    fillData();
  };
  type.addEventListener('input', () => { typeTyped = type.value.trim() !== ''; });
  type.addEventListener('change', fillData);
  data.addEventListener('input', () => { dataTyped = data.value.trim() !== ''; });
  panel.addEventListener('toggle', () => { if (panel.open) refresh(); });
  // A verdict is about what was tried: any change makes it stale.
  for (const input of [filterInput, type, labels, data]) {
    input.addEventListener('input', () => show(verdict, null));
  }
  // Enter in the type tries the filter; it must not submit the webhook.
  type.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    attempt();
  });
  run.addEventListener('click', () => attempt());

  async function attempt() {
    const scope = panel.closest('.filter-part') || panel;
    placeViolations(scope, []);
    show(verdict, null);
    const sampleLabels = parseLabels(labels.value);
    const sampleData = parseData(data.value);
    const local = [
      sampleLabels.problem && { field: 'labels', description: sampleLabels.problem },
      sampleData.problem && { field: 'data', description: sampleData.problem },
    ].filter(Boolean);
    if (local.length) {
      placeViolations(scope, local);
      show(verdict, 'problem', 'Fix the sample first: nothing was tried.');
      return;
    }
    if (!filter()) {
      show(verdict, 'matched', 'matches — would be delivered (no filter: every event of the chosen types)');
      return;
    }
    run.disabled = true;
    try {
      const answer = await api.testWebhookFilter({
        filter: filter(),
        type: type.value.trim(),
        labels: sampleLabels.labels,
        data: sampleData.data,
      });
      if (answer.error) show(verdict, 'error', `fails on this event: ${answer.error} (counted as no match)`);
      else if (answer.matched) show(verdict, 'matched', 'matches — would be delivered');
      else show(verdict, 'no-match', 'does not match');
    } catch (error) {
      if (error.status !== 401) refused(scope, verdict, error);
    } finally {
      run.disabled = false;
    }
  }

  return { node: panel, refresh };
}

// A refused call: its field violations next to their fields (the filter's
// compile error next to the filter), the rest in the panel, in words.
function refused(scope, verdict, error) {
  const violations = error.violations || [];
  const unplaced = placeViolations(scope, violations);
  if (violations.length && !unplaced.length) {
    const onFilter = violations.some((v) => v.field === 'filter');
    show(verdict, 'refused', onFilter
      ? 'The filter was refused: see the message next to it.'
      : 'The sample was refused: see the messages next to its fields.');
    return;
  }
  show(verdict, 'refused',
    el('p', {}, error.sentence || String(error.message || error)),
    error.serviceMessage ? el('p', { class: 'detail' }, `The service said: ${error.serviceMessage}`) : null,
    unplaced.map((v) => el('p', { class: 'detail' }, `${v.field}: ${v.description}`)));
}

// Shows a verdict (`kind`: matched, no-match, error, refused, problem;
// null clears it).
function show(verdict, kind, ...parts) {
  if (kind) verdict.dataset.verdict = kind;
  else delete verdict.dataset.verdict;
  replace(verdict, ...parts);
  // The dialog scrolls: the answer must be in view.
  if (kind) verdict.scrollIntoView({ block: 'nearest' });
}
