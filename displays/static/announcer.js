// The hall board's voice: plays each `voice.announce` event (a chime, then the call's audio,
// repeated as the hall configures), one announcement after another, never overlapping.
// An announcement older than its max age (from the call's time, on the server's clock) is
// dropped, never played late. Loaded by the board as an ES module; it only listens to
//   window.addEventListener('hall:event', e => ...)   (e.detail = {id, type, at, data})
// which the board's hub client dispatches for every stream event.
//
// Browsers refuse sound until someone touches the page (unless the board runs with
// --autoplay-policy=no-user-gesture-required): then a button asks for one tap.
//
// window.hallAnnouncer exposes the state (played / dropped / failed ids, queue) for tests.

const GAP_MS = 400;  // between repeats and between announcements
const MAX_PLAY_MS = 30000;  // a stalled audio element never blocks the queue for longer
const CHIME_URL = '/audio/chime.wav';
const KEEP = 500;  // ids remembered; a board runs for weeks

function remember(list, id) {
  list.push(id);
  if (list.length > KEEP) list.splice(0, list.length - KEEP);
}

function catalogue() {
  try {
    return JSON.parse(document.getElementById('messages')?.textContent || '{}');
  } catch (e) {
    return {};
  }
}

const messages = catalogue();
const FALLBACK = {
  'voice.enable': '点击开启语音叫号 · Tap to turn on voice calls',
};

function t(key) {
  return messages[key] ?? FALLBACK[key] ?? key;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Announcer {
  constructor() {
    this.queue = [];
    this.seen = new Set();  // event ids and call ids already queued (replays, duplicates)
    this.played = [];
    this.dropped = [];
    this.failed = [];
    this.busy = false;
    this.blocked = false;
    this.current = null;
    // Server clock = local clock + offset. Each server time we learn (an event's `at`, the
    // Date header) is a lower bound of the server's "now"; the largest bound wins.
    this.offset = null;
    this.chime = new Audio(CHIME_URL);
    this.chime.preload = 'auto';
    this.unlockWaiters = [];
    this.learnClockFromServer();
  }

  async learnClockFromServer() {
    try {
      const response = await fetch(CHIME_URL, {method: 'HEAD', cache: 'no-store'});
      const date = Date.parse(response.headers.get('Date') || '');
      if (!Number.isNaN(date)) this.learnServerTime(date / 1000);
    } catch (e) { /* the events' own times will do */ }
  }

  learnServerTime(serverSeconds) {
    const candidate = serverSeconds - Date.now() / 1000;
    if (this.offset === null || candidate > this.offset) this.offset = candidate;
  }

  serverNow() {
    return Date.now() / 1000 + (this.offset ?? 0);
  }

  isStale(item) {
    return this.serverNow() - item.callAt > item.maxAge;
  }

  onEvent(event) {
    if (!event || typeof event !== 'object') return;
    if (typeof event.at === 'number') this.learnServerTime(event.at);
    if (event.type !== 'voice.announce') return;
    const d = event.data || {};
    if (typeof d.audio !== 'string' || !d.audio.startsWith('/audio/')) return;
    const key = d.call_id || event.id;
    if (this.seen.has(event.id) || this.seen.has(key)) return;
    this.seen.add(event.id);
    this.seen.add(key);
    while (this.seen.size > 4 * KEEP) this.seen.delete(this.seen.values().next().value);
    const item = {
      id: event.id,
      callId: d.call_id,
      number: d.number,
      window: d.window,
      text: d.text || '',
      callAt: Number(d.call_at) || Number(event.at) || 0,
      maxAge: Number(d.max_age) || 60,
      repeat: Math.max(1, Math.min(5, Number(d.repeat) || 1)),
      url: d.audio,
      audio: null,
    };
    if (this.isStale(item)) {  // e.g. replayed after a reconnect: say nothing late
      remember(this.dropped, item.id);
      return;
    }
    item.audio = new Audio(item.url);  // starts loading now, while earlier ones play
    item.audio.preload = 'auto';
    this.queue.push(item);
    this.pump();
  }

  play(element) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const done = (fn, value) => {
        clearTimeout(timer);
        element.onended = null;
        element.onerror = null;
        fn(value);
      };
      element.onended = () => done(resolve);
      element.onerror = () => done(reject, element.error || new Error('audio error'));
      timer = setTimeout(() => done(resolve), MAX_PLAY_MS);
      try { element.currentTime = 0; } catch (e) { /* not loaded yet */ }
      const started = element.play();
      if (started && started.catch) started.catch((err) => done(reject, err));
    });
  }

  async pump() {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length) {
        const item = this.queue[0];
        if (this.isStale(item)) {
          this.queue.shift();
          remember(this.dropped, item.id);
          continue;
        }
        this.current = item;
        try {
          window.dispatchEvent(new CustomEvent('hall:announcing', {detail: {
            number: item.number, window: item.window, text: item.text}}));
          try {
            await this.play(this.chime);
          } catch (err) {
            if (err && err.name === 'NotAllowedError') throw err;  // a missing chime is no reason to stay silent
          }
          for (let i = 0; i < item.repeat; i++) {
            if (i > 0) {
              if (this.isStale(item)) break;
              await sleep(GAP_MS);
            }
            await this.play(item.audio);
          }
          this.queue.shift();
          remember(this.played, item.id);
        } catch (err) {
          if (err && err.name === 'NotAllowedError') {
            await this.waitForUnlock();  // keep the item; it is dropped if it grows stale
            continue;
          }
          this.queue.shift();
          remember(this.failed, item.id);
        } finally {
          this.current = null;
        }
        await sleep(GAP_MS);
      }
    } finally {
      this.busy = false;
    }
  }

  waitForUnlock() {
    this.blocked = true;
    let button = document.getElementById('voice-unlock');
    if (!button) {
      button = document.createElement('button');
      button.id = 'voice-unlock';
      button.type = 'button';
      button.dataset.testid = 'voice-unlock';
      button.textContent = t('voice.enable');
      button.style.cssText = 'position:fixed;right:1rem;bottom:1rem;z-index:1000;'
        + 'font-size:1.5rem;padding:.75rem 1.25rem;border-radius:.5rem;'
        + 'background:#ffd400;color:#000;border:2px solid #000;cursor:pointer';
      button.addEventListener('click', () => this.unlock());
      document.body.append(button);
    }
    return new Promise((resolve) => {
      this.unlockWaiters.push(resolve);
      // Re-check now and then: a stale head must be dropped even if nobody taps.
      setTimeout(resolve, 5000);
    });
  }

  unlock() {
    this.blocked = false;
    document.getElementById('voice-unlock')?.remove();
    const waiters = this.unlockWaiters.splice(0);
    for (const resolve of waiters) resolve();
  }

  state() {
    return {
      queued: this.queue.map((i) => i.id),
      current: this.current && this.current.id,
      played: [...this.played],
      dropped: [...this.dropped],
      failed: [...this.failed],
      blocked: this.blocked,
      offset: this.offset,
    };
  }
}

export const announcer = new Announcer();
window.hallAnnouncer = announcer;
window.addEventListener('hall:event', (e) => announcer.onEvent(e.detail));
