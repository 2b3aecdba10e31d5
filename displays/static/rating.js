// The five 好差评 levels as one form, used by the citizen page and the rating pad.
import { errorText } from './common.js';

export function ratingForm(onSubmit) {
  const form = document.getElementById('rating');
  const submit = document.getElementById('rating-submit');
  const error = document.getElementById('rating-error');
  let level = null;
  for (const button of form.querySelectorAll('.level')) {
    button.addEventListener('click', () => {
      level = button.dataset.level;
      for (const b of form.querySelectorAll('.level')) b.classList.toggle('selected', b === button);
      submit.disabled = false;
    });
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!level) return;
    submit.disabled = true;
    error.hidden = true;
    try {
      const comment = document.getElementById('rating-comment').value.trim();
      await onSubmit({level, ...(comment ? {comment} : {})});
      thank();
    } catch (err) {
      error.textContent = errorText(err);
      error.hidden = false;
      submit.disabled = false;
    }
  });
  function thank() {
    form.hidden = true;
    document.getElementById('thanks').hidden = false;
  }
  return {
    show(title) {
      level = null;
      submit.disabled = true;
      for (const b of form.querySelectorAll('.level')) b.classList.remove('selected');
      document.getElementById('rating-comment').value = '';
      if (title) document.getElementById('rating-title').textContent = title;
      document.getElementById('thanks').hidden = true;
      error.hidden = true;
      form.hidden = false;
    },
    hide() { form.hidden = true; },
    thank,
  };
}
