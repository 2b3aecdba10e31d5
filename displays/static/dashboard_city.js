// The city and provincial views: totals per city over every hall the manager may see, and
// the halls a page at a time (a province has 20,000); refreshed every 10 s.
import { api, el, name, t } from './common.js';

const LIMIT = 50;
let offset = 0;
let region = '';
let next = null;

async function refresh() {
  const query = new URLSearchParams({offset: String(offset), limit: String(LIMIT)});
  if (region) query.set('region', region);
  const page = await api('GET', `/api/city?${query}`);
  next = page.next_offset;
  document.getElementById('regions').replaceChildren(
    el('tr', {'data-region': ''}, el('td', {}, el('button', {type: 'button', class: 'link',
      onclick: () => choose('')}, t('dash.all_regions'))), el('td', {}, ''), el('td', {}, ''),
      el('td', {}, '')),
    ...Object.entries(page.regions).map(([code, r]) => el('tr', {'data-region': code},
      el('td', {}, el('button', {type: 'button', class: 'link', onclick: () => choose(code)},
        code || '—')),
      el('td', {class: 'num'}, r.halls),
      el('td', {class: r.waiting ? 'num hot' : 'num'}, r.waiting),
      el('td', {class: 'num'}, r.issued_today))));
  document.getElementById('halls').replaceChildren(...page.halls.map((h) => el('tr', {'data-hall': h.id},
    el('td', {}, el('a', {href: `/h/${h.id}/dashboard`}, name(h))),
    el('td', {class: h.waiting ? 'num hot' : 'num'}, h.waiting),
    el('td', {class: 'num'}, `${h.open_windows}/${h.windows}`),
    el('td', {class: 'num'}, h.busy_windows),
    el('td', {class: 'num'}, h.issued_today),
    el('td', {class: 'num'}, h.open_cases),
    el('td', {class: h.overdue_cases ? 'num bad' : 'num'}, h.overdue_cases))));
  document.getElementById('page').textContent = t('dash.page', {
    first: page.total ? offset + 1 : 0, last: offset + page.halls.length, total: page.total});
  document.getElementById('prev').disabled = offset === 0;
  document.getElementById('next').disabled = next === null;
}

function choose(code) {
  region = code;
  offset = 0;
  refresh();
}

document.getElementById('prev').addEventListener('click', () => {
  offset = Math.max(0, offset - LIMIT);
  refresh();
});
document.getElementById('next').addEventListener('click', () => {
  if (next !== null) offset = next;
  refresh();
});
refresh();
setInterval(refresh, 10000);
