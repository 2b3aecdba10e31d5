// Check-in (预约签到) at the kiosk: scan the booking QR (a scanner types the code and Enter),
// type the code, or enter the ID card number. On time → an appointment ticket called near
// the booked time; too late → an ordinary ticket. The device token is the kiosk's.
import { api, data, el, errorText, lang, name, t } from './common.js';
import { deviceToken, resetTimer } from './kiosk_device.js';

const hall = data.hall;
const token = deviceToken(hall.id);
const $ = (id) => document.getElementById(id);
const timer = resetTimer(reset);

function showError(err) {
  $('error').textContent = err ? errorText(err) : '';
  $('error').hidden = !err;
}

function reset() {
  timer.cancel();
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
    const matter = hall.matters.find((m) => m.code === ticket.matter);
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
    timer.arm();
  } catch (err) {
    showError(err);
  } finally {
    $('go').disabled = false;
  }
}

$('ask').addEventListener('submit', submit);
// a code or an ID number typed and left on the screen is forgotten too
$('ask').addEventListener('input', () => timer.arm());
$('done').addEventListener('click', reset);
$('print').addEventListener('click', () => window.print());
if (!token) showError({code: 'unauthorized'});
$('code').focus();
