// The stale report (GET /api/stale?days=): tags whose image nobody pulled for that many
// days, with what deleting only that tag would free, and per repository a way into the
// clean-up dialog with "not pulled for" filled in (its preview shows what goes and why).

import {request} from '../api.js';
import {h, replace} from '../dom.js';
import {formatBytes, plural} from '../format.js';
import {pager, position} from '../components/pager.js';
import {cell, digest, ident, pageTitle, scroll, size, timeAgo} from '../components/parts.js';
import {emptyState, errorBox, latestLoader} from '../components/status.js';
import {openRetention} from '../components/retention.js';

const CHOICES = [7, 30, 90, 180, 365];
const DEFAULT_DAYS = 30;
const N = 50;

export const title = () => 'Stale images';

export const staleApi = {
  page: (params, signal) => request('GET', '/api/stale', {params: {...params, n: N}, signal}),
};

function readDays(route) {
  const days = Number(route.query.get('days'));
  return CHOICES.includes(days) ? days : DEFAULT_DAYS;
}

export function mount(root, route, ctx) {
  const {link, navigate} = ctx;
  let days = readDays(route);
  let at = position(route);
  const summary = h('p', {class: 'page-subtitle', 'aria-live': 'polite', 'data-testid': 'stale-summary'}, '\u00a0');
  const results = h('div', {class: 'results'});
  const loader = latestLoader(results, 'Looking for stale tags…');

  const select = h('select', {id: 'stale-days', class: 'select'},
    CHOICES.map((d) => h('option', {value: String(d), selected: d === days}, `${d} days`)));
  select.addEventListener('change', () => navigate(link.stale({days: select.value})));

  root.append(
    h('div', {class: 'page-head'}, pageTitle('Stale images'),
      h('p', {class: 'page-subtitle'}, 'Tags whose image nobody pulled for a while, by repository, with what deleting only that tag would free. A tag pushed within the period is too new to be listed.'),
      summary),
    h('div', {class: 'toolbar'}, h('div', {class: 'field'}, h('label', {for: 'stale-days', class: 'field__label'}, 'Not pulled for'), select)),
    results,
  );

  function cleanUp(repository) {
    const button = h('button', {type: 'button', class: 'button button--small', 'data-testid': 'stale-clean-up'}, 'Clean up…');
    button.addEventListener('click', () => openRetention(ctx, repository, {not_pulled_days: days, sort: 'version'}));
    return button;
  }

  function show(page) {
    const freed = page.tags.reduce((sum, t) => sum + (t.exclusive_bytes ?? 0), 0);
    replace(summary, `${plural(page.tags.length, 'tag')} on this page not pulled for ${days} days; deleting only them would free ${formatBytes(freed)}. Never pulled since recording began (`,
      timeAgo(page.tracking_since), ') counts as not pulled.');
    const go = (last, cursors) => navigate(link.stale({days, last}), {state: {cursors}});
    if (!page.tags.length) {
      // one page reads a bounded number of repositories: more may follow
      replace(results, page.next
        ? [emptyState('No stale tag in the repositories looked at so far.'), pager(at, page.next, go, {label: 'Stale pages'})]
        : emptyState(`Every tag was pulled (or pushed) within ${days} days.`));
      return;
    }
    const repositories = new Set(page.tags.map((t) => t.repository));
    const firstOf = new Set();
    replace(
      results,
      scroll(
        h(
          'table',
          {class: 'table table--stack table--stale', 'data-testid': 'stale'},
          h('caption', {class: 'visually-hidden'}, `Tags not pulled for ${days} days`),
          h('thead', {}, h('tr', {}, ['Repository', 'Tag', 'Last pulled', 'Last pushed', 'Frees', 'Digest', 'Actions'].map((c) => h('th', {scope: 'col', class: c === 'Frees' ? 'num' : null}, c)))),
          h('tbody', {}, page.tags.map((t) => {
            const first = !firstOf.has(t.repository) && ctx.canDelete;
            firstOf.add(t.repository);
            return h(
              'tr',
              {dataset: {repository: t.repository, tag: t.tag}},
              cell('Repository', ident(t.repository, {tag: 'a', href: link.tags(t.repository)})),
              cell('Tag', ident(t.tag, {tag: 'a', href: link.image(t.repository, t.tag), className: 'tag-link'})),
              cell('Last pulled', timeAgo(t.last_pulled)),
              cell('Last pushed', timeAgo(t.last_pushed)),
              h('td', {'data-label': 'Frees', class: 'num'}, size(t.exclusive_bytes)),
              cell('Digest', digest(t.digest)),
              h('td', {'data-label': 'Actions', class: 'actions'}, first ? cleanUp(t.repository) : null),
            );
          })),
        ),
      ),
      pager(at, page.next, go, {label: 'Stale pages'}),
      h('p', {class: 'muted'}, `${plural(repositories.size, 'repository', 'repositories')} on this page. “Clean up…” opens the repository's clean-up with “not pulled for ${days} days” filled in: its preview lists what would go and why the rest stays.`),
    );
  }

  function load() {
    loader.run((signal) => staleApi.page({days, last: at.last}, signal), show, (error) => replace(results, errorBox(error, 'The stale report could not be built')));
  }

  load();
  return {
    update(next) {
      days = readDays(next);
      at = position(next);
      select.value = String(days);
      load();
    },
    unmount() {
      loader.abort();
    },
  };
}
