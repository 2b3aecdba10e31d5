// Booking page (预约, phone): matter → what to bring (一次性告知) → day → slot → name and
// phone or ID → the booking code and its QR. With a booking id (/h/<hall>/book/<id>) it
// shows that booking and lets its holder change or cancel it until the cut-off.
// Booking asks the server for a proof-of-work challenge and solves it here (sha256.js).
import { api, data, el, errorText, lang, name, t } from './common.js';
import { solve } from './sha256.js';

const hall = data.hall;
const base = `/api/halls/${hall.id}`;
const $ = (id) => document.getElementById(id);
const state = {matter: null, day: null, slot: null, booking: null, changing: false};
const weekdays = lang === 'en' ? ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']
  : ['', '周一', '周二', '周三', '周四', '周五', '周六', '周日'];

function showError(err) {
  $('error').textContent = err ? errorText(err) : '';
  $('error').hidden = !err;
  if (err) $('error').scrollIntoView({block: 'center'});
}

function show(id, on = true) { $(id).hidden = !on; }

function focusHeading(section) {
  const h = $(section).querySelector('h2');
  if (h) h.focus();
}

function matterName(code) { return name(hall.matters.find((m) => m.code === code)) || code; }

function dayLabel(iso) {
  const [y, m, d] = iso.split('-').map(Number);
  const wd = new Date(Date.UTC(y, m - 1, d)).getUTCDay() || 7;
  return lang === 'en' ? `${weekdays[wd]} ${d}/${m}` : `${m}月${d}日 ${weekdays[wd]}`;
}

function press(container, button) {
  for (const b of container.querySelectorAll('button')) b.setAttribute('aria-pressed', 'false');
  button.setAttribute('aria-pressed', 'true');
}

function renderMatters() {
  const list = hall.matters.filter((m) => m.bookable);
  $('matters').replaceChildren(...list.map((m) => el('li', {}, el('button', {
    type: 'button', 'data-matter': m.code, 'aria-pressed': 'false',
    onclick: (e) => { press($('matters'), e.currentTarget); chooseMatter(m); },
  }, name(m)))));
}

function chooseMatter(m) {
  state.matter = m.code;
  const docs = lang === 'en' && m.documents_en.length ? m.documents_en : m.documents_zh;
  $('docs-matter').textContent = name(m);
  $('docs').replaceChildren(...(docs.length ? docs : [t('book.no_documents')])
    .map((d) => el('li', {}, d)));
  $('notes').textContent = (lang === 'en' ? m.notes_en : m.notes_zh) || m.notes_zh || '';
  show('step-docs');
  show('step-remote', Boolean(data.booking.remote_queue));
  state.remote = false;
  loadDays();
}

// Save my spot (远程取号): today's number from the phone, then "I am here" in the hall.
function startRemote() {
  state.remote = true;
  show('step-day', false);
  show('step-slot', false);
  $('chosen').textContent = `${matterName(state.matter)} · ${t('remote.today')}`;
  show('step-who');
  focusHeading('step-who');
}

async function takeRemote(body) {
  const ticket = await api('POST', `${base}/remote-tickets`, body);
  for (const id of ['step-matter', 'step-docs', 'step-remote', 'step-day', 'step-slot', 'step-who']) show(id, false);
  $('remote-number').textContent = ticket.number;
  $('remote-ahead').textContent = t('checkin.ahead', {n: ticket.ahead ?? 0});
  $('remote-link').href = ticket.page;
  state.remoteTicket = ticket;
  show('remote-done');
  focusHeading('remote-done');
}

async function here() {
  showError(null);
  try {
    await api('POST', `${base}/tickets/${state.remoteTicket.id}/here`);
    show('remote-here', false);
    show('remote-present');
  } catch (err) { showError(err); }
}

async function loadDays() {
  showError(null);
  const cal = await api('GET', `${base}/calendar`);
  const horizon = data.booking.horizon_days;
  const days = cal.days.slice(0, horizon + 1);
  $('days').replaceChildren(...days.map((d) => {
    const closed = !d.periods.length;
    const holiday = lang === 'en' ? d.holiday_en : d.holiday_zh;
    return el('button', {
      type: 'button', 'data-day': d.day, disabled: closed, 'aria-pressed': 'false',
      onclick: (e) => { press($('days'), e.currentTarget); chooseDay(d.day); },
    }, dayLabel(d.day),
    holiday ? el('span', {class: 'b-holiday'}, holiday) : null,
    !holiday && d.makeup_workday ? el('span', {class: 'b-holiday'}, t('book.makeup_day')) : null,
    !holiday && closed ? el('span', {class: 'b-holiday'}, t('book.closed')) : null);
  }));
  // the citizen may have chosen "save my spot" while the calendar was loading: keep it
  if (state.remote) return;
  show('step-day');
  show('step-slot', false);
  show('step-who', false);
  focusHeading('step-day');
}

async function chooseDay(day) {
  state.day = day;
  showError(null);
  try {
    const listed = await api('GET', `${base}/appointments/slots?matter=${encodeURIComponent(state.matter)}&day=${day}`);
    const usable = listed.slots.filter((s) => s.capacity > 0);
    $('slots').replaceChildren(...(usable.length ? usable.map((s) => el('button', {
      type: 'button', 'data-slot': s.slot, disabled: !(s.open && s.free > 0), 'aria-pressed': 'false',
      onclick: (e) => { press($('slots'), e.currentTarget); chooseSlot(s); },
    }, s.time, el('span', {class: 'b-free'},
      s.open ? t('book.free', {n: s.free}) : t('book.not_open')))) : [el('p', {}, t('book.no_slots'))]));
    show('step-slot');
    focusHeading('step-slot');
  } catch (err) { showError(err); }
}

async function chooseSlot(s) {
  state.slot = s;
  if (state.changing) {
    await changeTo(s);
    return;
  }
  $('chosen').textContent = `${matterName(state.matter)} · ${dayLabel(state.day)} ${s.time}`;
  show('step-who');
  focusHeading('step-who');
}

async function submit(e) {
  e.preventDefault();
  showError(null);
  const body = {matter: state.matter, name: $('name').value.trim(), lang};
  if (!state.remote) { body.day = state.day; body.slot = state.slot.slot; }
  if ($('phone').value.trim()) body.phone = $('phone').value.trim();
  if ($('id_number').value.trim()) body.id_number = $('id_number').value.trim();
  $('submit').disabled = true;
  show('working');
  try {
    const {challenge, bits} = await api('GET', `${base}/appointments/challenge`);
    body.challenge = challenge;
    body.solution = await solve(challenge, bits);
    if (state.remote) {
      await takeRemote(body);
      return;
    }
    const booking = await api('POST', `${base}/appointments`, body);
    $('id_number').value = '';
    showBooking(booking, t('book.done'));
  } catch (err) {
    showError(err);
  } finally {
    $('submit').disabled = false;
    show('working', false);
  }
}

function showBooking(b, heading) {
  state.booking = b;
  state.matter = b.matter;
  state.changing = false;
  for (const id of ['step-matter', 'step-docs', 'step-day', 'step-slot', 'step-who']) show(id, false);
  const m = hall.matters.find((x) => x.code === b.matter);
  if (m) chooseMatterDocsOnly(m);
  $('h-done').textContent = heading || t(`book.status.${b.status}`);
  $('code').textContent = b.code;
  $('qr').src = b.qr;
  const day = `${b.day.slice(0, 4)}-${b.day.slice(4, 6)}-${b.day.slice(6)}`;
  $('when').textContent = `${matterName(b.matter)} · ${dayLabel(day)} ${b.slot.slice(0, 2)}:${b.slot.slice(2)}`;
  $('who').textContent = [b.name, b.phone, b.id_number].filter(Boolean).join(' · ');
  $('checkin-hint').textContent = t('book.checkin_hint', {
    before: data.booking.checkin_before_minutes, after: data.booking.checkin_after_minutes});
  const link = new URL(b.page, location.href).href;
  $('link').href = link;
  $('link').textContent = link;
  const open = b.status === 'booked';
  show('change', open);
  show('cancel', open);
  show('done');
  if (!location.pathname.endsWith(b.id)) history.replaceState(null, '', b.page + location.search);
  focusHeading('done');
}

function chooseMatterDocsOnly(m) {
  const docs = lang === 'en' && m.documents_en.length ? m.documents_en : m.documents_zh;
  $('docs-matter').textContent = name(m);
  $('docs').replaceChildren(...(docs.length ? docs : [t('book.no_documents')]).map((d) => el('li', {}, d)));
  $('notes').textContent = (lang === 'en' ? m.notes_en : m.notes_zh) || m.notes_zh || '';
  show('step-docs');
}

async function changeTo(s) {
  showError(null);
  try {
    const b = await api('POST', `${base}/appointments/${state.booking.id}/change`,
      {day: state.day, slot: s.slot});
    showBooking(b, t('book.changed'));
  } catch (err) { showError(err); }
}

async function cancel() {
  if (!confirm(t('book.cancel_question'))) return;
  showError(null);
  try {
    const b = await api('POST', `${base}/appointments/${state.booking.id}/cancel`);
    showBooking(b, t('book.status.cancelled'));
  } catch (err) { showError(err); }
}

$('step-who').addEventListener('submit', submit);
$('change').addEventListener('click', () => {
  state.changing = true;
  show('done', false);
  loadDays();
});
$('cancel').addEventListener('click', cancel);
$('remote-start').addEventListener('click', startRemote);
$('remote-here').addEventListener('click', here);

if (data.booking_id) {
  api('GET', `${base}/appointments/${data.booking_id}`).then((b) => showBooking(b)).catch(showError);
} else {
  renderMatters();
}
