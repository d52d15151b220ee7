// Any URL the router does not know.

import {h} from '../dom.js';
import {pageTitle} from '../components/parts.js';

export const title = () => 'Page not found';

export function mount(root, route, ctx) {
  root.append(
    h(
      'div',
      {class: 'empty-state empty-state--page', 'data-testid': 'not-found'},
      pageTitle('Page not found'),
      h('p', {}, 'Nothing lives at ', h('code', {}, route.href), '.'),
      h('p', {}, h('a', {href: ctx.link.repositories()}, 'Show all repositories')),
    ),
  );
  return {};
}
