// Recover: sends again what a stopped webhook missed. RecoverWebhook only
// works on an enabled webhook (FAILED_PRECONDITION otherwise), so the
// dialog enables a paused or disabled one first, then asks for every
// delivery that failed, or was cancelled when the service disabled it,
// since the time picked.

import { api } from './api.js';
import { el, field, openDialog } from './dom.js';
import { showDialogError, showStatus } from './messages.js';
import { formatTime, fromLocalInput, toLocalInput } from './time.js';

const DAY_MS = 24 * 60 * 60 * 1000;

// Since when to resend, by default: a day ago, or a minute before the
// webhook started failing if that is earlier (a failure's event was
// published a moment before its attempt failed, and the picker has minutes
// only).
function defaultSince(webhook) {
  const dayAgo = Date.now() - DAY_MS;
  const failing = webhook.failingSince ? new Date(webhook.failingSince).getTime() - 60 * 1000 : dayAgo;
  return new Date(Math.min(dayAgo, Number.isNaN(failing) ? dayAgo : failing)).toISOString();
}

function counted(n) {
  if (n === 0) return 'no delivery was';
  return n === 1 ? '1 delivery was' : `${n} deliveries were`;
}

export function recoverDialog(webhook, done) {
  openDialog({
    title: 'Recover this webhook',
    testid: 'recover-dialog',
    build: (close) => {
      const since = el('input', {
        type: 'datetime-local',
        required: true,
        'data-testid': 'recover-since',
      });
      since.value = toLocalInput(defaultSince(webhook));
      const problem = el('div', { class: 'error', role: 'alert', 'data-testid': 'dialog-error', hidden: true });
      const submit = el('button', { type: 'submit', 'data-testid': 'recover-submit' },
        webhook.enabled ? 'Resend' : 'Enable and resend');
      const form = el('form', { 'data-testid': 'recover-form', novalidate: true },
        el('p', {},
          webhook.enabled ? 'Deliveries to ' : 'Enables ',
          el('span', { class: 'url' }, webhook.url),
          webhook.enabled
            ? ' that failed since the time below are sent again, oldest first.'
            : ' again, then sends again, oldest first, every delivery that failed or was cancelled when the service disabled it, since the time below.'),
        field({
          label: 'Resend deliveries of events since',
          name: 'since',
          input: since,
          hint: 'Your local time. By default a day ago, or just before the webhook started failing if earlier.',
        }),
        problem,
        el('div', { class: 'actions' },
          submit,
          el('button', { type: 'button', class: 'secondary', 'data-testid': 'dialog-cancel', on: { click: close } }, 'Cancel')));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        problem.hidden = true;
        const at = fromLocalInput(since.value);
        if (!at) {
          showDialogError(problem, { sentence: 'Pick the date and time to resend from.' });
          return;
        }
        submit.disabled = true;
        let enabledNow = false;
        try {
          if (!webhook.enabled) {
            await api.updateWebhook(webhook.id, { enabled: true }, 'enabled');
            enabledNow = true;
            webhook.enabled = true;
          }
          const answer = await api.recoverWebhook(webhook.id, at.toISOString());
          const scheduled = Number(answer.deliveriesScheduled || 0);
          close();
          done();
          showStatus(
            `${enabledNow ? `Webhook ${webhook.url} is enabled again; ` : ''}`
            + `${counted(scheduled)} scheduled again (events since ${formatTime(at)}).`,
          );
        } catch (error) {
          submit.disabled = false;
          if (error.status === 401) return;
          if (enabledNow) {
            done();
            submit.textContent = 'Resend';
          }
          showDialogError(problem, {
            ...error,
            sentence: enabledNow
              ? `The webhook is enabled again, but nothing was resent: ${error.sentence}`
              : error.sentence,
            serviceMessage: error.serviceMessage,
            violations: error.violations,
          }, form);
        }
      });
      return form;
    },
  });
}
