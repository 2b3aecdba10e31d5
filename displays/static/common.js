// Shared by every page: the message catalogue, the page's data, names in the page language,
// and JSON calls that turn the API's {"error": {code, message}} into a thrown ApiError.
const messages = JSON.parse(document.getElementById('messages').textContent || '{}');
export const data = JSON.parse(document.getElementById('page-data').textContent || '{}');
export const lang = document.body.dataset.lang || 'zh';

export function t(key, args = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (args[name] ?? ''));
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
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body = undefined, token = null) {
  const headers = {'Accept': 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers['Authorization'] = `Bearer ${token}`;
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload = null;
  try { payload = await response.json(); } catch (e) { payload = null; }
  if (!response.ok) {
    const err = (payload && payload.error) || {};
    throw new ApiError(response.status, err.code || 'http_error', err.message || response.statusText);
  }
  return payload;
}

export function queueName(hall, letter) {
  return name(hall.queues.find((q) => q.letter === letter)) || letter;
}

export function windowName(hall, number) {
  return name(hall.windows.find((w) => w.number === number));
}
