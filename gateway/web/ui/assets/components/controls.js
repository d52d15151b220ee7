// Form controls shared by the list views: a labelled search box, a page-size select and
// a sort select. Each returns {element, sync(value)}: sync() shows a value that came
// from the URL (back/forward) without disturbing what the user is typing.

import {h} from '../dom.js';

/** fn, called `ms` after the last of a burst of calls; .now(...) calls it at once. */
export function debounce(fn, ms) {
  let timer = null;
  const debounced = (...args) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fn(...args), ms);
  };
  debounced.now = (...args) => {
    window.clearTimeout(timer);
    fn(...args);
  };
  return debounced;
}

/**
 * A labelled search box that searches as you type: onSearch(text) runs `delay` ms after
 * the last keystroke (so one request per pause, not per key), or at once on Enter.
 */
export function searchBox({id, label, placeholder, value, onSearch, delay = 250}) {
  const search = debounce(onSearch, delay);
  const input = h('input', {
    id,
    type: 'search',
    class: 'input',
    placeholder,
    value,
    autocomplete: 'off',
    spellcheck: 'false',
  });
  input.addEventListener('input', () => search(input.value.trim()));
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') search.now(input.value.trim());
  });
  const element = h('div', {class: 'field field--search'}, h('label', {for: id, class: 'field__label'}, label), input);
  return {
    element,
    sync(q) {
      if (input.value.trim() !== q) input.value = q;
    },
  };
}

const PAGE_SIZES = [10, 20, 50, 100];

export function perPageSelect({id, value, onChange}) {
  const select = h('select', {id, class: 'select'});
  const fill = (n) => {
    const sizes = PAGE_SIZES.includes(n) ? PAGE_SIZES : [...PAGE_SIZES, n].sort((a, b) => a - b);
    select.replaceChildren(...sizes.map((size) => h('option', {value: String(size)}, String(size))));
    select.value = String(n);
  };
  fill(value);
  select.addEventListener('change', () => onChange(Number(select.value)));
  const element = h('div', {class: 'field'}, h('label', {for: id, class: 'field__label'}, 'Per page'), select);
  return {element, sync: fill};
}

/** The API's `sort` values, each with what it means to a reader. */
export const SORTS = [
  ['name', 'Name, A → Z'],
  ['-name', 'Name, Z → A'],
  ['-version', 'Version, newest first'],
  ['version', 'Version, oldest first'],
  ['-created', 'Created, newest first'],
  ['created', 'Created, oldest first'],
];

export function sortSelect({id, value, onChange}) {
  const select = h('select', {id, class: 'select'}, SORTS.map(([key, text]) => h('option', {value: key}, text)));
  select.value = value;
  select.addEventListener('change', () => onChange(select.value));
  const element = h('div', {class: 'field'}, h('label', {for: id, class: 'field__label'}, 'Sort by'), select);
  return {
    element,
    sync(sort) {
      select.value = sort;
    },
  };
}
