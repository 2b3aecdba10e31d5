// Check-in (预约签到) at the kiosk: scan the booking QR (a scanner types the code and Enter),
// type the code, or enter the ID card number. On time → an appointment ticket called near
// the booked time; too late → an ordinary ticket. The device token is the kiosk's.
import { api, data, el, errorText, lang, name, t } from './common.js';

const hall = data.hall;
const tokenKey = `hall_kiosk_token:${hall.id}`;
const params = new URLSearchParams(location.search);
if (params.get('device')) {
  localStorage.setItem(tokenKey, params.get('device'));
  params.delete('device');
  history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}`);
}
const token = localStorage.getItem(tokenKey);
const $ = (id) => document.getElementById(id);
const RESET_MS = (hall.kiosk_reset_seconds || 20) * 1000;
let resetTimer = null;

function showError(err) {
  $('error').textContent = err ? errorText(err) : '';
  $('error').hidden = !err;
}

function reset() {
  clearTimeout(resetTimer);
  $('code').value = '';
  $('id_number').value = '';
  $('issued').hidden = true;
  $('ask').hidden = false;
  showError(null);
  $('code').focus();
}

async function submit(e) {
  e.preventDefault();
  showError(null);
  const body = {};
  if ($('code').value.trim()) body.code = $('code').value.trim();
  else if ($('id_number').value.trim()) body.id_number = $('id_number').value.trim();
  else { showError({code: 'identity_required'}); return; }
  $('go').disabled = true;
  try {
    const result = await api('POST', `/api/halls/${hall.id}/checkin`, body, token);
    $('id_number').value = '';
    const ticket = result.ticket;
    const matter = data.matters.find((m) => m.code === ticket.matter);
    $('t-label').textContent = result.late ? t('checkin.late') : t('checkin.done');
    $('t-number').textContent = ticket.number;
    $('t-matter').textContent = matter ? name(matter) : ticket.matter;
    $('t-ahead').textContent = t('checkin.ahead', {n: ticket.ahead ?? 0});
    const docs = matter ? (lang === 'en' && matter.documents_en.length ? matter.documents_en : matter.documents_zh) : [];
    $('t-docs').replaceChildren(...(docs.length ? [el('div', {}, t('book.documents')),
      el('ul', {}, docs.map((d) => el('li', {}, d)))] : []));
    $('t-qr').src = `/h/${hall.id}/t/${ticket.id}/qr.svg`;
    $('ask').hidden = true;
    $('issued').hidden = false;
    $('t-label').focus();
    resetTimer = setTimeout(reset, RESET_MS);
  } catch (err) {
    showError(err);
  } finally {
    $('go').disabled = false;
  }
}

$('ask').addEventListener('submit', submit);
$('done').addEventListener('click', reset);
$('print').addEventListener('click', () => window.print());
if (!token) showError({code: 'unauthorized'});
$('code').focus();
