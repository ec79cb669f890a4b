// Status and error messages: the page's live regions, and a failed call's
// field violations next to the fields they name.

import { el, replace } from './dom.js';

const status = () => document.querySelector('[data-testid="status-message"]');
const errorBox = () => document.querySelector('[data-testid="error-message"]');

// Says `parts` (text and nodes) politely: screen readers read it when idle.
export function showStatus(...parts) {
  const box = errorBox();
  box.hidden = true;
  replace(box);
  replace(status(), parts);
}

// Shows an error in words: the sentence, the service's message, and the
// field violations that no field of `form` shows.
export function showError(error, form) {
  status().textContent = '';
  const box = errorBox();
  const lines = [el('p', { class: 'sentence' }, error.sentence || String(error.message || error))];
  if (error.serviceMessage) lines.push(el('p', { class: 'detail' }, `The service said: ${error.serviceMessage}`));
  const unplaced = form ? placeViolations(form, error.violations || []) : error.violations || [];
  if (unplaced.length) {
    lines.push(
      el('ul', { class: 'violations' },
        unplaced.map((v) => el('li', {}, el('code', {}, v.field), `: ${v.description}`))),
    );
  }
  replace(box, lines);
  box.hidden = false;
}

// Clears both regions and the errors next to the fields of `form`.
export function clearMessages(form) {
  status().textContent = '';
  const box = errorBox();
  box.hidden = true;
  replace(box);
  if (form) clearFieldErrors(form);
}

export function clearFieldErrors(form) {
  for (const p of form.querySelectorAll('.field-error')) {
    p.hidden = true;
    p.textContent = '';
  }
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

// Puts each violation next to the field it names; returns those whose field
// the form does not have. A field with a JSON pointer into its value
// (`labels/region`, `data/amount`) goes next to the field it points into
// when no field has the whole name, prefixed with the pointer.
export function placeViolations(form, violations) {
  clearFieldErrors(form);
  const unplaced = [];
  let first = null;
  const holderOf = (name) => [...form.querySelectorAll('.field-error')].find((p) => p.dataset.field === name);
  for (const violation of violations) {
    let name = violation.field;
    let text = violation.description;
    let holder = holderOf(name);
    const slash = name.indexOf('/');
    if (!holder && slash > 0) {
      name = name.slice(0, slash);
      text = `${violation.field.slice(slash + 1)}: ${text}`;
      holder = holderOf(name);
    }
    if (!holder) {
      unplaced.push(violation);
      continue;
    }
    holder.textContent = holder.textContent ? `${holder.textContent} ${text}` : text;
    holder.hidden = false;
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      first = first || input;
    }
  }
  if (first) first.focus();
  return unplaced;
}

// Shows an error inside a dialog's own box (the page's is behind the modal).
export function showDialogError(container, error, form) {
  const unplaced = form ? placeViolations(form, error.violations || []) : error.violations || [];
  const lines = [el('p', { class: 'sentence' }, error.sentence || String(error.message || error))];
  if (error.serviceMessage) lines.push(el('p', { class: 'detail' }, `The service said: ${error.serviceMessage}`));
  for (const v of unplaced) lines.push(el('p', { class: 'detail' }, `${v.field}: ${v.description}`));
  replace(container, lines);
  container.hidden = false;
}
