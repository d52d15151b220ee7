// "pulled 3 days ago by alice" and "pushed …" for a tag row or the image page, from the
// last_pulled / last_pushed the API puts on them (the activity log). Nothing recorded
// reads "not pulled since recording began" rather than a guess.

import {h} from '../dom.js';
import {relativeTime} from '../format.js';

function mark(verb, iso, by) {
  return h(
    'span',
    {class: 'use-mark', dataset: {mark: verb}},
    `${verb} `,
    h('time', {datetime: iso, title: iso}, relativeTime(iso)),
    by ? [' by ', h('span', {class: 'ident use-mark__by', title: by}, by)] : null,
  );
}

/** The last pull and push of a tag row or an image detail, one line each. */
export function lastUse(item) {
  const pulled = item?.last_pulled
    ? mark('pulled', item.last_pulled, item.last_pulled_by)
    : h('span', {class: 'use-mark muted', dataset: {mark: 'none'}}, 'no pull recorded');
  const pushed = item?.last_pushed ? mark('pushed', item.last_pushed, item.last_pushed_by) : null;
  return h('span', {class: 'use-marks', 'data-testid': 'last-use'}, pulled, pushed);
}
