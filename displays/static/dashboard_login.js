// Manager log-in on the dashboard: POST /api/login sets the session cookie, then reload.
import { api, errorText } from './common.js';

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const body = Object.fromEntries(new FormData(form));
  try {
    await api('POST', '/api/login', body);
    location.reload();
  } catch (err) {
    error.textContent = errorText(err);
    error.hidden = false;
  }
});
