// Rating pad (评价器) at one window: after a ticket is finished there it offers the five
// 好差评 levels for that ticket, once, for the hall's pad_rating_seconds and only until the
// window's next call (the pad's socket brings the window's events), so the next citizen
// never rates the previous one's service. The pad's device token comes once as ?device=….
import { api, data, errorText, proper, t, tn } from './common.js';
import { connect } from './hub.js';
import { ratingForm } from './rating.js';

const hall = data.hall;
const number = data.window;
const OFFER_MS = (hall.pad_rating_seconds || 90) * 1000;
const tokenKey = `hall_pad_token:${hall.id}:${number}`;
const offeredKey = `hall_pad_offered:${hall.id}:${number}`;  // {number, until} across reloads
const params = new URLSearchParams(location.search);
if (params.get('device')) {
  localStorage.setItem(tokenKey, params.get('device'));
  params.delete('device');
  history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}`);
}
const token = localStorage.getItem(tokenKey);
const base = `/api/halls/${hall.id}/windows/${number}`;
const pad = document.getElementById('pad');
let idleTimer = null;
let offerTimer = null;
let windowBusy = false;  // a ticket is at the window: the last finished one is not rated here
let closedNumber = null;  // the ticket whose offer ended (time up or the next call)
const rating = ratingForm(async (body) => {
  await api('POST', `${base}/rating`, body, token);
  clearTimeout(offerTimer);
  pad.dataset.state = 'thanks';
  clearTimeout(idleTimer);
  idleTimer = setTimeout(idle, 8000);
});

function showError(text) {
  const box = document.getElementById('error');
  box.textContent = text || '';
  box.hidden = !text;
}

function idle() {
  clearTimeout(offerTimer);
  pad.dataset.state = 'idle';
  delete pad.dataset.number;
  rating.hide();
  document.getElementById('thanks').hidden = true;
  document.getElementById('idle').hidden = false;
}

// Stop offering the current ticket (time is up, or the window called the next one).
function endOffer() {
  if (pad.dataset.state === 'rating') closedNumber = pad.dataset.number || closedNumber;
  if (pad.dataset.state !== 'thanks') idle();
}

function offerUntil(pending) {
  // Until done_at + the offer time (device clocks in a hall are synchronised), and no
  // longer than the offer time from now; a reloaded pad keeps the first deadline.
  let until = Date.now() + OFFER_MS;
  if (pending.done_at) until = Math.min(until, pending.done_at * 1000 + OFFER_MS);
  try {
    const saved = JSON.parse(localStorage.getItem(offeredKey) || 'null');
    if (saved && saved.number === pending.number) until = Math.min(until, saved.until);
  } catch (e) { /* a fresh offer */ }
  localStorage.setItem(offeredKey, JSON.stringify({number: pending.number, until}));
  return until;
}

async function checkPending() {
  try {
    const res = await api('GET', `${base}/pending-rating`, undefined, token);
    const pending = res && res.ticket;
    const until = pending && pending.number ? offerUntil(pending) : 0;
    if (pending && pending.number && !windowBusy && pending.number !== closedNumber
        && until > Date.now()) {
      clearTimeout(idleTimer);
      document.getElementById('idle').hidden = true;
      if (pad.dataset.state !== 'rating' || pad.dataset.number !== pending.number) {
        pad.dataset.state = 'rating';
        pad.dataset.number = pending.number;
        rating.show(t('pad.for_ticket', {number: pending.number}));
      }
      clearTimeout(offerTimer);
      offerTimer = setTimeout(endOffer, until - Date.now());
    } else if (pad.dataset.state === 'rating') {
      endOffer();
    }
    showError('');
  } catch (err) {
    showError(errorText(err, {window: number}));
  }
}

function showClerk(w) {
  document.getElementById('clerk').replaceChildren(...(w && w.clerk_name
    ? tn('window.clerk_line', {name: proper(w.clerk_name), number: w.clerk_staff_number || ''})
    : []));
}

if (!token) {
  showError(t('pad.no_device'));
} else {
  connect(`/ws/halls/${hall.id}/pads/${number}?device=${encodeURIComponent(token)}`, {
    snapshot(snap) {
      showClerk(snap.window);
      windowBusy = Boolean(snap.window && snap.window.busy);
      checkPending();
    },
    event(ev) {
      const d = ev.data || {};
      if (d.window && typeof d.window === 'object') {
        showClerk(d.window);
        windowBusy = Boolean(d.window.busy);
      }
      if (ev.type === 'ticket.called' || ev.type === 'ticket.recalled') endOffer();
      else if (ev.type === 'ticket.done') { closedNumber = null; checkPending(); }
      else if (ev.type === 'rating.given') checkPending();
    },
    refused(closed) { showError(t(`conn.${closed.code}`)); },
  });
}
