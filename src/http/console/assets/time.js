// Times, in one format everywhere: the reader's local time with its offset
// from UTC, `2026-12-05 21:49:54 +01:00`. A locale's format
// (toLocaleString) varies between readers and leaves the zone out, so two
// people comparing a screen with a log could not tell whether they look at
// the same moment.

import { el } from './dom.js';

const pad = (n, width = 2) => String(n).padStart(width, '0');

// `date`'s offset from UTC as `+01:00`.
function offsetOf(date) {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function toDate(value) {
  if (!value) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

// `YYYY-MM-DD HH:MM:SS +HH:MM` in local time; '' for none, the value
// itself when it is not a time.
export function formatTime(value) {
  if (!value) return '';
  const date = toDate(value);
  if (!date) return String(value);
  return `${localDate(date)} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${offsetOf(date)}`;
}

function localDate(date) {
  return `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

// How long ago (or how far ahead) `value` is, in words: "3 min ago",
// "in 2 h"; '' for none.
export function relativeTime(value, now = Date.now()) {
  const date = toDate(value);
  if (!date) return '';
  const seconds = Math.round((date.getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  let amount;
  if (abs < 60) amount = `${abs} s`;
  else if (abs < 3600) amount = `${Math.floor(abs / 60)} min`;
  else if (abs < 86400) amount = `${Math.floor(abs / 3600)} h`;
  else amount = `${Math.floor(abs / 86400)} d`;
  return seconds <= 0 ? `${amount} ago` : `in ${amount}`;
}

// A <time> element for an API timestamp: the absolute time shown, how
// long ago in its title.
export function timeEl(value, attributes = {}) {
  const relative = relativeTime(value);
  return el('time', { datetime: value, title: relative || undefined, ...attributes }, formatTime(value));
}

// `value` for a datetime-local input (`YYYY-MM-DDTHH:MM`, local time).
export function toLocalInput(value) {
  const date = toDate(value);
  if (!date) return '';
  return `${localDate(date)}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// A datetime-local input's value as a Date (it is local time), or null.
export function fromLocalInput(value) {
  if (!value) return null;
  return toDate(value);
}
