// A webhook's filter (a CEL expression, see docs/filtering.md): its field
// in the create and edit dialogs, with the "Try it" panel beside it, and
// its compact form in the webhooks list.

import { el, field, truncated } from './dom.js';
import { tryPanel } from './filter-try.js';

// The console links no documentation, so the hint carries one example.
const HINT = 'Deliver only the events for which this CEL expression is true; it sees type, labels, data and organization_id, e.g. labels.region == "eu" && data.amount > 1000. Empty: every event of the chosen types.';

// The filter's field and its Try-it panel. `chosenTypes()` names the
// checked event types, in the order shown. Returns the node, `value()`
// (what to send: as typed, or '' for none) and `refresh()`, to call when
// the chosen types change (the sample follows the first one).
export function filterField({ webhook, types, chosenTypes }) {
  const input = el('textarea', {
    rows: 3,
    class: 'code',
    spellcheck: 'false',
    autocapitalize: 'off',
    autocomplete: 'off',
    placeholder: 'Every event of the chosen types',
    'data-testid': 'webhook-filter-input',
  });
  input.value = webhook ? webhook.filter || '' : '';
  const value = () => filterValue(input.value);
  const panel = tryPanel({ filter: value, filterInput: input, types, chosenTypes });
  const node = el('div', { class: 'filter-part' },
    field({ label: 'Filter (optional)', name: 'filter', input, hint: HINT }),
    panel.node);
  return { node, value, refresh: panel.refresh };
}

// What to send for the text typed: itself, or '' (no filter) when it is
// only whitespace, which the service would refuse as an empty filter.
export function filterValue(text) {
  return text.trim() ? text : '';
}

// A webhook's filter in the list: one line, whitespace collapsed, cut with
// an ellipsis; the text as written in the title (on hover), the whole line
// on keyboard focus. Nothing when the webhook has no filter.
export function filterSummary(filter) {
  if (!filter) return null;
  const line = truncated(filter.replace(/\s+/g, ' ').trim(), 'filter');
  line.title = filter;
  return el('p', { class: 'filter-line', 'data-testid': 'webhook-filter' },
    el('span', { class: 'hint' }, 'only if'), ' ', line);
}
