// Hall board (综合屏): latest calls, every window's state, waiting counts, hall notices.
import { data, el, lang, name, queueName, t, windowName } from './common.js';
import { connect } from './hub.js';

const hall = data.hall;
const MAX_CALLS = 8;
const state = {windows: new Map(), calls: [], waiting: {}};

function statusText(w) {
  return t(`status.${w.status}`);
}

function renderWindows() {
  const box = document.getElementById('windows');
  box.replaceChildren(...hall.windows.map((cfg) => {
    const w = state.windows.get(cfg.number) || {number: cfg.number, status: 'closed'};
    return el('div', {class: `win win-${w.status}`, 'data-window': cfg.number},
      el('div', {class: 'win-no'}, cfg.number),
      el('div', {class: 'win-name'}, name(cfg)),
      el('div', {class: 'win-current'}, w.status === 'open' || w.status === 'closing'
        ? (w.current_number || '') : ''),
      el('div', {class: 'win-status'}, statusText(w)));
  }));
}

function renderCalls() {
  const [latest, ...rest] = state.calls;
  document.getElementById('latest-number').textContent = latest ? latest.number : '—';
  document.getElementById('latest-text').textContent = latest
    ? t('board.please', {number: latest.number, window: latest.window}) : t('board.no_calls');
  const box = document.getElementById('latest');
  if (latest) {
    box.dataset.number = latest.number;
    box.classList.remove('flash');
    void box.offsetWidth;  // restart the highlight animation
    box.classList.add('flash');
  }
  document.getElementById('calls').replaceChildren(...rest.map((c) => el('li',
    {'data-number': c.number}, el('span', {class: 'call-no'}, c.number),
    el('span', {class: 'call-arrow'}, '→'),
    el('span', {class: 'call-win'}, `${t('window.number', {n: c.window})}`),
    el('span', {class: 'call-name'}, windowName(hall, c.window)))));
}

function renderWaiting() {
  document.getElementById('waiting').replaceChildren(...hall.queues.map((q) => el('div',
    {class: 'wait', 'data-queue': q.letter},
    el('span', {class: 'wait-letter'}, q.letter),
    el('span', {class: 'wait-name'}, name(q)),
    el('span', {class: 'wait-count'}, state.waiting[q.letter] ?? 0),
    el('span', {class: 'wait-unit'}, t('board.people')))));
}

function renderNotices(notices) {
  const track = document.getElementById('notices');
  track.replaceChildren(...notices.map((n) => el('span', {class: 'notice'}, n)));
}

function updateWindow(w) {
  const old = state.windows.get(w.number) || {};
  const merged = {...old, ...w};
  if (!w.busy) merged.current_number = null;
  else if (!w.current_number) merged.current_number = old.current_number || null;
  state.windows.set(w.number, merged);
}

connect(`/ws/halls/${hall.id}`, {
  snapshot(snap) {
    state.windows = new Map(snap.windows.map((w) => [w.number, w]));
    state.calls = snap.recent_calls.slice(0, MAX_CALLS);
    state.waiting = snap.waiting;
    renderWindows(); renderCalls(); renderWaiting(); renderNotices(snap.notices || hall.notices);
  },
  waiting(counts) { state.waiting = counts; renderWaiting(); },
  event(ev) {
    const d = ev.data || {};
    if (d.window) updateWindow(d.window);
    if ((ev.type === 'ticket.called' || ev.type === 'ticket.recalled') && d.ticket) {
      state.calls.unshift({number: d.ticket.number, window: d.ticket.window, at: ev.at,
                           calls: d.ticket.calls});
      state.calls = state.calls.slice(0, MAX_CALLS);
      renderCalls();
    }
    if (ev.type === 'hall.notice' && d.text) {
      renderNotices([d.text, ...hall.notices]);
    }
    renderWindows();
  },
});

function tick() {
  const now = new Date();
  document.getElementById('clock').textContent = now.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB',
    {weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', month: 'short', day: 'numeric'});
}
tick();
setInterval(tick, 1000);
renderNotices(hall.notices);
