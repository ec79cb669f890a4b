// How a webhook's deliveries go out, in the create and edit dialogs: the
// rate limit, ordering by key and the retry schedule. The service checks
// every value; this module only turns what people type into the API's
// shapes, and back.

import { el, field } from './dom.js';

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

// A refusal of what was typed, shaped like the service's, so that the form
// shows it next to its field.
class Refused extends Error {
  constructor(name, description) {
    super(description);
    this.sentence = 'Some values need a fix: see the marked fields.';
    this.violations = [{ field: name, description }];
  }
}

// "30s, 5m, 1h 2d" → milliseconds per step. Empty: no steps.
export function parseSchedule(text) {
  const steps = text.split(/[\s,]+/).filter(Boolean);
  return steps.map((step) => {
    const match = /^(\d+)(ms|s|m|h|d)$/.exec(step);
    if (!match) {
      throw new Refused('retrySchedule',
        `“${step}” is not a wait: write a whole number and a unit (ms, s, m, h or d), as in 30s or 2h.`);
    }
    return Number(match[1]) * UNIT_MS[match[2]];
  });
}

// Milliseconds → protobuf's Duration in JSON: seconds, with the fraction.
export function durationJson(ms) {
  const seconds = Math.floor(ms / 1000);
  const rest = ms % 1000;
  return rest ? `${seconds}.${String(rest).padStart(3, '0')}s` : `${seconds}s`;
}

// A Duration in JSON ("300s", "0.100s") → milliseconds.
function durationMs(json) {
  return Math.round(Number.parseFloat(String(json)) * 1000);
}

// Milliseconds in the largest unit that divides them: 300000 → "5m".
function readable(ms) {
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

// The webhook's schedule as people write it ("" for the service's default).
export function scheduleText(webhook) {
  return ((webhook && webhook.retrySchedule) || []).map((d) => readable(durationMs(d))).join(', ');
}

// The settings in a line for the webhooks table; null when all are defaults.
export function settingsSummary(webhook) {
  const parts = [];
  if (webhook.signatureScheme === 'SIGNATURE_SCHEME_ED25519') parts.push('Signed with ed25519');
  if (webhook.ordering === 'ORDERING_ORDERED') parts.push('Ordered by key');
  if (webhook.rateLimitPerSecond) parts.push(`At most ${webhook.rateLimitPerSecond}/s`);
  const schedule = scheduleText(webhook);
  if (schedule) parts.push(`Retries after ${schedule}`);
  return parts.length ? el('p', { class: 'reason', 'data-testid': 'webhook-settings' }, parts.join(' · ')) : null;
}

// The fields; `value()` reads them (and throws a refusal the form shows),
// `changed(values)` names the update mask paths that differ from `webhook`.
export function deliverySettings(webhook) {
  const rate = el('input', {
    type: 'number',
    min: 0,
    step: 1,
    inputmode: 'numeric',
    placeholder: 'No limit',
    'data-testid': 'webhook-rate-limit-input',
  });
  rate.value = webhook && webhook.rateLimitPerSecond ? String(webhook.rateLimitPerSecond) : '';
  const ordered = el('input', { type: 'checkbox', 'data-testid': 'webhook-ordered-input' });
  ordered.checked = Boolean(webhook && webhook.ordering === 'ORDERING_ORDERED');
  ordered.name = 'ordering';
  const schedule = el('input', {
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'The service’s default',
    'data-testid': 'webhook-retry-schedule-input',
  });
  schedule.value = scheduleText(webhook);
  const node = el('fieldset', { class: 'delivery-settings' },
    el('legend', {}, 'Delivery'),
    field({
      label: 'Rate limit (deliveries a second, optional)',
      name: 'rateLimitPerSecond',
      input: rate,
      hint: 'Empty or 0: as fast as the endpoint takes them.',
    }),
    el('label', { class: 'check' }, ordered,
      el('span', {}, 'Deliver in order: one at a time per ordering key, in publish order.')),
    el('p', { class: 'field-error', 'data-testid': 'field-error-ordering', 'data-field': 'ordering', hidden: true }),
    field({
      label: 'Retry schedule (optional)',
      name: 'retrySchedule',
      input: schedule,
      hint: 'The waits between attempts after failures, as in 1m, 10m, 1h, 6h, 1d. Empty: the service’s default.',
    }));

  const value = () => {
    const text = rate.value.trim();
    if (text && !/^\d+$/.test(text)) {
      throw new Refused('rateLimitPerSecond', 'Write a whole number of deliveries a second, or leave it empty.');
    }
    return {
      rateLimitPerSecond: text ? Number(text) : 0,
      ordering: ordered.checked ? 'ORDERING_ORDERED' : 'ORDERING_UNORDERED',
      retrySchedule: parseSchedule(schedule.value).map(durationJson),
    };
  };
  const changed = (values) => {
    const before = {
      rateLimitPerSecond: (webhook && webhook.rateLimitPerSecond) || 0,
      ordering: (webhook && webhook.ordering) || 'ORDERING_UNORDERED',
      retrySchedule: ((webhook && webhook.retrySchedule) || []).map((d) => durationJson(durationMs(d))),
    };
    const paths = [];
    if (values.rateLimitPerSecond !== before.rateLimitPerSecond) paths.push('rate_limit_per_second');
    if (values.ordering !== before.ordering) paths.push('ordering');
    if (values.retrySchedule.join() !== before.retrySchedule.join()) paths.push('retry_schedule');
    return paths;
  };
  return { node, value, changed };
}
