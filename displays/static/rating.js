// The five 好差评 levels as one form, used by the citizen page and the rating pad.
// A chosen level and a typed comment survive a language switch (common.js drafts).
import { errorText, keepDraft, takeDraft } from './common.js';

export function ratingForm(onSubmit) {
  const form = document.getElementById('rating');
  const submit = document.getElementById('rating-submit');
  const error = document.getElementById('rating-error');
  const comment = document.getElementById('rating-comment');
  let level = null;

  function choose(value) {
    level = value;
    for (const b of form.querySelectorAll('.level')) {
      const on = b.dataset.level === value;
      b.classList.toggle('selected', on);
      b.setAttribute('aria-pressed', String(on));
    }
    submit.disabled = !value;
  }

  for (const button of form.querySelectorAll('.level')) {
    button.addEventListener('click', () => choose(button.dataset.level));
  }
  keepDraft('rating', () => (form.hidden || (!level && !comment.value) ? null
    : {level, comment: comment.value}));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!level) return;
    submit.disabled = true;
    error.hidden = true;
    try {
      const text = comment.value.trim();
      await onSubmit({level, ...(text ? {comment: text} : {})});
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
      const draft = takeDraft('rating') || {};
      comment.value = draft.comment || '';
      choose(draft.level || null);
      if (title) document.getElementById('rating-title').textContent = title;
      document.getElementById('thanks').hidden = true;
      error.hidden = true;
      form.hidden = false;
    },
    hide() { form.hidden = true; },
    thank,
  };
}
