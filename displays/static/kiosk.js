// Kiosk (取号机): matters grouped by life event or department, an optional green channel,
// then the ticket with people ahead, estimated wait, a QR code and an 80 mm print layout.
// The device token comes once as ?device=…, is kept in localStorage and removed from the URL.
import { api, data, el, errorText, hallTime, name, t } from './common.js';

const hall = data.hall;
const tokenKey = `hall_kiosk_token:${hall.id}`;
const params = new URLSearchParams(location.search);
if (params.get('device')) {
  localStorage.setItem(tokenKey, params.get('device'));
  params.delete('device');
  history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}`);
}
const token = localStorage.getItem(tokenKey);
let grouping = 'life_event';
let green = null;
let resetTimer = null;

function showError(text) {
  const box = document.getElementById('error');
  box.textContent = text || '';
  box.hidden = !text;
}

function renderGreen() {
  const box = document.getElementById('green');
  const options = [{code: null, name_zh: t('kiosk.green_none'), name_en: t('kiosk.green_none')},
                   ...hall.priority_groups];
  box.replaceChildren(
    el('div', {class: 'green-label'}, t('kiosk.green')),
    el('div', {class: 'green-options'}, options.map((g) => el('button', {
      class: `chip${green === g.code ? ' selected' : ''}`, 'data-priority': g.code || 'none',
      'aria-pressed': String(green === g.code),
      onclick: () => { green = g.code; renderGreen(); },
    }, name(g)))));
  if (!hall.priority_groups.length) box.hidden = true;
}

function renderGroups() {
  const groups = new Map();
  for (const m of hall.matters) {
    const key = m[grouping] || '—';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(m);
  }
  document.getElementById('groups').replaceChildren(...[...groups].map(([title, matters]) =>
    el('div', {class: 'group'}, el('h3', {}, title),
      el('div', {class: 'matters'}, matters.map((m) => el('button', {
        class: 'matter', 'data-matter': m.code, onclick: () => take(m),
      }, name(m)))))));
  for (const tab of document.querySelectorAll('.tab')) {
    tab.classList.toggle('active', tab.dataset.group === grouping);
  }
}

async function take(matter) {
  showError('');
  if (!token) { showError(t('kiosk.no_device')); return; }
  try {
    const ticket = await api('POST', `/api/halls/${hall.id}/tickets`,
      {matter: matter.code, ...(green ? {priority_group: green} : {})}, token);
    showTicket(ticket, matter);
  } catch (err) {
    showError(errorText(err));
  }
}

function showTicket(ticket, matter) {
  document.getElementById('choose').hidden = true;
  const box = document.getElementById('issued');
  box.hidden = false;
  box.dataset.ticketId = ticket.id;
  document.getElementById('t-number').textContent = ticket.number;
  document.getElementById('t-matter').textContent = name(matter);
  document.getElementById('t-ahead').textContent = t('kiosk.ahead', {n: ticket.ahead ?? 0});
  document.getElementById('t-wait').textContent = t('kiosk.wait',
    {m: Math.max(1, Math.round(ticket.estimated_wait_minutes ?? 0))});
  document.getElementById('t-qr').src = `/h/${hall.id}/t/${ticket.id}/qr.svg`;
  document.getElementById('t-time').textContent = t('kiosk.issued_at_time', {time: hallTime(ticket.issued_at ?? Date.now() / 1000,
    {year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'})});
  clearTimeout(resetTimer);
  resetTimer = setTimeout(reset, 60000);
}

function reset() {
  green = null;
  document.getElementById('issued').hidden = true;
  document.getElementById('choose').hidden = false;
  renderGreen();
}

for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => { grouping = tab.dataset.group; renderGroups(); });
}
document.getElementById('print').addEventListener('click', () => window.print());
document.getElementById('done').addEventListener('click', reset);
if (!token) showError(t('kiosk.no_device'));
renderGreen();
renderGroups();
