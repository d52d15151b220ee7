// Multi-select for a list (the tag list, when deletes are enabled): a checkbox per row
// and a bar above the list with "select all on this page", the count and the action.
// The bar is always drawn while the list is, with the same height whatever is chosen,
// so choosing moves nothing.

import {h} from '../dom.js';
import {plural} from '../format.js';

/**
 * selection({noun, onDelete}) → {bar, box(key, value), clear()}. onDelete(chosen) gets a
 * Map key → value of what is selected (for tags: tag → digest).
 */
export function selection({noun, onDelete}) {
  const chosen = new Map();
  const boxes = new Map(); // key → [checkbox, value]
  const count = h('span', {class: 'selection-bar__count', 'data-testid': 'selection-count'}, 'None selected');
  const all = h('input', {type: 'checkbox', id: `select-all-${noun}`, class: 'checkbox'});
  const remove = h('button', {type: 'button', class: 'button button--danger-quiet button--small', disabled: true, 'data-testid': 'delete-selected'}, 'Delete selected…');
  const bar = h(
    'div',
    {class: 'selection-bar', 'data-testid': 'selection-bar'},
    h('label', {class: 'selection-bar__all', for: all.id}, all, `Select every ${noun} on this page`),
    count,
    remove,
  );

  function sync() {
    count.textContent = chosen.size ? `${plural(chosen.size, noun)} selected` : 'None selected';
    remove.disabled = chosen.size === 0;
    all.checked = boxes.size > 0 && chosen.size === boxes.size;
    all.indeterminate = chosen.size > 0 && chosen.size < boxes.size;
  }

  all.addEventListener('change', () => {
    for (const [key, [box, value]] of boxes) {
      box.checked = all.checked;
      if (all.checked) chosen.set(key, value);
      else chosen.delete(key);
    }
    sync();
  });
  remove.addEventListener('click', () => onDelete(new Map(chosen)));

  return {
    bar,
    /** The checkbox of one row. */
    box(key, value) {
      const box = h('input', {type: 'checkbox', class: 'checkbox row-select', 'aria-label': `Select ${key}`, dataset: {key}});
      box.addEventListener('change', () => {
        if (box.checked) chosen.set(key, value);
        else chosen.delete(key);
        sync();
      });
      boxes.set(key, [box, value]);
      return box;
    },
    /** Forget the rows and what was chosen (a new page of the list is drawn). */
    clear() {
      chosen.clear();
      boxes.clear();
      sync();
    },
  };
}
