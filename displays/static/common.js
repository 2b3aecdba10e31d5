// Shared by every page: the message catalogue, the page's data, names in the page language,
// JSON calls that turn the API's {"error": {code, message, params}} into a thrown ApiError,
// the text a person reads for an error (the catalogue's, by code, never the API's English),
// times in the hall's time zone, and drafts that survive a language switch.
const messages = JSON.parse(document.getElementById('messages').textContent || '{}');
export const data = JSON.parse(document.getElementById('page-data').textContent || '{}');
export const lang = document.body.dataset.lang || 'zh';
export const page = (document.body.className.match(/page-([\w-]+)/) || [])[1] || '';
export const locale = lang === 'en' ? 'en-GB' : 'zh-CN';
const timeZone = (data.hall && data.hall.timezone) || data.timezone || undefined;

export function t(key, args = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (args[name] ?? ''));
}

// A proper name (a person's name) marked with its own language, so an English page may
// show a Chinese name correctly (screen readers, the wrong-language check).
const CJK = /[\u3400-\u9fff]/;
export function proper(text) {
  const value = String(text ?? '');
  const own = CJK.test(value) ? 'zh-CN' : 'en';
  return own.startsWith(lang) ? value : el('span', {lang: own, class: 'proper'}, value);
}

// The catalogue's text as nodes: placeholders may be filled with nodes (proper names).
export function tn(key, args = {}) {
  const text = messages[key] ?? key;
  const out = [];
  let last = 0;
  for (const m of text.matchAll(/\{(\w+)\}/g)) {
    out.push(text.slice(last, m.index));
    out.push(args[m[1]] ?? '');
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out.filter((part) => part !== '');
}

export function name(obj) {
  if (!obj) return '';
  return (lang === 'en' ? obj.name_en : obj.name_zh) || obj.name_zh || '';
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export class ApiError extends Error {
  constructor(status, code, message, params = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.params = params || {};
  }
}

// The sentence a person reads for a refused call: this page's own text for the code
// (e.g. a kiosk's "unauthorized"), else the catalogue's, filled with the server's
// parameters and the page's context (window number, clerk name…); never the raw message.
export function errorText(err, context = {}) {
  const code = (err && err.code) || 'generic';
  const key = [`${page}.error.${code}`, `error.${code}`].find((k) => k in messages) || 'error.generic';
  return t(key, {...context, ...((err && err.params) || {})});
}

export async function api(method, path, body = undefined, token = null) {
  const headers = {'Accept': 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers['Authorization'] = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', String(e));
  }
  let payload = null;
  try { payload = await response.json(); } catch (e) { payload = null; }
  if (!response.ok) {
    const err = (payload && payload.error) || {};
    throw new ApiError(response.status, err.code || 'http_error', err.message || response.statusText,
      err.params);
  }
  return payload;
}

export function queueName(hall, letter) {
  return name(hall.queues.find((q) => q.letter === letter)) || letter;
}

export function windowName(hall, number) {
  return name(hall.windows.find((w) => w.number === number));
}

// Times as the hall sees them (its time zone), whatever the device's own zone is.
export function hallTime(when, options = {}) {
  const date = when instanceof Date ? when : new Date(when * 1000);
  return date.toLocaleString(locale, {timeZone, ...options});
}

// ---- drafts: what a person typed or chose survives the language switch -----------------
const draftKey = `hall_draft:${location.pathname}`;
const draftSources = new Map();

// A page part that holds unsent input registers how to read it; on a language switch every
// registered part (and every text field with an id) is saved for this page and taken back
// by ``takeDraft`` after the reload.
export function keepDraft(key, read) { draftSources.set(key, read); }

export function takeDraft(key) {
  let all = {};
  try { all = JSON.parse(sessionStorage.getItem(draftKey) || '{}'); } catch (e) { all = {}; }
  const value = all[key];
  if (value !== undefined) {
    delete all[key];
    sessionStorage.setItem(draftKey, JSON.stringify(all));
  }
  return value;
}

function saveDrafts() {
  const all = {};
  for (const [key, read] of draftSources) {
    const value = read();
    if (value !== undefined && value !== null) all[key] = value;
  }
  const fields = {};
  for (const field of document.querySelectorAll('input[id]:not([type=password]):not([type=hidden]), textarea[id]')) {
    if (field.value && !field.closest('[data-no-draft]')) fields[field.id] = field.value;
  }
  all.fields = fields;
  sessionStorage.setItem(draftKey, JSON.stringify(all));
}

export function restoreFields() {
  const fields = takeDraft('fields') || {};
  const left = {};
  for (const [id, value] of Object.entries(fields)) {
    const field = document.getElementById(id);
    if (field && !field.value) field.value = value; else if (!field) left[id] = value;
  }
  if (Object.keys(left).length) {
    let all = {};
    try { all = JSON.parse(sessionStorage.getItem(draftKey) || '{}'); } catch (e) { all = {}; }
    all.fields = left;
    sessionStorage.setItem(draftKey, JSON.stringify(all));
  }
}

const switcher = document.querySelector('[data-testid=lang-switch]');
if (switcher) switcher.addEventListener('click', saveDrafts);
restoreFields();
