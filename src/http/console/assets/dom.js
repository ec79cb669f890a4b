// DOM helpers. Everything the console shows is built here with
// createElement and textContent: data from the API (descriptions, response
// excerpts, error messages) is never parsed as HTML.

// el('p', {class: 'x', 'data-testid': 'y'}, 'text', child, ...): an element.
// Attributes are set with setAttribute; `on` takes {event: handler}; strings
// among the children become text nodes.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'on') {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (name === 'text') {
      node.textContent = value;
    } else if (/^on/i.test(name)) {
      throw new Error('event handlers go in `on`, not in attributes');
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces a node's children.
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

let dialogCount = 0;

// A modal dialog: takes focus, closes with Escape or `close()`, and gives
// focus back to what had it. `build(close)` returns the dialog's content.
export function openDialog({ title, testid, build, onClose }) {
  const opener = document.activeElement;
  const id = `dialog-title-${++dialogCount}`;
  const dialog = el('dialog', { 'aria-labelledby': id, 'data-testid': testid });
  const close = () => dialog.close();
  dialog.append(el('h2', { id }, title), build(close));
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (onClose) onClose();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  // `[autofocus]` first: a selector list would pick whichever comes first
  // in the page, such as a confirmation's accept button before its Cancel.
  const first = dialog.querySelector('[autofocus]') || dialog.querySelector('input, textarea, select, button');
  if (first) first.focus();
  return { dialog, close };
}

// Asks a yes-or-no question in a modal dialog; resolves to true only when
// `accept` is pressed (Cancel, Escape: false). Cancel has the focus, so
// Enter keeps things as they are. `text` is a string or nodes. Test ids:
// `<testid>-dialog`, `<testid>-accept`, `<testid>-cancel`.
export function ask({ title, text, accept, cancel = 'Cancel', danger = false, testid = 'confirm' }) {
  return new Promise((resolve) => {
    let answer = false;
    openDialog({
      title,
      testid: `${testid}-dialog`,
      onClose: () => resolve(answer),
      build: (close) => el('div', {},
        ...[text].flat().map((part) => (part instanceof Node ? part : el('p', {}, part))),
        el('div', { class: 'actions' },
          el('button', {
            type: 'button',
            class: danger ? 'danger' : undefined,
            'data-testid': `${testid}-accept`,
            on: { click: () => { answer = true; close(); } },
          }, accept),
          el('button', { type: 'button', class: 'secondary', autofocus: true, 'data-testid': `${testid}-cancel`, on: { click: close } }, cancel))),
    });
  });
}

// A labelled field: <div class="field"><label>…</label><input>
// <p class="field-error"></p></div>. `name` is the API's field name, so an
// error naming that field can be shown next to it.
export function field({ label, name, input, hint }) {
  const id = `field-${name}-${++dialogCount}`;
  input.id = id;
  input.name = name;
  const error = el('p', {
    class: 'field-error',
    id: `${id}-error`,
    'data-testid': `field-error-${name}`,
    'data-field': name,
    hidden: true,
  });
  const hintEl = hint ? el('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  input.setAttribute('aria-describedby', [hintEl && hintEl.id, error.id].filter(Boolean).join(' '));
  return el('div', { class: 'field' }, el('label', { for: id }, label), hintEl, input, error);
}

// Copies `text`; when the clipboard cannot be used, selects the text of
// `node` so that the reader can copy it by hand. Resolves to true when copied.
export async function copyText(text, node) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Fall through to selecting the text.
  }
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  return false;
}

// A long value (a URL, an error) cut to the room it has, with an ellipsis:
// the whole text stays the element's content (read by screen readers,
// copied), shows on hover (title) and unfolds on keyboard focus. `kind`:
// `url` (one line) or `clamp` (two lines).
export function truncated(text, kind) {
  return el('span', { class: `truncate ${kind}`, title: text, tabindex: 0, 'data-testid': 'truncated' }, text);
}

// A disclosure menu of buttons: a <details> whose <summary> opens it (Enter
// or Space), Escape closes it and gives the focus back. Choosing an item
// closes the menu first, so a dialog it opens returns the focus to the
// summary. `items`: buttons (nulls are left out).
export function menu({ label, accessibleLabel, testid, items }) {
  const summary = el('summary', {
    class: 'button small secondary',
    'data-testid': testid,
    'aria-label': accessibleLabel,
  }, label);
  const list = el('div', { class: 'menu-items' }, items.filter(Boolean));
  const details = el('details', { class: 'menu' }, summary, list);
  list.addEventListener('click', (event) => {
    if (!event.target.closest('button')) return;
    details.open = false;
    summary.focus();
  }, true);
  details.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || !details.open) return;
    details.open = false;
    summary.focus();
    event.stopPropagation();
  });
  details.addEventListener('toggle', () => {
    if (!details.open) return;
    for (const other of document.querySelectorAll('details.menu[open]')) {
      if (other !== details) other.open = false;
    }
  });
  return details;
}

// A click elsewhere closes an open menu.
document.addEventListener('click', (event) => {
  for (const open of document.querySelectorAll('details.menu[open]')) {
    if (!open.contains(event.target)) open.open = false;
  }
});
