// Window display (窗口屏): the number at the window — "please come" while it is called,
// "now serving" once service starts — the clerk, and paused / closed states.
import { data, proper, t, tn } from './common.js';
import { connect } from './hub.js';

const number = data.window;
let win = {number, status: 'closed'};

function render() {
  const screen = document.getElementById('screen');
  screen.dataset.status = win.status;
  const showing = (win.status === 'open' || win.status === 'closing') && win.current_number;
  screen.dataset.ticket = showing ? (win.current_status || 'called') : '';
  document.getElementById('label').textContent = showing
    ? t(win.current_status === 'serving' ? 'window.serving' : 'window.calling') : '';
  document.getElementById('current').textContent = showing ? win.current_number : '—';
  const status = document.getElementById('status');
  status.textContent = win.status === 'open' ? (win.current_number ? '' : t('window.idle'))
    : t(`status.${win.status}`);
  document.getElementById('clerk').replaceChildren(...(win.clerk_name
    ? tn('window.clerk_line', {name: proper(win.clerk_name), number: win.clerk_staff_number || ''})
    : []));
}

function update(w, ticket) {
  const merged = {...win, ...w};
  if (!w.busy) { merged.current_number = null; merged.current_status = null; }
  else if (!w.current_number) merged.current_number = win.current_number;
  if (w.busy && ticket && ticket.number === merged.current_number) merged.current_status = ticket.status;
  win = merged;
}

connect(`/ws/halls/${data.hall.id}`, {
  snapshot(snap) {
    win = snap.windows.find((w) => w.number === number) || win;
    render();
  },
  event(ev) {
    const d = ev.data || {};
    if (d.window && d.window.number === number) { update(d.window, d.ticket); render(); }
  },
});
render();
