// The account page: sign in, change the password (first the one-time one), set up the
// second factor, and for admins the accounts and devices. Only the JSON API; the session
// is the HttpOnly cookie, so nothing secret is kept by this script.
import { api, el, errorText, t } from './common.js';

const $ = (id) => document.getElementById(id);
const show = (id, on) => { $(id).hidden = !on; };

function say(text, isError = true) {
  show('account-error', false);
  show('account-note', false);
  const box = $(isError ? 'account-error' : 'account-note');
  box.textContent = text;
  box.hidden = !text;
}

function fields(form) {
  const out = {};
  for (const [k, v] of new FormData(form)) if (v !== '') out[k] = v;
  return out;
}

// A set-up link (/account#setup=TOKEN): the token lives in the fragment, which no request
// carries; it is taken out of the address bar at once (history, screenshots, a shared
// screen) and kept only in this variable until it is posted in a JSON body.
let setupToken = null;
function takeSetupToken() {
  if (!location.hash.startsWith('#setup=')) return false;
  setupToken = decodeURIComponent(location.hash.slice('#setup='.length));
  history.replaceState(null, '', location.pathname + location.search);
  return true;
}
takeSetupToken();

async function load() {
  show('setup', !!setupToken);
  if (setupToken) {
    show('signin', false);
    const {username} = await api('POST', '/api/setup/check', {token: setupToken});
    $('setup-for').textContent = t('account.setup_for', {name: username});
    $('setup-form').elements.username.value = username;
    return;
  }
  const {user} = await api('GET', '/api/me');
  show('signin', !user);
  show('me', !!user);
  show('password', !!user && user.role && !['kiosk', 'pad', 'display', 'phone'].includes(user.role));
  show('password-pending', !!user && user.pending === 'password');
  show('totp', !!user && user.pending === 'totp');
  show('admin', !!user && user.role === 'admin' && !user.pending);
  if (!user) return;
  $('me-line').textContent = t('account.signed_in', {name: user.display_name || user.name,
    role: user.role});
  if (user.role === 'admin' && !user.pending) await loadAdmin();
}

async function loadAdmin() {
  const {users} = await api('GET', '/api/users');
  $('users').replaceChildren(...users.map((u) => el('tr', {},
    el('td', {}, u.username), el('td', {}, u.role), el('td', {}, u.halls.join(', ') || '*'),
    el('td', {}, [u.disabled ? t('account.disabled') : '', u.must_change ? t('account.must_change') : '',
      u.second_factor ? '2FA' : ''].filter(Boolean).join(' · ') || '—'),
    el('td', {},
      el('button', {type: 'button', onclick: () => act(async () => {
        sayLink(await api('POST', `/api/users/${encodeURIComponent(u.username)}/password`));
      })}, t('account.reset')),
      el('button', {type: 'button', onclick: () => act(() => api('POST',
        `/api/users/${encodeURIComponent(u.username)}`, {disabled: !u.disabled}))},
        u.disabled ? t('account.enable') : t('account.disable')),
      el('button', {type: 'button', onclick: () => act(() => api('DELETE',
        `/api/users/${encodeURIComponent(u.username)}`))}, t('account.remove'))))));
  const {devices} = await api('GET', '/api/devices');
  $('devices').replaceChildren(...devices.map((d) => el('tr', {},
    el('td', {}, el('code', {}, d.id)), el('td', {}, d.kind), el('td', {}, d.hall),
    el('td', {}, d.name + (d.expired ? ` (${t('account.expired')})` : '')),
    el('td', {}, el('button', {type: 'button', onclick: () => act(() => api('DELETE',
      `/api/devices/${encodeURIComponent(d.id)}`))}, t('account.revoke'))))));
}

function sayLink(made) {
  const until = new Date(made.expires_at * 1000).toLocaleString();
  say(t('account.setup_link', {name: made.username, until,
    link: location.origin + made.setup_link}), false);
}

async function act(step) {
  try {
    await step();
    await load();
  } catch (err) {
    say(errorText(err));
  }
}

$('setup-form').addEventListener('submit', (e) => {
  e.preventDefault();
  act(async () => {
    await api('POST', '/api/setup', {token: setupToken, password: e.target.elements.password.value});
    setupToken = null;
    e.target.reset();
    say(t('account.changed'), false);
  });
});
$('signin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  act(async () => { await api('POST', '/api/login', fields(e.target)); say(''); });
});
$('logout').addEventListener('click', () => act(() => api('POST', '/api/logout', {})));
$('password-form').addEventListener('submit', (e) => {
  e.preventDefault();
  act(async () => {
    await api('POST', '/api/password', fields(e.target));
    e.target.reset();
    say(t('account.changed'), false);
  });
});
$('totp-start').addEventListener('click', () => act(async () => {
  const enrol = await api('POST', '/api/totp/enrol', {});
  // the QR code is an SVG drawn by the server (segno) from the otpauth URI
  $('totp-image').innerHTML = enrol.qr_svg;
  $('totp-secret').textContent = enrol.secret;
  show('totp-qr', true);
}));
$('totp-form').addEventListener('submit', (e) => {
  e.preventDefault();
  act(async () => {
    const done = await api('POST', '/api/totp/confirm', fields(e.target));
    $('recovery-codes').replaceChildren(...done.recovery_codes.map((c) => el('li', {}, el('code', {}, c))));
    show('recovery', true);
    show('totp-qr', false);
  });
});
$('create-form').addEventListener('submit', (e) => {
  e.preventDefault();
  act(async () => {
    sayLink(await api('POST', '/api/users', fields(e.target)));
    e.target.reset();
  });
});

function start() {
  say('');
  load().catch((err) => {
    if (setupToken) {  // a used, replaced or expired link: say so, and offer to sign in
      setupToken = null;
      show('setup', false);
      show('signin', true);
    }
    say(errorText(err));
  });
}
// a link opened in a tab already showing this page changes only the fragment
window.addEventListener('hashchange', () => { if (takeSetupToken()) start(); });
start();
