// Rating pad (评价器) at one window: after a ticket is finished there it offers the five
// 好差评 levels for that ticket, once. The pad's device token comes once as ?device=….
import { api, data, errorText, t } from './common.js';
import { connect } from './hub.js';
import { ratingForm } from './rating.js';

const hall = data.hall;
const number = data.window;
const tokenKey = `hall_pad_token:${hall.id}:${number}`;
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
const rating = ratingForm(async (body) => {
  await api('POST', `${base}/rating`, body, token);
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
  pad.dataset.state = 'idle';
  rating.hide();
  document.getElementById('thanks').hidden = true;
  document.getElementById('idle').hidden = false;
}

async function checkPending() {
  try {
    const res = await api('GET', `${base}/pending-rating`, undefined, token);
    const pending = res && (res.ticket || res.pending || (res.number ? res : null));
    if (pending && pending.number) {
      clearTimeout(idleTimer);
      document.getElementById('idle').hidden = true;
      pad.dataset.state = 'rating';
      pad.dataset.number = pending.number;
      rating.show(t('pad.for_ticket', {number: pending.number}));
    } else if (pad.dataset.state === 'rating') {
      idle();
    }
    showError('');
  } catch (err) {
    showError(errorText(err, {window: number}));
  }
}

function showClerk(w) {
  document.getElementById('clerk').textContent = w && w.clerk_name
    ? t('window.clerk_line', {name: w.clerk_name, number: w.clerk_staff_number || ''}) : '';
}

if (!token) {
  showError(t('pad.no_device'));
} else {
  connect(`/ws/halls/${hall.id}/pads/${number}?device=${encodeURIComponent(token)}`, {
    snapshot(snap) { showClerk(snap.window); checkPending(); },
    event(ev) {
      const d = ev.data || {};
      if (d.window && typeof d.window === 'object') showClerk(d.window);
      if (ev.type === 'ticket.done' || ev.type === 'rating.given') checkPending();
    },
    refused() { showError(t('pad.no_device')); },
  });
}
