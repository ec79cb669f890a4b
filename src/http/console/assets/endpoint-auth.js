// What a webhook's endpoint may demand of our requests, in the create and
// edit dialogs: headers of its own (an API key, a tenant id), a client
// certificate for mutual TLS, and OAuth2 client credentials. Credentials
// are write-only: the API never returns a header marked secret, a private
// key or a client secret, so the edit dialog shows them as kept, and an
// empty field keeps what is stored. The service checks every value.

import { el, field } from './dom.js';
import { timeEl } from './time.js';

// Warn this long before a client certificate expires.
const EXPIRY_WARNING_MS = 30 * 86_400_000;

class Refused extends Error {
  constructor(name, description) {
    super(description);
    this.sentence = 'Some values need a fix: see the marked fields.';
    this.violations = [{ field: name, description }];
  }
}

// What the webhooks table says of it; null when the endpoint demands nothing.
export function authSummary(webhook) {
  const groups = [];
  const names = (webhook.headers || []).map((h) => h.name);
  if (names.length) groups.push([`Sends ${names.join(', ')}`]);
  const certificate = webhook.clientCertificate;
  if (certificate) {
    groups.push([
      `Presents ${certificate.subject}, valid until `,
      timeEl(certificate.notAfter),
      expiresSoon(certificate)
        ? [' ', el('span', { class: 'badge warn', 'data-testid': 'certificate-expiring' }, 'expires soon')]
        : null,
    ]);
  }
  if (webhook.oauth2) groups.push([`OAuth2 token from ${host(webhook.oauth2.tokenUrl)}`]);
  if (!groups.length) return null;
  return el('p', { class: 'reason', 'data-testid': 'webhook-auth' },
    groups.flatMap((group, i) => (i ? [' · ', ...group] : group)));
}

function expiresSoon(certificate) {
  const end = Date.parse(certificate.notAfter);
  return Number.isFinite(end) && end - Date.now() < EXPIRY_WARNING_MS;
}

function host(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

// The fields, folded unless the webhook uses one of them. `value()` reads
// them (a refusal of what was typed throws, for the form to show);
// `changed(values)` names the update mask paths to send.
export function endpointAuth(webhook) {
  const headers = headerList(webhook);
  const certificate = certificateFields(webhook);
  const oauth2 = oauth2Fields(webhook);
  const used = Boolean(webhook && ((webhook.headers || []).length || webhook.clientCertificate || webhook.oauth2));
  const node = el('details', { class: 'endpoint-auth', open: used, 'data-testid': 'endpoint-auth' },
    el('summary', { 'data-testid': 'endpoint-auth-toggle' }, 'What the endpoint demands (optional)'),
    el('p', { class: 'hint' },
      'For receivers behind a gateway: headers, a client certificate, OAuth2. Secrets you write here are sealed and never shown again.'),
    headers.node,
    certificate.node,
    oauth2.node);
  const value = () => ({
    headers: headers.value(),
    clientCertificate: certificate.value(),
    oauth2: oauth2.value(),
  });
  const changed = (values) => [
    headers.changed(values.headers) ? 'headers' : null,
    certificate.changed(values.clientCertificate) ? 'client_certificate' : null,
    oauth2.changed(values.oauth2) ? 'oauth2' : null,
  ].filter(Boolean);
  return { node, value, changed };
}

// Headers: one row each, name, value, and whether the value is a secret.
function headerList(webhook) {
  const before = (webhook && webhook.headers) || [];
  const rows = el('div', { class: 'header-rows', 'data-testid': 'header-rows' });
  const error = el('p', { class: 'field-error', 'data-testid': 'field-error-headers', 'data-field': 'headers', hidden: true });
  const add = (header) => rows.append(headerRow(header, Boolean(webhook)));
  for (const header of before) add(header);
  const node = el('fieldset', { class: 'endpoint-part' },
    el('legend', {}, 'Headers'),
    el('p', { class: 'hint' }, 'Sent with every attempt. A secret value (the default) is never shown again; leave it empty to keep it.'),
    rows,
    el('button', {
      type: 'button',
      class: 'small secondary',
      name: 'headers',
      'data-testid': 'header-add',
      on: { click: () => { add(null); rows.lastChild.querySelector('input').focus(); } },
    }, 'Add header'),
    error);
  const value = () => [...rows.children]
    .map((row) => row.read())
    .filter((header) => header.name || header.value);
  const changed = (after) => {
    if (after.length !== before.length) return true;
    return after.some((header, i) => header.name !== before[i].name
      || header.plain !== Boolean(before[i].plain)
      // A shown value came back and is compared; a secret one never does,
      // so anything written replaces it.
      || (header.plain ? header.value !== (before[i].value || '') : Boolean(header.value)));
  };
  return { node, value, changed };
}

function headerRow(header, editing) {
  const kept = Boolean(header && !header.plain);
  const name = el('input', {
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'x-api-key',
    'aria-label': 'Header name',
    'data-testid': 'header-name-input',
  });
  name.value = header ? header.name : '';
  const value = el('input', {
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: kept && editing ? 'Kept: write to replace' : 'Value',
    'aria-label': 'Header value',
    'data-testid': 'header-value-input',
  });
  value.value = header && header.plain ? header.value || '' : '';
  const plain = el('input', { type: 'checkbox', 'data-testid': 'header-plain-input' });
  plain.checked = Boolean(header && header.plain);
  const row = el('div', { class: 'header-row', 'data-testid': 'header-row' },
    name,
    value,
    el('label', { class: 'check' }, plain, el('span', {}, 'Not secret')),
    el('button', {
      type: 'button',
      class: 'small secondary',
      'aria-label': 'Remove this header',
      'data-testid': 'header-remove',
      on: { click: () => row.remove() },
    }, 'Remove'));
  row.read = () => ({ name: name.value.trim().toLowerCase(), value: value.value, plain: plain.checked });
  return row;
}

// The client certificate: what the webhook presents now, and the PEM to
// replace it with.
function certificateFields(webhook) {
  const current = webhook && webhook.clientCertificate;
  const chain = el('textarea', { rows: 3, class: 'code', spellcheck: 'false', 'data-testid': 'certificate-chain-input' });
  const key = el('textarea', { rows: 3, class: 'code', spellcheck: 'false', 'data-testid': 'certificate-key-input' });
  const remove = el('input', { type: 'checkbox', 'data-testid': 'certificate-remove-input' });
  const node = el('fieldset', { class: 'endpoint-part' },
    el('legend', {}, 'Client certificate (mutual TLS)'),
    current
      ? el('dl', { class: 'facts', 'data-testid': 'certificate-info' },
        el('dt', {}, 'Subject'), el('dd', {}, current.subject),
        el('dt', {}, 'Issuer'), el('dd', {}, current.issuer),
        el('dt', {}, 'Valid'), el('dd', {}, timeEl(current.notBefore), ' to ', timeEl(current.notAfter),
          expiresSoon(current) ? [' ', el('span', { class: 'badge warn' }, 'expires soon')] : null),
        el('dt', {}, 'SHA-256'), el('dd', {}, el('code', {}, current.sha256Fingerprint)))
      : null,
    field({
      label: current ? 'New certificate chain (PEM, optional)' : 'Certificate chain (PEM, optional)',
      name: 'clientCertificate.certificateChainPem',
      input: chain,
      hint: 'The leaf first, then any intermediates.',
    }),
    field({
      label: current ? 'Its private key (PEM)' : 'Private key (PEM)',
      name: 'clientCertificate.privateKeyPem',
      input: key,
      hint: 'Unencrypted PKCS#8, PKCS#1 or SEC1. Sealed; never shown again.',
    }),
    current
      ? el('label', { class: 'check' }, remove, el('span', {}, 'Stop presenting a certificate'))
      : null);
  // null: none (or, editing, the current one kept or removed: see changed).
  const value = () => {
    if (remove.checked) return null;
    const pem = { certificateChainPem: chain.value.trim(), privateKeyPem: key.value.trim() };
    if (!pem.certificateChainPem && !pem.privateKeyPem) return null;
    if (!pem.privateKeyPem) throw new Refused('clientCertificate.privateKeyPem', 'Paste the private key of the certificate too.');
    if (!pem.certificateChainPem) throw new Refused('clientCertificate.certificateChainPem', 'Paste the certificate of this key too.');
    return pem;
  };
  const changed = (after) => Boolean(after) || (Boolean(current) && remove.checked);
  return { node, value, changed };
}

// OAuth2 client credentials: the secret is write-only.
function oauth2Fields(webhook) {
  const current = webhook && webhook.oauth2;
  const input = (testid, attributes = {}) => el('input', {
    type: 'text', autocomplete: 'off', spellcheck: 'false', 'data-testid': testid, ...attributes,
  });
  const tokenUrl = input('oauth2-token-url-input', { type: 'url', placeholder: 'https://auth.example.com/oauth/token' });
  const clientId = input('oauth2-client-id-input');
  const secret = input('oauth2-client-secret-input', {
    type: 'password',
    autocomplete: 'new-password',
    placeholder: current ? 'Kept: write to replace' : '',
  });
  const scopes = input('oauth2-scopes-input', { placeholder: 'webhooks.write' });
  const audience = input('oauth2-audience-input');
  const remove = el('input', { type: 'checkbox', 'data-testid': 'oauth2-remove-input' });
  tokenUrl.value = current ? current.tokenUrl || '' : '';
  clientId.value = current ? current.clientId || '' : '';
  scopes.value = current ? (current.scopes || []).join(' ') : '';
  audience.value = current ? current.audience || '' : '';
  const node = el('fieldset', { class: 'endpoint-part' },
    el('legend', {}, 'OAuth2 client credentials'),
    el('p', { class: 'hint' }, 'The service asks the token URL for a bearer token and sends it with every attempt.'),
    field({ label: 'Token URL', name: 'oauth2.tokenUrl', input: tokenUrl }),
    field({ label: 'Client ID', name: 'oauth2.clientId', input: clientId }),
    field({
      label: 'Client secret',
      name: 'oauth2.clientSecret',
      input: secret,
      hint: current ? 'Sealed; never shown again. Empty: keep the current one.' : 'Sealed; never shown again.',
    }),
    field({ label: 'Scopes (optional)', name: 'oauth2.scopes', input: scopes, hint: 'Separated by spaces.' }),
    field({ label: 'Audience (optional)', name: 'oauth2.audience', input: audience, hint: 'For servers that ask for one, such as Auth0.' }),
    current
      ? el('label', { class: 'check' }, remove, el('span', {}, 'Stop using OAuth2'))
      : null);
  const value = () => {
    if (remove.checked) return null;
    const credentials = {
      tokenUrl: tokenUrl.value.trim(),
      clientId: clientId.value.trim(),
      clientSecret: secret.value,
      scopes: scopes.value.split(/\s+/).filter(Boolean),
      audience: audience.value.trim(),
    };
    const written = credentials.tokenUrl || credentials.clientId || credentials.clientSecret
      || credentials.scopes.length || credentials.audience;
    return written || current ? credentials : null;
  };
  const changed = (after) => {
    if (!current) return Boolean(after);
    if (!after) return remove.checked;
    return Boolean(after.clientSecret)
      || after.tokenUrl !== current.tokenUrl
      || after.clientId !== current.clientId
      || after.scopes.join(' ') !== (current.scopes || []).join(' ')
      || after.audience !== (current.audience || '');
  };
  return { node, value, changed };
}
