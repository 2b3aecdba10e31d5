// Citizen ticket page (from the QR code): live status, position, estimated wait, an alert
// when the number is near and when it is called, and the rating form after service.
import { api, data, el, errorText, t, windowName } from './common.js';
import { connect } from './hub.js';
import { ratingForm } from './rating.js';

const hall = data.hall;
const base = `/api/halls/${hall.id}/tickets/${data.ticket}`;
const NEAR = 3;
let ticket = null;
let rated = false;
let refreshing = null;
const rating = ratingForm((body) => api('POST', `${base}/rating`, body));

function render() {
  if (!ticket) return;
  const page = document.getElementById('citizen');
  page.dataset.status = ticket.status;
  document.getElementById('number').textContent = ticket.number;
  document.getElementById('status').textContent = t(`status.${ticket.status}`);
  const waiting = ticket.status === 'waiting';
  const ahead = ticket.ahead ?? null;
  document.getElementById('ahead').textContent = waiting && ahead !== null ? t('ticket.ahead', {n: ahead}) : '';
  document.getElementById('wait').textContent = waiting && ticket.estimated_wait_minutes != null
    ? t('ticket.wait', {m: Math.max(1, Math.round(ticket.estimated_wait_minutes))}) : '';
  const alert = document.getElementById('alert');
  let text = '';
  let kind = '';
  if (ticket.status === 'called') { text = t('ticket.called', {window: ticket.window}); kind = 'called'; }
  else if (ticket.status === 'serving') { text = t('ticket.serving', {window: ticket.window}); kind = 'serving'; }
  else if (ticket.status === 'no_show') { text = t('ticket.no_show'); kind = 'no_show'; }
  else if (ticket.status === 'done') { text = t('ticket.done'); kind = 'done'; }
  else if (waiting && ticket.target_window) {
    text = t('ticket.transferred', {target: `${t('window.number', {n: ticket.target_window})} ${windowName(hall, ticket.target_window)}`});
    kind = 'transferred';
  } else if (waiting && ticket.wait_reason === 'no_window_open') { text = t('ticket.not_served'); kind = 'not_served'; }
  else if (waiting && ahead !== null && ahead < NEAR) { text = t('ticket.near'); kind = 'near'; }
  alert.textContent = text;
  alert.dataset.kind = kind;
  alert.hidden = !text;
  document.getElementById('rejoin').hidden = ticket.status !== 'no_show';
  document.getElementById('cancel').hidden = !waiting || !document.getElementById('cancel-confirm').hidden;
  if (!waiting) document.getElementById('cancel-confirm').hidden = true;
  wayBack();
  if (ticket.status === 'done' && !rated) checkRating();
  else if (ticket.status !== 'done') rating.hide();
}

let ratingChecked = false;
async function checkRating() {
  // Rate once: ask whether this ticket may still be rated before offering the form.
  if (ratingChecked) return;
  ratingChecked = true;
  try {
    const state = await api('GET', `${base}/rating`);
    if (state.rating) { rated = true; rating.thank(); }
    else if (state.can_rate) rating.show();
  } catch (e) {
    ratingChecked = false;
  }
}

// After a cancel or a missed call: what this citizen can do now.
function wayBack() {
  const box = document.getElementById('way-back');
  const status = ticket && ticket.status;
  let lines = [];
  if (status === 'cancelled') lines = [t('ticket.cancelled_help')];
  else if (status === 'no_show' && ticket.no_show_at) {
    const left = ticket.no_show_at + (hall.rejoin_minutes || 30) * 60 - Date.now() / 1000;
    lines = [left > 0 ? t('ticket.rejoin_until', {m: Math.max(1, Math.floor(left / 60))})
      : t('ticket.rejoin_over')];
  }
  box.replaceChildren(...lines.map((line) => el('p', {}, line)));
  box.hidden = !lines.length;
}

function setTicket(next) {
  const wasCalled = ticket && ticket.status === 'called';
  ticket = {...(ticket || {}), ...next};
  if (ticket.status === 'called' && !wasCalled && navigator.vibrate) navigator.vibrate([400, 200, 400]);
  render();
}

async function refresh() {
  // Position and wait change when others are called: re-read at most once a second.
  if (refreshing) return;
  refreshing = setTimeout(async () => {
    refreshing = null;
    try { setTicket(await api('GET', base)); } catch (e) { /* the socket will retry */ }
  }, 300);
}

async function act(path) {
  const error = document.getElementById('error');
  error.hidden = true;
  try { setTicket(await api('POST', `${base}/${path}`, {})); }
  catch (err) { error.textContent = errorText(err); error.hidden = false; }
}

document.getElementById('rejoin').addEventListener('click', () => act('rejoin'));
// Cancelling asks once; "keep my number" is the default and takes focus.
document.getElementById('cancel').addEventListener('click', () => {
  document.getElementById('cancel-confirm').hidden = false;
  document.getElementById('cancel').hidden = true;
  document.getElementById('cancel-keep').focus();
});
document.getElementById('cancel-keep').addEventListener('click', () => {
  document.getElementById('cancel-confirm').hidden = true;
  render();
  document.getElementById('cancel').focus();
});
document.getElementById('cancel-yes').addEventListener('click', async () => {
  document.getElementById('cancel-confirm').hidden = true;
  await act('cancel');
});

connect(`/ws/halls/${hall.id}/tickets/${data.ticket}`, {
  snapshot(snap) { setTicket(snap.ticket); },
  event(ev) {
    const d = ev.data || {};
    if (ev.own && d.ticket) {
      setTicket(d.ticket);
      if (d.ticket.status === 'waiting') refresh();
    } else if (ev.own && ev.type === 'rating.given') {
      rated = true; rating.thank();
    } else if (ticket && ticket.status === 'waiting' && d.ticket && d.ticket.queue === ticket.queue) {
      refresh();
    }
    // the server says whether a window serves the queue now (wait_reason): ask again
    if (ticket && ticket.status === 'waiting' && (ev.type === 'window.changed' || ev.type.startsWith('tide.'))) refresh();
  },
  refused() { document.getElementById('status').textContent = t('ticket.unknown'); },
});
