// Next/previous paging over the API's forward-only cursor.
//
// The API gives `next` (pass it back as `last` for the following page) and nothing to go
// back with, so the UI keeps the stack of `last` values of the earlier pages in
// history.state: "Next" pushes the current cursor, "Previous" pops it. The current
// cursor is in the URL (?last=), so a reload keeps the page; a shared link has no stack,
// and its "Previous" goes back to the first page.

import {h} from '../dom.js';

/**
 * Read the paging position of a route: {last, cursors, page}.
 * cursors: the `last` of every earlier page ('' for the first page).
 */
export function position(route) {
  const last = route.query.get('last') || '';
  const stored = Array.isArray(route.state?.cursors) ? route.state.cursors : [];
  const cursors = last ? stored : [];
  return {last, cursors, page: last ? cursors.length + 1 : 1};
}

/**
 * Pager controls. go(last, cursors) navigates; next: the API's `next` (null on the last
 * page). Returns null when everything fits on one page.
 */
export function pager({last, cursors, page}, next, go, {label = 'Pages'} = {}) {
  if (!last && !next) return null;
  const known = !last || cursors.length > 0;
  const previous = h(
    'button',
    {type: 'button', class: 'button', disabled: !last},
    known ? '← Previous' : '← First page',
  );
  previous.addEventListener('click', () => {
    if (!known) go('', []);
    else go(cursors.at(-1), cursors.slice(0, -1));
  });
  const following = h('button', {type: 'button', class: 'button', disabled: !next}, 'Next →');
  following.addEventListener('click', () => go(next, [...cursors, last]));
  return h(
    'nav',
    {class: 'pager', 'aria-label': label},
    previous,
    h('span', {class: 'pager__page'}, known ? `Page ${page}` : 'Later page'),
    following,
  );
}
