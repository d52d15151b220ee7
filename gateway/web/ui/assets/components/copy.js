// Copy-to-clipboard buttons. navigator.clipboard.writeText where the browser allows it
// (a secure context, permission granted); otherwise the text is put in a readonly input
// next to the button, selected, so Ctrl+C / ⌘C (or the long-press menu) copies it.

import {h} from '../dom.js';
import {announce} from './status.js';

const COPIED_MS = 1600;

/** Copy text; resolves true when it is in the clipboard, false when it needs the fallback. */
export async function copyText(text) {
  if (navigator.clipboard?.writeText && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // permission refused: fall through to the fallback
    }
  }
  return false;
}

/**
 * A button that copies `text`. label: the visible text ("Copy"); ariaLabel: what it
 * copies, for screen readers ("Copy docker pull command for 1.0").
 */
export function copyButton(text, {label = 'Copy', ariaLabel, className = ''} = {}) {
  const button = h(
    'button',
    {type: 'button', class: `copy-button ${className}`.trim(), 'aria-label': ariaLabel ?? label, title: text},
    label,
  );
  let timer = null;
  button.addEventListener('click', async () => {
    if (await copyText(text)) {
      button.textContent = 'Copied';
      button.classList.add('is-copied');
      announce('Copied');
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        button.textContent = label;
        button.classList.remove('is-copied');
      }, COPIED_MS);
    } else {
      showFallback(button, text);
    }
  });
  return button;
}

/** The fallback: a readonly input holding the text, selected; Escape or leaving closes it. */
function showFallback(button, text) {
  const existing = button.nextElementSibling;
  if (existing?.classList.contains('copy-fallback')) {
    existing.querySelector('input').select();
    return;
  }
  const input = h('input', {
    type: 'text',
    readonly: true,
    value: text,
    'aria-label': 'Text to copy',
    class: 'copy-fallback__input',
    'data-testid': 'copy-fallback',
  });
  const hint = h('span', {class: 'copy-fallback__hint'}, 'Press Ctrl+C to copy');
  const box = h('span', {class: 'copy-fallback'}, input, hint);
  button.after(box);
  input.focus();
  input.select();
  input.addEventListener('copy', () => {
    hint.textContent = 'Copied';
    announce('Copied');
  });
  const close = () => box.remove();
  input.addEventListener('blur', () => window.setTimeout(close, 150));
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      close();
      button.focus();
    }
  });
}
