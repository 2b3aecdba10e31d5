// The websocket client every live page uses: snapshot or replay on (re)connect, then events.
// It remembers the id of the last event seen and sends it on reconnect (?last_id=), so the
// server replays everything missed, in order, once. Every stream event is dispatched as
//   window.dispatchEvent(new CustomEvent('hall:event', {detail: event}))
// so other modules (the voice announcer, the dashboard) can listen without touching this.
import { t } from './common.js';

const FINAL = new Set([1003, 1009, 4400, 4403, 4404]);  // do not retry these

export function connect(path, handlers = {}) {
  let lastId = null;
  let socket = null;
  let delay = 250;
  let stopped = false;
  const banner = document.getElementById('conn');

  function show(text) {
    if (!banner) return;
    banner.textContent = text || '';
    banner.hidden = !text;
  }

  function open() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const sep = path.includes('?') ? '&' : '?';
    const url = `${scheme}://${location.host}${path}${lastId ? `${sep}last_id=${encodeURIComponent(lastId)}` : ''}`;
    socket = new WebSocket(url);
    socket.onopen = () => { delay = 250; show(''); document.body.dataset.connected = '1'; };
    socket.onmessage = (message) => {
      let msg;
      try { msg = JSON.parse(message.data); } catch (e) { return; }
      if (msg.type === 'hub.snapshot') {
        lastId = msg.data.last_event_id;
        handlers.snapshot?.(msg.data);
        window.dispatchEvent(new CustomEvent('hall:snapshot', {detail: msg.data}));
      } else if (msg.type === 'hub.waiting') {
        handlers.waiting?.(msg.data);
        window.dispatchEvent(new CustomEvent('hall:waiting', {detail: msg.data}));
      } else if (msg.id) {
        lastId = msg.id;
        if (msg.waiting) {
          handlers.waiting?.(msg.waiting);
          window.dispatchEvent(new CustomEvent('hall:waiting', {detail: msg.waiting}));
        }
        handlers.event?.(msg);
        window.dispatchEvent(new CustomEvent('hall:event', {detail: msg}));
      }
    };
    socket.onclose = (closed) => {
      document.body.dataset.connected = '0';
      if (stopped) return;
      if (FINAL.has(closed.code)) {
        show(t(`conn.${closed.code}`));
        handlers.refused?.(closed);
        return;
      }
      show(t('conn.lost'));
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 4000);
    };
  }

  open();
  setInterval(() => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send('{"type":"ping"}');
  }, 25000);
  return {
    get lastId() { return lastId; },
    close() { stopped = true; socket?.close(); },
  };
}
