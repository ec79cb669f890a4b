// The REST client: relative `/v1/...` URLs on the console's own origin only,
// with the session's bearer token; answers as JSON, failures as ApiError.

import * as session from './session.js';

// Called when a call answers 401 (set by app.js: back to sign-in).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

// A failed call: `sentence` says what went wrong in words; `message` is the
// service's own text; `violations` are [{field, description}].
export class ApiError extends Error {
  constructor({ status = 0, code = null, message = '', violations = [], network = false }) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.serviceMessage = message;
    this.violations = violations;
    this.network = network;
    this.sentence = describe(this);
  }
}

// gRPC codes (in the body) to a sentence; the HTTP status when no code came.
const BY_CODE = {
  1: 'The request was cancelled.',
  3: 'The service refused a value in the request.',
  4: 'The service took too long to answer. Try again.',
  5: 'Not found: it may have been deleted, or belong to another organization.',
  6: 'That already exists.',
  7: 'Your token does not allow this: only owners and admins of this organization can manage its webhooks.',
  8: 'A limit was reached (too many webhooks, or too many requests).',
  9: 'This cannot be done right now, in the state it is in.',
  12: 'The service does not offer this.',
  13: 'The service failed unexpectedly. Try again later.',
  14: 'The service is unavailable right now. Try again in a moment.',
  16: 'Your session has expired or the token was refused. Sign in again.',
};
const BY_STATUS = {
  400: BY_CODE[3],
  401: BY_CODE[16],
  403: BY_CODE[7],
  404: BY_CODE[5],
  405: BY_CODE[12],
  409: BY_CODE[6],
  429: BY_CODE[8],
  500: BY_CODE[13],
  501: BY_CODE[12],
  503: BY_CODE[14],
  504: BY_CODE[4],
};

function describe(error) {
  if (error.network) {
    return 'The service could not be reached. Check your connection and try again.';
  }
  return BY_CODE[error.code] || BY_STATUS[error.status] || `The call failed (HTTP ${error.status}).`;
}

// Only paths of this API, on this origin: a token never leaves it.
function urlFor(path, query) {
  if (typeof path !== 'string' || !path.startsWith('/v1/') || path.startsWith('//')) {
    throw new Error(`refusing to call ${path}: only relative /v1/ paths`);
  }
  const url = new URL(path, location.origin);
  if (url.origin !== location.origin) throw new Error('refusing to call another origin');
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
  }
  return url.pathname + url.search;
}

// One path segment (an id), escaped.
export function segment(value) {
  return encodeURIComponent(value);
}

// `method path` with the token; resolves to the JSON answer.
export async function call(method, path, { query, body } = {}) {
  const current = session.current();
  const headers = { Accept: 'application/json' };
  if (current) headers.Authorization = `Bearer ${current.token}`;
  const init = { method, headers, credentials: 'omit', cache: 'no-store', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(urlFor(path, query), init);
  } catch {
    throw new ApiError({ network: true });
  }
  let json = null;
  try {
    json = await response.json();
  } catch {
    json = null;
  }
  if (response.ok) return json || {};
  const error = new ApiError({
    status: response.status,
    code: json && typeof json.code === 'number' ? json.code : null,
    message: json && typeof json.message === 'string' ? json.message : '',
    violations: violationsOf(json),
  });
  if (response.status === 401) onUnauthorized(error);
  throw error;
}

function violationsOf(json) {
  const details = (json && Array.isArray(json.details) && json.details) || [];
  const badRequest = details.find((d) => d && String(d['@type']).endsWith('google.rpc.BadRequest'));
  const violations = (badRequest && badRequest.fieldViolations) || [];
  return violations.map((v) => ({ field: String(v.field || ''), description: String(v.description || '') }));
}

// The organization's path: /v1/organizations/{org}<rest>.
export function orgPath(rest) {
  const current = session.current();
  return `/v1/organizations/${segment(current ? current.organization : '')}${rest}`;
}

export const api = {
  listWebhooks: (pageToken, pageSize = 20) =>
    call('GET', orgPath('/webhooks'), { query: { pageSize, pageToken } }),
  createWebhook: (body) => call('POST', orgPath('/webhooks'), { body }),
  updateWebhook: (id, body, mask) =>
    call('PATCH', orgPath(`/webhooks/${segment(id)}`), { query: { updateMask: mask }, body }),
  deleteWebhook: (id) => call('DELETE', orgPath(`/webhooks/${segment(id)}`)),
  rotateSecret: (id) => call('POST', orgPath(`/webhooks/${segment(id)}:rotateSecret`)),
  recoverWebhook: (id, since) =>
    call('POST', orgPath(`/webhooks/${segment(id)}:recover`), { body: { since } }),
  sendTestEvent: (id) => call('POST', orgPath(`/webhooks/${segment(id)}:sendTestEvent`)),
  testWebhookFilter: (sample) => call('POST', orgPath(':testWebhookFilter'), { body: sample }),
  listDeliveries: (filters, pageToken) =>
    call('GET', orgPath('/deliveries'), { query: { ...filters, pageSize: 25, pageToken } }),
  getDelivery: (id) => call('GET', orgPath(`/deliveries/${segment(id)}`)),
  getWebhookStats: (id) => call('GET', orgPath(`/webhooks/${segment(id)}/stats`)),
  retryDelivery: (id) => call('POST', orgPath(`/deliveries/${segment(id)}:retry`)),
  listEventTypes: (options) => listEventTypes(options),
};

// The largest page ListEventTypes answers, and how many pages one listing
// reads at most: 4,000 types, four times what a catalogue can hold (1,000
// besides the 13 built-in ones), so the bound only stops a service that
// keeps answering page tokens.
const CATALOGUE_PAGE_SIZE = 200;
const CATALOGUE_MAX_PAGES = 20;

// The whole catalogue in name order, every page of it; archived types only
// with `includeArchived`. Resolves to the list of types.
async function listEventTypes({ includeArchived = false } = {}) {
  const types = [];
  let pageToken = '';
  for (let page = 0; page < CATALOGUE_MAX_PAGES; page += 1) {
    const answer = await call('GET', '/v1/eventTypes', {
      query: { pageSize: CATALOGUE_PAGE_SIZE, pageToken, includeArchived: includeArchived || undefined },
    });
    types.push(...(answer.eventTypes || []));
    pageToken = answer.nextPageToken;
    if (!pageToken) break;
  }
  return types;
}
