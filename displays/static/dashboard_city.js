// The city view: every hall the manager may see, with its load; refreshed every 10 s.
import { api, el, name } from './common.js';

async function refresh() {
  const {halls} = await api('GET', '/api/city');
  document.getElementById('halls').replaceChildren(...halls.map((h) => el('tr', {'data-hall': h.id},
    el('td', {}, el('a', {href: `/h/${h.id}/dashboard`}, name(h))),
    el('td', {class: h.waiting ? 'num hot' : 'num'}, h.waiting),
    el('td', {class: 'num'}, `${h.open_windows}/${h.windows}`),
    el('td', {class: 'num'}, h.busy_windows),
    el('td', {class: 'num'}, h.issued_today),
    el('td', {class: 'num'}, h.open_cases),
    el('td', {class: h.overdue_cases ? 'num bad' : 'num'}, h.overdue_cases))));
}

refresh();
setInterval(refresh, 10000);
