// The manager's dashboard: live over the hall's event hub, re-reading its JSON on each event.
// Alerts come with the moment they start (some in the future: a wait passing the target), so
// the page shows each one the second it holds, using the server's clock.
import { api, data, el, errorText, lang, name, proper, t } from './common.js';
import { connect } from './hub.js';
import { bars, line, quarterLabels } from './dashboard_charts.js';

const hall = data.hall;
const base = `/api/halls/${hall.id}`;
const LEVELS_EN = {very_satisfied: 'very satisfied', satisfied: 'satisfied',
  basically_satisfied: 'basically satisfied', dissatisfied: 'dissatisfied',
  very_dissatisfied: 'very dissatisfied'};
let live = null;
let offset = 0;  // server clock minus this browser's clock, in seconds
const $ = (id) => document.getElementById(id);
const minutes = (s) => (s === null || s === undefined ? '—' : (s / 60).toFixed(1));
const pct = (x) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)}%`);
const levelName = (lv) => (lang === 'en' ? LEVELS_EN[lv] : data.levels[lv]) || lv;
const queueName = (letter) => name(hall.queues.find((q) => q.letter === letter)) || letter;
const serverNow = () => Date.now() / 1000 + offset;
const locale = lang === 'en' ? 'en' : 'zh-CN';
const hallTime = {timeZone: data.timezone};  // times as the hall sees them
const at = (seconds) => new Date(seconds * 1000).toLocaleString(locale, hallTime);
const clockAt = (seconds) => new Date(seconds * 1000).toLocaleTimeString(locale, hallTime);

function debounce(fn, ms) {
  let timer = null;
  return () => { if (!timer) timer = setTimeout(() => { timer = null; fn(); }, ms); };
}

async function refreshLive() {
  try {
    live = await api('GET', `${base}/dashboard`);
  } catch (err) {
    if (err.status === 401 || err.status === 403) location.reload();
    return;
  }
  offset = live.now - Date.now() / 1000;
  renderQueues();
  renderWindows();
  renderCases();
  renderAlerts();
}

function renderQueues() {
  $('queues').replaceChildren(...live.queues.map((q) => el('tr', {'data-queue': q.letter},
    el('td', {}, `${q.letter} ${name(q)}`),
    el('td', {class: q.waiting ? 'num hot' : 'num'}, q.waiting),
    el('td', {class: q.longest_wait_minutes > live.wait_target_minutes ? 'num bad' : 'num'},
       q.longest_wait_minutes),
    el('td', {class: 'num'}, q.predicted_wait_minutes))));
}

let todayWindows = {};
function renderWindows() {
  $('windows').replaceChildren(...live.windows.map((w) => {
    const mine = todayWindows[String(w.number)] || {};
    return el('tr', {'data-window': w.number, class: `st-${w.status}`},
      el('td', {}, `${w.number} ${name(w)}`),
      el('td', {}, t(`dash.status.${w.status}`)),
      el('td', {}, w.clerk_name ? [proper(w.clerk_name), ` ${w.clerk_staff_number || ''}`] : '—'),
      el('td', {}, w.current_number || '—'),
      el('td', {class: 'num'}, mine.served ?? 0),
      el('td', {class: 'num'}, minutes(mine.service_mean_s)),
      el('td', {class: 'actions'}, ...windowActions(w)));
  }));
}

function windowActions(w) {
  const actions = {open: ['pause', 'close'], paused: ['resume', 'close']}[w.status] || [];
  return actions.map((action) => el('button', {class: 'secondary small', 'data-action': action,
    onclick: async () => {
      try { await api('POST', `${base}/windows/${w.number}/${action}`); } catch (err) { alert(errorText(err, {window: w.number})); }
      refreshLive();
    }}, t(`dash.action.${action}`)));
}

function alertText(a) {
  return t(`dash.alert.${a.kind}`, {queue: a.queue ? `${a.queue} ${queueName(a.queue)}` : '',
    window: a.window ?? '', number: a.number ?? '', minutes: a.minutes ?? '',
    level: a.level ? levelName(a.level) : ''});
}

function renderAlerts() {
  if (!live) return;
  const now = serverNow();
  const active = live.alerts.filter((a) => a.since <= now && (a.until === null || now < a.until));
  $('alerts').replaceChildren(...active.map((a) => el('li',
    {class: `alert alert-${a.kind}`, 'data-kind': a.kind, 'data-key': a.key}, alertText(a))));
  $('alert-count').textContent = active.length;
  $('no-alerts').hidden = active.length > 0;
}

function renderCases() {
  const c = live.cases;
  $('case-counts').textContent = t('dash.case_counts', c);
  $('cases').replaceChildren(...c.items.map(caseCard));
}

function caseCard(c) {
  const reasonable = el('select', {name: 'reasonable', 'aria-label': t('dash.judgement')},
    el('option', {value: ''}, t('dash.undecided')),
    el('option', {value: 'true', selected: c.reasonable === true}, t('dash.reasonable')),
    el('option', {value: 'false', selected: c.reasonable === false}, t('dash.unreasonable')));
  const rect = el('textarea', {name: 'rectification', rows: 2, placeholder: t('dash.rectification'),
    'aria-label': t('dash.rectification')});
  rect.value = c.rectification || '';
  const reply = el('textarea', {name: 'reply', rows: 2, placeholder: t('dash.reply'),
    'aria-label': t('dash.reply')});
  reply.value = c.reply || '';
  const error = el('div', {class: 'form-error', role: 'alert', hidden: true});
  const form = el('form', {class: 'case-form', onsubmit: async (e) => {
    e.preventDefault();
    const body = {};
    if (reasonable.value) body.reasonable = reasonable.value === 'true';
    if (rect.value.trim() && rect.value !== c.rectification) body.rectification = rect.value;
    if (reply.value.trim() && reply.value !== c.reply) body.reply = reply.value;
    try {
      await api('POST', `${base}/cases/${encodeURIComponent(c.ticket)}`, body);
      refreshLive();
      refreshToday();
    } catch (err) { error.textContent = errorText(err); error.hidden = false; }
  }}, reasonable, rect, reply, el('button', {type: 'submit'}, t('dash.save')), error);
  const deadline = at(c.deadline);
  return el('div', {class: `case case-${c.status}`, 'data-ticket': c.ticket, 'data-status': c.status},
    el('div', {class: 'case-head'}, `${c.number} · ${levelName(c.level)} · ${t('dash.window')} ${c.window ?? '—'} · `, proper(c.clerk_name || '—'),
       // 首问负责: the first clerk who took the ticket answers for it too
       c.first_clerk_name && c.first_clerk_name !== c.clerk_name
         ? [` · ${t('dash.first_clerk')} `, proper(c.first_clerk_name)] : null,
       el('span', {class: 'case-status'}, ` ${t(`dash.case.${c.status}`)} · ${t('dash.deadline')} ${deadline}`)),
    c.comment ? el('blockquote', {}, proper(c.comment)) : null, form);  // the citizen's own words
}

let today = null;
async function refreshToday() {
  try { today = await api('GET', `${base}/dashboard/today`); } catch (err) { return; }
  todayWindows = today.windows;
  if (!$('report-from').value) {  // the hall's local day, not this browser's
    const day = `${today.day.slice(0, 4)}-${today.day.slice(4, 6)}-${today.day.slice(6)}`;
    $('report-from').value = day;
    $('report-to').value = day;
  }
  renderToday();
}

function renderChannels() {
  const c = today.channels || {};
  const a = c.appointment || {};
  const w = c.walk_in || {};
  $('channel-waits').textContent = t('dash.b.waits', {
    a_served: a.served ?? 0, a_mean: minutes(a.wait_mean_s), a_p90: minutes(a.wait_p90_s),
    w_served: w.served ?? 0, w_mean: minutes(w.wait_mean_s), w_p90: minutes(w.wait_p90_s)});
}

function renderToday() {
  if (live) renderWindows();
  renderChannels();
  const r = today.rates;
  $('rates').textContent = t('dash.rates', {served: r.served, rated: r.rated, bad: r.bad,
    rating_rate: pct(r.rating_rate), rectification_rate: pct(r.rectification_rate),
    reply_rate: pct(r.reply_rate)});
  const labels = quarterLabels();
  $('chart-flow').replaceChildren(bars([
    {values: today.quarters.arrivals, cls: 'arrivals', title: t('dash.arrivals')},
    {values: today.quarters.served, cls: 'served', title: t('dash.served_short')}], labels, 8));
  $('chart-waiting').replaceChildren(line(today.waiting, labels, 'waiting', 8));
  const h = today.wait_histogram;
  const hl = h.counts.map((_, i) => (i === h.counts.length - 1 ? `${i * h.bucket_minutes}+` : `${i * h.bucket_minutes}`));
  $('chart-waits').replaceChildren(bars([{values: h.counts, cls: 'waits', title: ''}], hl, 1));
  // Text alternatives: each chart is named by its caption and summed up in words.
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  describe('flow', t('dash.chart.flow_text', {arrivals: sum(today.quarters.arrivals),
    served: sum(today.quarters.served)}));
  describe('waiting', t('dash.chart.waiting_text', {max: Math.max(0, ...today.waiting),
    now: today.waiting.length ? today.waiting[today.waiting.length - 1] : 0}));
  describe('waits', t('dash.chart.waits_text', {n: sum(h.counts)}));
}

function describe(chart, text) {
  const svg = $(`chart-${chart}`).querySelector('svg');
  if (!svg) return;
  svg.setAttribute('aria-labelledby', `caption-${chart}`);
  svg.setAttribute('aria-description', text);
  svg.prepend(document.createElementNS('http://www.w3.org/2000/svg', 'title'));
  svg.firstChild.textContent = text;
}
const scheduleToday = debounce(refreshToday, 5000);

// A tide decision's reason in the page's language (manual overrides carry their own note).
const reason = (d) => (lang === 'en' ? d.reason_en : d.reason_zh) || '';

async function refreshTide() {
  let tide;
  try { tide = await api('GET', `${base}/tide`); } catch (err) { return; }
  $('tide-mode').textContent = t(`dash.tide.mode.${tide.mode}`);
  const pending = tide.pending.map((p) => el('div', {class: 'tide-pending', 'data-id': p.id},
    `${t(`dash.tide.action.${p.action}`)} · ${t('dash.window')} ${p.window} ${reason(p)} `,
    el('button', {onclick: () => decide(p.id, true)}, t('dash.confirm')),
    el('button', {class: 'secondary', onclick: () => decide(p.id, false)}, t('dash.dismiss'))));
  // why the controller holds back (budget spent, override, lunch closure, no standby clerk)
  const held = (tide.held || []).map((h) => el('p', {class: 'tide-held muted', 'data-code': h.code},
    lang === 'en' ? h.reason_en : h.reason_zh));
  $('tide-pending').replaceChildren(...(pending.length ? pending : [el('p', {class: 'muted'}, t('dash.tide.none'))]), ...held);
  $('tide-windows').replaceChildren(...tide.windows.map((w) => el('div', {class: 'tide-window', 'data-window': w.number},
    `${t('dash.window')} ${w.number} · ${t(`dash.status.${w.status}`)} · ${w.queues.join(',')} · ${w.toggles_today}/${tide.max_toggles_per_day} `,
    el('button', {class: 'secondary', onclick: () => override(w.number, 'open')}, t('dash.tide.open')),
    el('button', {class: 'secondary', onclick: () => override(w.number, 'close')}, t('dash.tide.close')))));
  $('tide-recent').replaceChildren(...tide.recent.slice(0, 8).map((d) => el('li', {},
    `${clockAt(d.at)} ${t(`dash.tide.action.${d.action}`)} · ${t('dash.window')} ${d.window} ${reason(d)}`)));
  // Today's waits quoted at issue against the real ones (tide.quotes).
  const q = tide.estimates_today;
  $('tide-estimates').textContent = !q ? '' : q.tickets ? t('dash.tide.estimates', {
    tickets: q.tickets, within: `${(q.within * 100).toFixed(0)}%`,
    error: q.median_error_min.toFixed(1)}) : t('dash.tide.estimates_none');
  refreshPlan();
}

// Tomorrow's staffing plan (hall plan --save): the body `hall plan` prints (tide.plan
// Plan.to_dict): windows of each kind per half hour and their clerks, the domain windows
// it assigns, whether the target is reachable, and waits beside today's roster.
async function refreshPlan() {
  let body;
  try { body = await api('GET', `${base}/tide/plan`); } catch (err) { return; }
  const plan = body.plan;
  if (!plan) { $('tide-plan').replaceChildren(); return; }
  const en = lang === 'en';
  const fmt = (o) => `P90 ${o.p90_min.toFixed(1)} min · ${o.window_hours.toFixed(1)} ${en ? 'window-hours' : '窗口小时'} · ${(o.hit_rate * 100).toFixed(0)}%`;
  const kindName = {no_difference: en ? 'general' : '综合', tide: en ? 'tide' : '潮汐'};
  const kinds = (s) => Object.entries(s.kinds || {}).map(([k, n]) =>
    `${kindName[k] || k.replace('domain:', en ? 'domain ' : '专项')}×${n}`).join(' ');
  // the half hour's P90 wait under the plan beside today's roster (check days)
  const min = (v) => (v === null || v === undefined ? '–' : v.toFixed(1));
  const waits = (s) => (s.p90_min === undefined ? '' :
    ` · P90 ${min(s.p90_min)} / ${en ? 'today' : '现排班'} ${min(s.today_p90_min)} min`);
  $('tide-plan').replaceChildren(
    el('h3', {}, `${en ? 'Staffing plan' : '排班建议'} ${plan.day}`),
    el('p', {class: 'muted'}, `${en ? 'plan' : '按建议'}: ${fmt(plan.planned)} | ${en ? "today's roster" : '现排班'}: ${fmt(plan.today)}`),
    ...(plan.notes || []).map((n) => el('p', {class: 'plan-note', 'data-testid': 'plan-note'}, en ? n.en : n.zh)),
    el('ul', {class: 'dash-list'}, ...plan.slots.map((s) => el('li', {'data-start': s.start},
      `${s.start} · ${kinds(s)} · ${s.windows.join(',')} · ${s.clerks.join(',')}${waits(s)}`))));
}

async function override(window, action) {
  try {
    await api('POST', `${base}/tide/override`, {window, action, reason: 'dashboard'});
  } catch (err) { alert(errorText(err, {window})); }
  refreshTide();
  refreshLive();
}

async function decide(id, accept) {
  try { await api('POST', `${base}/tide/confirm`, {id, accept}); } catch (err) { /* shown on refresh */ }
  refreshTide();
}

function reportTable(title, dim, rows, names) {
  const keys = Object.keys(rows).sort((a, b) => (Number(a) - Number(b)) || a.localeCompare(b));
  const ratingCells = (f) => ['very_satisfied', 'satisfied', 'basically_satisfied', 'dissatisfied', 'very_dissatisfied'].map((k) => f.ratings[k]).join('/');
  const row = (label, f) => el('tr', {},
    el('td', {}, label), el('td', {class: 'num'}, f.issued), el('td', {class: 'num'}, f.served),
    el('td', {class: 'num'}, f.no_show), el('td', {class: 'num'}, f.transferred),
    el('td', {class: 'num'}, f.abandoned),
    el('td', {class: 'num'}, `${minutes(f.wait_mean_s)} / ${minutes(f.wait_p90_s)}`),
    el('td', {class: 'num'}, `${minutes(f.service_mean_s)} / ${minutes(f.service_p90_s)}`),
    el('td', {class: 'num'}, ratingCells(f)));
  const head = ['name', 'issued', 'served', 'no_show', 'transferred', 'abandoned', 'wait', 'service', 'ratings'];
  return el('div', {class: 'report-block', 'data-dimension': dim}, el('h3', {}, title),
    el('table', {class: 'dash-table'}, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, t(`dash.col.${h}`))))),
       el('tbody', {}, ...keys.map((k) => row(names[k] ? `${k} ${names[k]}` : k, rows[k])))));
}

async function showReport(e) {
  e?.preventDefault();
  const from = $('report-from').value;
  const to = $('report-to').value;
  const query = `from=${from}&to=${to}`;
  $('report-csv').href = `${base}/reports?${query}&format=csv`;
  let report;
  try {
    report = await api('GET', `${base}/reports?${query}`);
    $('report-error').hidden = true;
  } catch (err) {
    $('report-error').textContent = errorText(err);
    $('report-error').hidden = false;
    return;
  }
  const total = reportTable(t('dash.total'), 'hall', {[t('dash.total')]: report.total}, {});
  const peaks = el('p', {}, `${t('dash.peak')}: ${report.peak_hours.map((p) => `${p.hour}:00–${p.hour + 1}:00 (${p.arrivals})`).join(', ') || '—'}`);
  const daily = bars([
    {values: report.daily.map((d) => d.issued), cls: 'arrivals', title: t('dash.arrivals')},
    {values: report.daily.map((d) => d.served), cls: 'served', title: t('dash.served_short')}],
    report.daily.map((d) => d.day.slice(4)), Math.max(1, Math.ceil(report.daily.length / 12)));
  $('report').replaceChildren(total, peaks, el('div', {class: 'chart-box'}, daily),
    ...['matter', 'queue', 'window', 'clerk'].map((dim) => reportTable(t(`dash.by.${dim}`), dim, report.by[dim], report.names[dim])));
}

// Hall notices: what every board shows; posted and withdrawn here, live (hall.notice events).
let notices = [];
function renderNotices() {
  $('notices-admin').replaceChildren(...notices.map((n) => el('li', {'data-nid': n.nid},
    el('span', {lang: 'zh-CN'}, n.zh), n.en ? el('span', {lang: 'en', class: 'muted'}, ` / ${n.en}`) : null,
    n.fixed ? el('span', {class: 'muted'}, ` (${t('dash.notice_fixed')})`)
      : el('button', {type: 'button', class: 'secondary small', 'data-withdraw': n.nid,
        onclick: () => withdrawNotice(n.nid)}, t('dash.notice_withdraw')))));
}

async function refreshNotices() {
  try { notices = (await api('GET', `${base}/notices`)).notices; } catch (err) { return; }
  renderNotices();
}

async function withdrawNotice(nid) {
  try { await api('DELETE', `${base}/notices/${encodeURIComponent(nid)}`); $('notice-error').hidden = true; }
  catch (err) { $('notice-error').textContent = errorText(err); $('notice-error').hidden = false; }
}

$('notice-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  try {
    await api('POST', `${base}/notices`, {text_zh: form.text_zh.value,
      ...(form.text_en.value.trim() ? {text_en: form.text_en.value} : {})});
    form.reset();
    $('notice-error').hidden = true;
  } catch (err) { $('notice-error').textContent = errorText(err); $('notice-error').hidden = false; }
});

window.addEventListener('hall:event', (e) => {
  const d = e.detail.data || {};
  if (e.detail.type !== 'hall.notice' || !d.notice) return;
  notices = notices.filter((n) => n.nid !== d.notice.nid);
  if (d.action === 'posted') notices.push(d.notice);
  renderNotices();
});

// Appointments: a day's figures per matter and slot (the API's ticketing/booking_figures.py)
// and the messages the gateway refused after every retry.
const dayIso = (d) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}`;
async function refreshBookings() {
  const day = $('bookings-day').value;
  if (!day) return;
  let b;
  try { b = await api('GET', `${base}/appointments/days/${day}`); } catch (err) { return; }
  $('bookings-provisional').hidden = !b.provisional;
  const tot = b.total;
  $('bookings-total').textContent = t('dash.b.total', {...tot, fill: pct(tot.fill_rate),
    no_show_rate: pct(tot.no_show_rate), walk_in_share: pct(tot.walk_in_share)});
  const cells = (r) => [el('td', {class: 'num'}, r.capacity), el('td', {class: 'num'}, r.booked),
    el('td', {class: 'num'}, pct(r.fill_rate)), el('td', {class: 'num'}, r.checked_in),
    el('td', {class: 'num'}, r.late), el('td', {class: 'num'}, r.no_show),
    el('td', {class: 'num'}, r.open), el('td', {class: 'num'}, pct(r.no_show_rate))];
  $('bookings').replaceChildren(...b.matters.map((m) => el('tr', {'data-matter': m.matter},
    el('td', {}, name(m)), ...cells(m),
    el('td', {class: 'num'}, pct(m.walk_in_share)))));
  $('booking-slots').replaceChildren(...b.matters.filter((m) => m.slots.length).map((m) =>
    el('details', {'data-matter': m.matter}, el('summary', {}, t('dash.b.slots', {matter: name(m)})),
      el('table', {class: 'dash-table'}, el('thead', {}, el('tr', {},
        el('th', {}, t('dash.b.slot')), ...['capacity', 'booked', 'fill', 'checked_in', 'late',
          'no_show', 'open', 'no_show_rate'].map((k) => el('th', {class: 'num'}, t(`dash.b.${k}`))))),
      el('tbody', {}, m.slots.map((s) => el('tr', {'data-slot': s.slot},
        el('td', {}, s.time), ...cells(s))))))));
}

async function refreshDead() {
  let dead;
  try { dead = (await api('GET', `${base}/notifications/dead`)).dead; } catch (err) { return; }
  $('dead-count').textContent = dead.length;
  $('no-dead').hidden = dead.length > 0;
  $('dead').replaceChildren(...dead.map((d) => el('li', {'data-kind': d.kind},
    t('dash.dead_item', {at: at(d.at), kind: t(`dash.dead.${d.kind}`), to: d.to, error: d.error}))));
}

$('bookings-form').addEventListener('submit', (e) => { e.preventDefault(); refreshBookings(); });
// after the live figures (alerts must show within a second): 3 s after the first event
const scheduleBookings = debounce(refreshBookings, 3000);

function initReportForm() {
  $('report-form').addEventListener('submit', showReport);
}

// Live figures arrive as deltas over the socket: windows (public projection), waiting
// counts and today's counters change at once from the event itself. What needs the server's
// rules (alerts, predicted waits, cases) is re-read at most twice a second; the full day's
// curves once a minute (and after ratings).
function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, wait);
  };
}
const scheduleLive = throttle(refreshLive, 500);

// The hall-local quarter hour (0–95) of a moment, as the server's curves count it.
const quarterFormat = new Intl.DateTimeFormat('en-GB', {timeZone: data.timezone, hour: '2-digit',
  minute: '2-digit', hourCycle: 'h23'});
function quarterOf(seconds) {
  const [h, m] = quarterFormat.format(new Date(seconds * 1000)).split(':').map(Number);
  return h * 4 + Math.floor(m / 15);
}

function applyEvent(ev) {
  const d = ev.data || {};
  if (live && d.window && typeof d.window === 'object') {
    const w = live.windows.find((x) => x.number === d.window.number);
    if (w) {
      Object.assign(w, {status: d.window.status, clerk_name: d.window.clerk_name,
        clerk_staff_number: d.window.clerk_staff_number});
      if (!d.window.busy) w.current_number = null;
      else if (d.window.current_number) w.current_number = d.window.current_number;
      renderWindows();
    }
  }
  if (today && d.ticket && (ev.type === 'ticket.issued' || ev.type === 'ticket.done')) {
    const q = quarterOf(ev.at);
    if (ev.type === 'ticket.issued') today.quarters.arrivals[q] = (today.quarters.arrivals[q] || 0) + 1;
    else {
      today.quarters.served[q] = (today.quarters.served[q] || 0) + 1;
      today.rates.served += 1;
      const mine = todayWindows[String(d.ticket.window)] || (todayWindows[String(d.ticket.window)] = {});
      mine.served = (mine.served || 0) + 1;
    }
    renderToday();
  }
}

window.addEventListener('hall:event', (e) => {
  applyEvent(e.detail);
  scheduleLive();
  const type = e.detail.type || '';
  if (type.startsWith('tide.') || type === 'window.changed') refreshTide();
  if (type.startsWith('rating.')) scheduleToday();
  if (type.startsWith('appointment.') || type.startsWith('ticket.')) scheduleBookings();
});
window.addEventListener('hall:snapshot', scheduleLive);
window.addEventListener('hall:waiting', (e) => {
  if (!live) return;
  for (const q of live.queues) if (q.letter in e.detail) q.waiting = e.detail[q.letter];
  renderQueues();
});

await refreshLive();
initReportForm();
await refreshToday();
if (today) $('bookings-day').value = dayIso(today.day);  // the hall's local day
refreshBookings();
refreshDead();
refreshTide();
refreshNotices();
connect(`/ws/halls/${hall.id}`);
setInterval(() => {
  renderAlerts();
  $('clock').textContent = clockAt(serverNow());
}, 1000);
setInterval(refreshLive, 15000);
setInterval(refreshToday, 60000);
setInterval(refreshTide, 30000);
setInterval(refreshBookings, 30000);
setInterval(refreshDead, 60000);
