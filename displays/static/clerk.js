// Clerk console: log in, sign in at a window, then every window action by button or key
// (N call next, R recall, S start, F finish, X no-show, T transfer, G call a number,
// P pause/resume, C close, L sign out). A refused action shows the API's message plainly.
import { ApiError, api, data, el, errorText, name, proper, queueName, t, windowName } from './common.js';
import { connect } from './hub.js';

const hall = data.hall;
const windowKey = `hall_clerk_window:${hall.id}`;
let me = null;
let windowNo = null;
let win = null;
let waiting = {};

const $ = (id) => document.getElementById(id);

function refused(err, context = {}) {
  const box = $('refused');
  if (!err) { box.hidden = true; return; }
  const who = me ? (me.display_name || me.name) : '';
  box.textContent = err.code === 'nobody' ? t('clerk.nobody')
    : err.code === 'no_rostered_window' ? t('clerk.no_rostered_window')
    : errorText(err, {window: windowNo ?? '', name: who, ...context});
  box.dataset.code = err.code || '';
  box.hidden = false;
}

// Show one part of the console and put keyboard focus on its first control.
function show(section) {
  for (const id of ['login', 'pick', 'console']) $(id).hidden = id !== section;
  const first = {login: 'input[name=username]', pick: '#window-select',
    console: '#actions button[data-action=call-next]'}[section];
  const target = $(section).querySelector(first);
  if (target && !target.contains(document.activeElement)) target.focus();
}

async function start() {
  try { me = (await api('GET', '/api/me')).user; } catch (e) { me = null; }
  if (!me || me.role !== 'clerk') { show('login'); return; }
  $('who').replaceChildren(proper(me.display_name || me.name), me.staff_id ? ` (${me.staff_id})` : '');
  // Only the windows this clerk is rostered for are offered (the server checks it again).
  let mine = hall.windows.map((w) => w.number);
  try { mine = (await api('GET', `/api/halls/${hall.id}/my-windows`)).windows; } catch (e) { /* all */ }
  const select = $('window-select');
  select.replaceChildren(...hall.windows.filter((w) => mine.includes(w.number))
    .map((w) => el('option', {value: w.number}, `${t('window.number', {n: w.number})} · ${name(w)}`)));
  $('pick').querySelector('button[type=submit]').disabled = !mine.length;
  if (!mine.length) refused(new ApiError(403, 'no_rostered_window', ''));
  let saved = Number(new URLSearchParams(location.search).get('window') || localStorage.getItem(windowKey));
  if (!mine.includes(saved)) saved = 0;
  if (saved) select.value = String(saved);
  if (saved) {
    try {
      const w = await api('GET', `/api/halls/${hall.id}/windows/${saved}`);
      if (w.clerk === me.staff_id) { enter(saved, w); return; }
    } catch (e) { /* pick again */ }
  }
  show('pick');
}

function enter(number, w) {
  windowNo = number;
  localStorage.setItem(windowKey, String(number));
  show('console');
  $('cur-window').textContent = `${t('window.number', {n: number})} · ${windowName(hall, number)}`;
  setWindow(w);
  fillTransfer();
}

function setWindow(w) {
  win = w;
  const ticket = w.ticket || null;
  $('cur-number').textContent = ticket ? ticket.number : '—';
  $('cur-number').dataset.status = ticket ? ticket.status : '';
  $('cur-detail').textContent = ticket
    ? `${t(`status.${ticket.status}`)} · ${name(hall.matters.find((m) => m.code === ticket.matter))}`
    : t(`status.${w.status}`);
  $('cur-history').replaceChildren(...(ticket && ticket.history ? ticket.history : [])
    .filter((s) => s.note).map((s) => el('li', {class: 'note'},
      `${t('window.number', {n: s.window})}: ${s.note}`)));
  $('pause-btn').firstChild.textContent = w.status === 'paused' ? `${t('clerk.resume')} ` : `${t('clerk.pause')} `;
  renderQueues();
}

function renderQueues() {
  const served = (win && win.queues) || [];
  $('queues').replaceChildren(...served.map((q) => el('li', {'data-queue': q},
    el('b', {}, q), ` ${queueName(hall, q)} `, el('span', {class: 'count'}, waiting[q] ?? 0))));
}

function fillTransfer() {
  $('transfer-queue').replaceChildren(el('option', {value: ''}, '—'),
    ...hall.queues.map((q) => el('option', {value: q.letter}, `${q.letter} · ${name(q)}`)));
  $('transfer-window').replaceChildren(el('option', {value: ''}, '—'),
    ...hall.windows.filter((w) => w.number !== windowNo)
      .map((w) => el('option', {value: w.number}, `${w.number} · ${name(w)}`)));
}

let full = null;  // the full ticket from the last action's answer: it has the history/notes

async function reload() {
  const w = await api('GET', `/api/halls/${hall.id}/windows/${windowNo}`);
  if (w.ticket && full && full.number === w.ticket.number) w.ticket = {...w.ticket, history: full.history};
  setWindow(w);
}

async function post(action, body = {}) {
  refused(null);
  try {
    const res = await api('POST', `/api/halls/${hall.id}/windows/${windowNo}/${action}`, body);
    if (action === 'call-next' && res.ticket === null) refused(new ApiError(200, 'nobody', t('clerk.nobody')));
    if (action === 'logout') { localStorage.removeItem(windowKey); show('pick'); return; }
    if (res && res.ticket && res.ticket.window === windowNo) full = res.ticket;
    await reload();
  } catch (err) {
    refused(err);
  }
}

// One action at a time, in the order the clerk gave them: a key pressed before the last
// action's answer waits for it (and for the window state it brings back), so "pause, then
// call next" reaches the server in that order and the pause key toggles the real state.
let acting = Promise.resolve();
function act(action) {
  acting = acting.then(() => runAction(action), () => runAction(action));
  return acting;
}

async function runAction(action) {
  if (!windowNo || $('console').hidden) return;
  if (action === 'transfer') { $('transfer-dialog').showModal(); return; }
  if (action === 'call') { $('call-dialog').showModal(); $('call-form').number.focus(); return; }
  if (action === 'pause') { await post(win && win.status === 'paused' ? 'resume' : 'pause'); return; }
  await post(action);
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  refused(null);
  const form = e.target;
  try {
    await api('POST', '/api/login', {username: form.username.value, password: form.password.value});
    await start();
  } catch (err) { refused(err); }
});

$('pick').addEventListener('submit', async (e) => {
  e.preventDefault();
  refused(null);
  const number = Number($('window-select').value);
  try {
    const w = await api('POST', `/api/halls/${hall.id}/windows/${number}/login`, {});
    enter(number, w);
    await reload();
  } catch (err) { refused(err, {window: number}); }
});

// Enter on the window list signs in, as in the other forms.
$('window-select').addEventListener('keydown', (e) => {
  if (e.key === 'Enter') { e.preventDefault(); $('pick').requestSubmit(); }
});

$('logout').addEventListener('click', async () => {
  await api('POST', '/api/logout', {}).catch(() => null);
  show('login');
});

$('transfer-dialog').addEventListener('close', async () => {
  const form = $('transfer-form');
  if ($('transfer-dialog').returnValue !== 'ok') return;
  const body = {};
  if (form.window.value) body.window = Number(form.window.value);
  else if (form.queue.value) body.queue = form.queue.value;
  if (form.note.value.trim()) body.note = form.note.value.trim();
  form.reset();
  await post('transfer', body);
});

$('call-dialog').addEventListener('close', async () => {
  const form = $('call-form');
  if ($('call-dialog').returnValue !== 'ok') return;
  const number = form.number.value.trim().toUpperCase();
  const reason = form.reason.value.trim();
  form.reset();
  if (number) await post('call', {number, reason});
});

for (const button of document.querySelectorAll('#actions button')) {
  button.addEventListener('click', () => act(button.dataset.action));
}

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.altKey || e.metaKey) return;
  if (e.target.closest('input, textarea, select, dialog')) return;
  const button = document.querySelector(`#actions button[data-key="${e.key.toLowerCase()}"]`);
  if (button) { e.preventDefault(); act(button.dataset.action); }
});

connect(`/ws/halls/${hall.id}`, {
  snapshot(snap) { waiting = snap.waiting; renderQueues(); },
  waiting(counts) { waiting = counts; renderQueues(); },
  event(ev) {
    const d = ev.data || {};
    const number = d.window && typeof d.window === 'object' ? d.window.number : null;
    if (windowNo && number === windowNo && !$('console').hidden) reload().catch(() => null);
  },
});

start();
