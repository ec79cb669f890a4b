// A portal link's token (`/console/#token=<jwt>`), taken from the address
// when the page opens or when only its fragment changes.
//
// Without a live session, the link starts one. A live session is never
// replaced silently: otherwise anyone could hand out a link to their own
// organization, and what the user did next in this tab (a webhook created,
// a secret copied) would land there (login CSRF). So:
// - a link for the same organization and the same person renews the
//   session (a host application that shows the console again hands out a
//   fresh link);
// - an expired or unreadable link is refused in words, and the session
//   stays;
// - any other link is asked about, naming both organizations; the session
//   stays until the user accepts, and staying is the default.

import { ask, el } from './dom.js';
import { showError, showStatus } from './messages.js';
import * as session from './session.js';

// True while a question is open: a further link meanwhile is not taken.
let asking = false;

// Takes the address's link, if any. Returns `started`: true when it
// started or renewed the session at once (the caller renders the page),
// and `notice`: what to say once the page is rendered (rendering clears
// the messages), or null. Calls `onSwitched` when the user later accepts
// to switch.
export function takeLink({ onSwitched }) {
  const nothing = { started: false, notice: null };
  const offered = session.tokenFromFragment();
  if (offered === null) return nothing;
  const current = session.current();
  if (!session.isLive(current)) {
    session.startFromLink(offered);
    return { started: true, notice: null };
  }
  const link = {
    organization: session.organizationOf(offered),
    subject: session.subjectOf(offered),
    expiresAt: session.expiryOf(offered),
  };
  const here = { organization: current.organization, subject: session.subjectOf(current.token) };
  if (!link.organization || (link.expiresAt && link.expiresAt.getTime() <= Date.now())) {
    const sentence = `The link you opened has expired or cannot be read, so it was not used. You are still signed in to organization ${here.organization}.`;
    return { started: false, notice: () => showError({ sentence }) };
  }
  if (link.organization === here.organization && link.subject === here.subject) {
    session.startFromLink(offered);
    return { started: true, notice: null };
  }
  if (asking) return nothing;
  asking = true;
  askToSwitch(here, link).then((switched) => {
    asking = false;
    if (switched) {
      session.startFromLink(offered);
      onSwitched();
      showStatus(`You switched to organization ${link.organization}.`);
    } else {
      showStatus(`You stayed in organization ${here.organization}. The link you opened was not used.`);
    }
  });
  return nothing;
}

// Asks whether to leave the session `here` for the one `link` offers.
function askToSwitch(here, link) {
  const who = (subject) => (subject ? ` (as ${subject})` : '');
  const sameOrganization = link.organization === here.organization;
  return ask({
    title: sameOrganization ? 'Switch to another person’s session?' : 'Switch to another organization?',
    testid: 'switch',
    text: [
      el('p', {}, 'You opened a link to the console. Switching signs this tab out of its session: what you do next happens in the link’s organization.'),
      el('dl', { class: 'summary' },
        el('dt', {}, 'Signed in now'),
        el('dd', { 'data-testid': 'switch-current' }, `Organization ${here.organization}${who(here.subject)}`),
        el('dt', {}, 'The link is for'),
        el('dd', { 'data-testid': 'switch-offered' }, `Organization ${link.organization}${who(link.subject)}`)),
      el('p', {}, 'If you did not expect this link, stay.'),
    ],
    accept: 'Switch',
    cancel: 'Stay signed in here',
  });
}
