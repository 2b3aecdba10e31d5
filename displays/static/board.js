// Hall board (综合屏, 1920×1080): the latest call, one line per called number with its latest
// recall, every window's state, waiting counts, and the hall's notices in the board's
// language (a manager posts and withdraws them live: hall.notice events). Names shrink to
// fit their box; the clock shows the hall's time zone.
import { data, el, hallTime, lang, name, t, windowName } from './common.js';
import { connect } from './hub.js';

const hall = data.hall;
const MAX_CALLS = 7;  // the latest plus three rows of two: what fits at 1920×1080
const state = {windows: new Map(), calls: [], waiting: {}, notices: []};

function statusText(w) {
  if ((w.status === 'open' || w.status === 'closing') && !w.staffed) return t('status.unstaffed');
  return t(`status.${w.status}`);
}

// Shrink a name's font until it fits its box (at most two lines), never below `min` px.
function fit(node, min = 14) {
  let size = parseFloat(getComputedStyle(node).fontSize);
  node.style.fontSize = '';
  size = parseFloat(getComputedStyle(node).fontSize);
  while ((node.scrollWidth > node.clientWidth + 1 || node.scrollHeight > node.clientHeight + 1)
         && size > min) {
    size -= 1;
    node.style.fontSize = `${size}px`;
  }
}

function fitAll(selector) {
  for (const node of document.querySelectorAll(selector)) fit(node);
}

function renderWindows() {
  const box = document.getElementById('windows');
  box.replaceChildren(...hall.windows.map((cfg) => {
    const w = state.windows.get(cfg.number) || {number: cfg.number, status: 'closed'};
    return el('div', {class: `win win-${w.status}`, 'data-window': cfg.number},
      el('div', {class: 'win-no'}, cfg.number),
      el('div', {class: 'win-current'}, w.status === 'open' || w.status === 'closing'
        ? (w.current_number || '') : ''),
      el('div', {class: 'win-name'}, name(cfg)),
      el('div', {class: 'win-status'}, statusText(w)));
  }));
  fitAll('.win-name');
}

// One line per called number: a recall moves it to the top and counts the calls.
function addCall(call) {
  state.calls = [call, ...state.calls.filter((c) => c.number !== call.number)].slice(0, MAX_CALLS);
}

function renderCalls() {
  const [latest, ...rest] = state.calls;
  document.getElementById('latest-number').textContent = latest ? latest.number : '—';
  document.getElementById('latest-text').textContent = latest
    ? t('board.please', {number: latest.number, window: latest.window}) : t('board.no_calls');
  const box = document.getElementById('latest');
  if (latest) {
    box.dataset.number = latest.number;
    box.dataset.calls = String(latest.calls || 1);
    box.classList.remove('flash');
    void box.offsetWidth;  // restart the highlight animation
    box.classList.add('flash');
  }
  document.getElementById('latest-recall').textContent = latest && latest.calls > 1
    ? t('board.recalled', {n: latest.calls}) : '';
  document.getElementById('calls').replaceChildren(...rest.map((c) => el('li',
    {'data-number': c.number, 'data-calls': c.calls || 1},
    el('span', {class: 'call-no'}, c.number),
    el('span', {class: 'call-arrow', 'aria-hidden': 'true'}, '→'),
    el('span', {class: 'call-win'}, t('window.number', {n: c.window})),
    el('span', {class: 'call-name'}, windowName(hall, c.window)),
    c.calls > 1 ? el('span', {class: 'call-recall'}, t('board.recalled', {n: c.calls})) : null)));
  fitAll('.call-name');
}

function renderWaiting() {
  document.getElementById('waiting').replaceChildren(...hall.queues.map((q) => el('div',
    {class: 'wait', 'data-queue': q.letter},
    el('span', {class: 'wait-letter'}, q.letter),
    el('span', {class: 'wait-name'}, name(q)),
    el('span', {class: 'wait-count'}, state.waiting[q.letter] ?? 0),
    el('span', {class: 'wait-unit'}, t('board.people')))));
  fitAll('.wait-name');
}

function renderNotices() {
  const shown = state.notices.map((n) => ({nid: n.nid, text: lang === 'en' ? n.en : n.zh}))
    .filter((n) => n.text);
  const track = document.getElementById('notices');
  track.replaceChildren(...shown.map((n) => el('span', {class: 'notice', 'data-nid': n.nid}, n.text)));
  // A steady reading speed whatever the length: about 120 px a second.
  track.style.animationDuration = `${Math.max(20, (track.scrollWidth + 1920) / 120)}s`;
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
    state.calls = [];
    for (const c of [...snap.recent_calls].reverse()) addCall(c);
    state.waiting = snap.waiting;
    state.notices = snap.notices || [];
    renderWindows(); renderCalls(); renderWaiting(); renderNotices();
  },
  waiting(counts) { state.waiting = counts; renderWaiting(); },
  event(ev) {
    const d = ev.data || {};
    if (d.window) updateWindow(d.window);
    if ((ev.type === 'ticket.called' || ev.type === 'ticket.recalled') && d.ticket) {
      addCall({number: d.ticket.number, window: d.ticket.window, at: ev.at, calls: d.ticket.calls});
      renderCalls();
    }
    if (ev.type === 'hall.notice' && d.notice) {
      state.notices = state.notices.filter((n) => n.nid !== d.notice.nid);
      if (d.action === 'posted') state.notices.push(d.notice);
      renderNotices();
    }
    if (d.window) renderWindows();
  },
});

function tick() {
  document.getElementById('clock').textContent = hallTime(new Date(),
    {weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', month: 'short', day: 'numeric'});
}
tick();
setInterval(tick, 1000);
renderWindows();
renderWaiting();
