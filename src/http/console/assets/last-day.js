// Each webhook's last 24 hours in its row of the list: the success rate,
// how many deliveries, and the newest one's time and outcome, as
// `98.5% of 1,234 · last 2026-12-06 09:07:07 +00:00 ✓`. Asked per row
// (GetWebhookStats) after the table shows, so a slow answer never holds
// the list back; a few at a time, so a page of 50 rows does not queue 50
// calls at once against the organization's share of the service.

import { api } from './api.js';
import { el, replace } from './dom.js';
import { formatTime } from './time.js';

const AT_ONCE = 4;
const OUTCOME = {
  DELIVERY_STATUS_SUCCEEDED: ['✓', 'succeeded'],
  DELIVERY_STATUS_FAILED: ['✗', 'failed'],
  DELIVERY_STATUS_CANCELLED: ['✗', 'cancelled'],
  DELIVERY_STATUS_PENDING: ['…', 'pending'],
};

const count = (n) => Number(n || 0).toLocaleString('en-US');

// The figures for `stats` in words (`98.5% of 1,234`), the newest
// delivery's (`last 2026-12-06 09:07:07 +00:00 ✓`, or ''), and how it
// ended.
export function lastDayText(stats) {
  const succeeded = Number(stats.succeeded || 0);
  const failed = Number(stats.failed || 0);
  const all = succeeded + failed + Number(stats.pending || 0) + Number(stats.cancelled || 0);
  // Pending ones are not decided yet, cancelled ones were never the
  // endpoint's to answer: the rate is of the decided ones, rounded down
  // (one failure in 10,000 is not 100.0%).
  const decided = succeeded + failed;
  const rate = decided ? `${(Math.floor((succeeded / decided) * 1000) / 10).toFixed(1)}%` : '–';
  const figures = all ? `${rate} of ${stats.capped ? '≥ ' : ''}${count(all)}` : 'no deliveries';
  const last = stats.lastDelivery;
  const [mark, outcome] = last ? OUTCOME[last.status] || ['?', 'unknown'] : ['', ''];
  return { figures, last: last ? `last ${formatTime(last.createdAt)} ${mark}` : '', outcome };
}

// A cell to fill in later, and the function that fills it.
export function lastDayCell(webhookId) {
  const cell = el('td', { 'data-label': 'Last 24 h', 'data-testid': 'webhook-last-day' }, '…');
  const fill = async () => {
    try {
      const stats = await api.getWebhookStats(webhookId);
      const { figures, last, outcome } = lastDayText(stats);
      // One line each in a table; read as one: `… · last …`.
      replace(cell, el('span', {
        class: 'last-day',
        'data-testid': 'webhook-last-day-text',
        'data-outcome': outcome,
        title: outcome ? `The newest delivery ${outcome}.` : undefined,
      }, el('span', {}, figures),
      last ? el('span', { class: 'separator' }, ' · ') : null,
      last ? el('span', { class: 'last' }, last) : null));
    } catch (error) {
      // One row's figures missing is no reason to cover the page.
      replace(cell, el('span', { class: 'muted', title: error.sentence || String(error.message || error) }, 'unavailable'));
    }
  };
  return { cell, fill };
}

// Runs `fills`, AT_ONCE at a time.
export async function fillAll(fills) {
  const queue = [...fills];
  const worker = async () => {
    while (queue.length) await queue.shift()();
  };
  await Promise.all(Array.from({ length: AT_ONCE }, worker));
}
