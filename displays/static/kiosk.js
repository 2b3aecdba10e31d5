// Kiosk (取号机): matters grouped by life event or department, an optional green channel,
// then the ticket with people ahead, estimated wait, a QR code and an 80 mm print layout.
// The device token and the reset timer are kiosk_device.js's: the ticket (whose QR link can
// cancel it) leaves the screen after the hall's kiosk_reset_seconds or at the next touch,
// and a half-made choice resets too.
// Keyboard: every choice keeps focus; the issued number is announced through a live region.
import { api, data, el, errorText, hallTime, lang, name, proper, t } from './common.js';
import { RESET_MS, deviceToken, resetTimer } from './kiosk_device.js';

const hall = data.hall;
const TOUCH_GRACE_MS = 1500;  // the tap that took the ticket must not also clear it
const token = deviceToken(hall.id);
const $ = (id) => document.getElementById(id);
const timer = resetTimer(reset);
let grouping = 'life_event';
let green = null;
let shownAt = 0;
let busy = false;
// Identity at the kiosk (optional per hall): the ID number goes with the ticket request only
// (the server keeps a keyed hash for the day's limit), and leaves the field at once.
const identity = (data.booking && data.booking.kiosk_identity) || 'off';

function renderIdentity() {
  if (identity === 'off') return;
  $('id-label').textContent = t(identity === 'required' ? 'kiosk.id_number_required' : 'kiosk.id_number');
  $('id-hint').textContent = t('kiosk.id_hint', {n: data.booking.kiosk_tickets_per_day_per_matter,
    age: data.booking.green_channel_age});
  $('kiosk-id').hidden = false;
}

function showError(text) {
  $('error').textContent = text || '';
  $('error').hidden = !text;
}

// Group headings come from the hall file in Chinese; the catalogue names them in English.
function groupTitle(title) {
  const key = `group.${title}`;
  const text = t(key);
  return text === key ? title : text;
}

function renderGreen() {
  const box = $('green');
  const options = [{code: null, name_zh: t('kiosk.green_none'), name_en: t('kiosk.green_none')},
                   ...hall.priority_groups];
  box.replaceChildren(
    el('div', {class: 'green-label', id: 'green-label'}, t('kiosk.green')),
    el('div', {class: 'green-options'}, options.map((g) => el('button', {
      type: 'button', class: 'chip', 'data-priority': g.code || 'none',
      'aria-pressed': 'false', onclick: () => { green = g.code; markGreen(); armIdle(); },
    }, el('span', {class: 'chip-mark', 'aria-hidden': 'true'}, '✓'), name(g)))));
  markGreen();
  if (!hall.priority_groups.length) box.hidden = true;
}

// Update the chosen chip in place, so keyboard focus stays on the button just pressed.
function markGreen() {
  for (const chip of $('green').querySelectorAll('.chip')) {
    const on = (chip.dataset.priority === 'none' ? null : chip.dataset.priority) === green;
    chip.classList.toggle('selected', on);
    chip.setAttribute('aria-pressed', String(on));
  }
}

function renderGroups() {
  const groups = new Map();
  for (const m of hall.matters) {
    const key = m[grouping] || '—';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(m);
  }
  $('groups').replaceChildren(...[...groups].map(([title, matters]) =>
    el('div', {class: 'group'}, el('h3', {}, groupTitle(title)),
      el('div', {class: 'matters'}, matters.map((m) => el('button', {
        type: 'button', class: 'matter', 'data-matter': m.code, onclick: () => take(m),
      }, name(m), bring(m)))))));
  $('groups').setAttribute('aria-labelledby', `tab-${grouping}`);
  $('groups').scrollTop = 0;
  for (const tab of document.querySelectorAll('.tab')) {
    const on = tab.dataset.group === grouping;
    tab.classList.toggle('active', on);
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
  }
  hint();
}

// 一次性告知 before the ticket is taken: what to bring, under the matter's name (the full
// list is on the slip and the ticket page).
function documentsOf(matter) {
  return (lang === 'en' && matter.documents_en && matter.documents_en.length)
    ? matter.documents_en : (matter.documents_zh || []);
}

function bring(matter) {
  const docs = documentsOf(matter);
  if (!docs.length) return null;
  return el('span', {class: 'matter-docs', 'data-testid': 'matter-documents'},
    t('kiosk.bring'), proper(docs.join(lang === 'en' ? '; ' : '、')));
}

// "More below" while the list runs past the screen.
function hint() {
  const box = $('groups');
  $('more-hint').hidden = box.scrollHeight - box.scrollTop - box.clientHeight < 8;
}

async function take(matter) {
  showError('');
  if (!token) { showError(t('kiosk.no_device')); return; }
  if (busy) return;
  const idNumber = identity === 'off' ? '' : $('id_number').value.trim();
  if (identity === 'required' && !idNumber) { showError(t('kiosk.id_required')); $('id_number').focus(); return; }
  busy = true;
  try {
    const ticket = await api('POST', `/api/halls/${hall.id}/tickets`,
      {matter: matter.code, ...(green ? {priority_group: green} : {}),
       ...(idNumber ? {id_number: idNumber} : {})}, token);
    $('id_number').value = '';
    showTicket(ticket, matter);
  } catch (err) {
    showError(errorText(err));
  } finally {
    busy = false;
  }
}

function showTicket(ticket, matter) {
  $('choose').hidden = true;
  const box = $('issued');
  box.hidden = false;
  box.dataset.ticketId = ticket.id;
  $('t-number').textContent = ticket.number;
  $('t-matter').textContent = name(matter);
  const ahead = t('kiosk.ahead', {n: ticket.ahead ?? 0});
  // No window open for this queue now: say so, never "about 1 min".
  const wait = ticket.estimated_wait_minutes == null ? t('kiosk.no_window_open')
    : t('kiosk.wait', {m: Math.max(1, Math.round(ticket.estimated_wait_minutes))});
  $('t-ahead').textContent = ahead;
  $('t-wait').textContent = wait;
  // 一次性告知: what to bring, on the screen and the printed slip
  const docs = documentsOf(matter);
  $('t-docs').replaceChildren(...(docs.length ? [el('div', {class: 'tp-docs-title'}, t('book.documents')),
    el('ul', {}, docs.map((d) => el('li', {}, d)))] : []));
  $('t-qr').src = `/h/${hall.id}/t/${ticket.id}/qr.svg`;
  $('t-time').textContent = t('kiosk.issued_at_time', {time: hallTime(ticket.issued_at ?? Date.now() / 1000,
    {year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'})});
  $('t-reset').textContent = t('kiosk.reset_note', {s: Math.round(RESET_MS / 1000)});
  $('announce').textContent = t('kiosk.announce', {number: ticket.number, ahead, wait});
  $('t-label').focus();
  shownAt = Date.now();
  timer.arm();
}

// Back to the start screen with nothing of the last citizen left.
function reset() {
  timer.cancel();
  const hadTicket = !$('issued').hidden;
  green = null;
  grouping = 'life_event';
  $('id_number').value = '';
  $('issued').hidden = true;
  delete $('issued').dataset.ticketId;
  for (const id of ['t-number', 't-matter', 't-ahead', 't-wait', 't-time', 'announce', 't-docs']) $(id).textContent = '';
  $('t-qr').removeAttribute('src');
  $('choose').hidden = false;
  showError(token ? '' : t('kiosk.no_device'));
  markGreen();
  renderGroups();
  if (hadTicket) $('choose-title').focus();
}

// A half-made choice (a green channel picked, the other tab) is forgotten when idle.
function armIdle() {
  if (!$('issued').hidden) return;
  timer.arm();
}

for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => { grouping = tab.dataset.group; renderGroups(); armIdle(); });
  tab.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    const tabs = [...document.querySelectorAll('.tab')];
    const next = tabs[(tabs.indexOf(tab) + 1) % tabs.length];
    next.focus();
    next.click();
  });
}
$('groups').addEventListener('scroll', hint, {passive: true});
window.addEventListener('resize', hint);
$('print').addEventListener('click', () => { window.print(); });
$('done').addEventListener('click', reset);
// The next touch after a ticket (not its print button) starts afresh for the next citizen.
document.addEventListener('pointerdown', (e) => {
  if ($('issued').hidden || Date.now() - shownAt < TOUCH_GRACE_MS) return;
  if (e.target.closest('#print, #done')) return;
  reset();
}, true);
document.addEventListener('keydown', () => { if (!$('issued').hidden) timer.arm(); else if (green !== null || grouping !== 'life_event') armIdle(); });
// an ID number typed and left on the screen is forgotten like a half-made choice
$('id_number').addEventListener('input', armIdle);
if (!token) showError(t('kiosk.no_device'));
document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
renderIdentity();
renderGreen();
renderGroups();
