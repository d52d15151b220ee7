// A confirmation in a modal <dialog>: it names exactly what goes, Cancel has the focus
// (a stray Enter never deletes), Escape cancels.

import {h} from '../dom.js';

/**
 * confirmDialog({title, body, confirmLabel}) → Promise<boolean>, true when confirmed.
 * body: nodes or strings (e.g. a list of the tags a delete removes).
 */
export function confirmDialog({title, body, confirmLabel = 'Delete', danger = true}) {
  return new Promise((resolve) => {
    const titleId = `dialog-title-${Math.random().toString(36).slice(2)}`;
    const cancel = h('button', {type: 'button', class: 'button', autofocus: true}, 'Cancel');
    const confirm = h('button', {type: 'button', class: danger ? 'button button--danger' : 'button button--primary'}, confirmLabel);
    const dialog = h(
      'dialog',
      {class: 'dialog', 'aria-labelledby': titleId},
      h(
        'div',
        {class: 'dialog__inner'},
        h('h2', {class: 'dialog__title', id: titleId}, title),
        h('div', {class: 'dialog__body'}, body),
        h('div', {class: 'dialog__actions'}, cancel, confirm),
      ),
    );
    let answer = false;
    cancel.addEventListener('click', () => dialog.close());
    confirm.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    // Escape fires "cancel" and then "close"; a click on the backdrop (the dialog element
    // itself: its content fills it) cancels too.
    dialog.addEventListener('click', (event) => {
      if (event.target === dialog) dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
