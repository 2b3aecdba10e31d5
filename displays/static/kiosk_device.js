// What the kiosk's pages share (取号 kiosk.js, 签到 checkin.js): the device token and the
// reset timer. The token comes once as ?device=…, is kept in localStorage and removed from
// the URL. A public device forgets: whatever the last citizen left on the screen (a ticket
// whose QR link can cancel it, a typed code or ID number) goes after the hall's
// kiosk_reset_seconds without a touch.
import { data } from './common.js';

export const RESET_MS = ((data.hall && data.hall.kiosk_reset_seconds) || 20) * 1000;

export function deviceToken(hallId) {
  const key = `hall_kiosk_token:${hallId}`;
  const params = new URLSearchParams(location.search);
  if (params.get('device')) {
    localStorage.setItem(key, params.get('device'));
    params.delete('device');
    history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}`);
  }
  return localStorage.getItem(key);
}

// One timer per page: arm() (re)starts the countdown to onReset, cancel() stops it.
export function resetTimer(onReset) {
  let timer = null;
  return {
    arm() {
      clearTimeout(timer);
      timer = setTimeout(() => { timer = null; onReset(); }, RESET_MS);
    },
    cancel() { clearTimeout(timer); timer = null; },
    get armed() { return timer !== null; },
  };
}
