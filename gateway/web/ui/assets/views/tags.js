// The tags of one repository, with details (GET /api/repositories/{name}/tags?details=true):
// kind, platforms, size, created, digest; sorted, filtered and paged on the server.

import {h, replace} from '../dom.js';
import {plural} from '../format.js';
import {copyButton} from '../components/copy.js';
import {perPageSelect, searchBox, sortSelect, SORTS} from '../components/controls.js';
import {pager, position} from '../components/pager.js';
import {
  SIZE_NOTE,
  breadcrumbs,
  cell,
  digest,
  kindBadge,
  pageTitle,
  platformChips,
  pullCommand,
  scroll,
  size,
  timeAgo,
} from '../components/parts.js';
import {emptyState, errorBox, latestLoader} from '../components/status.js';
import {confirmTagDelete} from '../deletes.js';
import {artifactTagsToggle, signedBadge} from '../components/referrers.js';
import {tagUsage} from './usage.js';

const DEFAULT_N = 20;
const DEFAULT_SORT = 'name';

export const key = (route) => route.params.name;
export const title = (route) => route.params.name;

export function mount(root, route, ctx) {
  const {api, link, navigate} = ctx;
  const name = route.params.name;
  const summary = h('p', {class: 'page-subtitle', 'aria-live': 'polite'});
  const results = h('div', {class: 'results'});
  const loader = latestLoader(results, 'Loading tags…');
  let current = route;
  let query = readQuery(route);

  const to = (changes, options) => navigate(link.tags(name, urlQuery({...query, last: '', ...changes})), options);
  const search = searchBox({
    id: 'tag-search',
    label: 'Search tags',
    placeholder: 'Filter by tag, e.g. 1.2',
    value: query.q,
    onSearch: (q) => to({q}, {replace: true}),
  });
  const sort = sortSelect({id: 'tag-sort', value: query.sort, onChange: (s) => to({sort: s})});
  const perPage = perPageSelect({id: 'tag-per-page', value: query.n, onChange: (n) => to({n})});

  root.append(
    breadcrumbs([['Repositories', link.repositories()], [name]]),
    h('div', {class: 'page-head'}, pageTitle(name), summary),
    h('div', {class: 'toolbar'}, search.element, sort.element, perPage.element),
    results,
    h('p', {class: 'footnote'}, SIZE_NOTE),
  );
  tagUsage(root, ctx, name);

  async function load(route) {
    current = route;
    query = readQuery(route);
    search.sync(query.q);
    sort.sync(query.sort);
    perPage.sync(query.n);
    const at = position(route);
    await loader.run(
      (signal) => api.tags(name, {q: query.q, last: at.last, n: query.n, sort: query.sort, artifacts: query.artifacts}, signal),
      (page) => render(page, at),
      (error) => {
        summary.textContent = '';
        replace(results, errorBox(error, `The tags of ${name} could not be listed`));
      },
    );
  }

  function render(page, at) {
    summary.textContent = query.q
      ? `${plural(page.total, 'tag')} matching “${query.q}”`
      : plural(page.total, 'tag');
    summary.append(' ', artifactTagsToggle(page, query.artifacts, (artifacts) => to({artifacts})) ?? '');
    if (!page.tags.length) {
      replace(results, query.q ? noMatch() : emptyState('This repository has no tags.'));
      return;
    }
    const go = (last, cursors) => navigate(link.tags(name, urlQuery({...query, last})), {state: {cursors}});
    const columns = ['Tag', 'Kind', 'Platforms', 'Size', 'Created', 'Digest', 'Actions'];
    replace(
      results,
      scroll(
        h(
          'table',
          {class: 'table table--stack table--tags', 'data-testid': 'tags'},
          h('caption', {class: 'visually-hidden'}, `Tags of ${name}, ${sortLabel(query.sort)}`),
          h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col', class: c === 'Size' ? 'num' : null}, c)))),
          h('tbody', {}, page.tags.map(row)),
        ),
      ),
      pager(at, page.next, go, {label: 'Tag pages'}),
    );
  }

  function row(tag) {
    const actions = [
      copyButton(pullCommand(ctx.pullHost, name, tag.name), {
        label: 'Copy pull',
        ariaLabel: `Copy docker pull command for ${tag.name}`,
      }),
    ];
    if (ctx.canDelete) {
      const remove = h('button', {type: 'button', class: 'button button--danger-quiet', 'aria-label': `Delete tag ${tag.name}`}, 'Delete');
      remove.addEventListener('click', () => deleteTag(tag));
      actions.push(remove);
    }
    const details = tag.error
      ? [h('td', {colspan: '5', class: 'row-error', 'data-label': 'Error'}, `${tag.error.message} `, h('code', {}, tag.error.code))]
      : [
          cell('Kind', kindBadge(tag)),
          cell('Platforms', platformChips(tag.platforms)),
          h('td', {'data-label': 'Size', class: 'num'}, size(tag.size)),
          cell('Created', timeAgo(tag.created)),
          cell('Digest', digest(tag.digest)),
        ];
    return h(
      'tr',
      {class: tag.error ? 'is-error' : null, dataset: {tag: tag.name}},
      cell('Tag', h('a', {href: link.image(name, tag.name), class: 'tag-link'}, tag.name), ' ', signedBadge(tag.referrers)),
      ...details,
      h('td', {'data-label': 'Actions', class: 'actions'}, actions),
    );
  }

  async function deleteTag(tag) {
    // the list is reloaded after, so the notice needs to survive no navigation
    if (await confirmTagDelete(ctx, name, tag.name, tag.digest)) load(current);
  }

  function noMatch() {
    const clear = h('button', {type: 'button', class: 'button'}, 'Clear search');
    clear.addEventListener('click', () => to({q: ''}));
    return emptyState(`No tag matches “${query.q}”.`, clear);
  }

  load(route);
  return {update: load, unmount: () => loader.abort()};
}

function readQuery(route) {
  const n = Number.parseInt(route.query.get('n') ?? '', 10);
  const sort = route.query.get('sort') ?? DEFAULT_SORT;
  return {
    q: route.query.get('q') ?? '',
    sort: SORTS.some(([k]) => k === sort) ? sort : DEFAULT_SORT,
    n: n >= 1 && n <= 1000 ? n : DEFAULT_N,
    artifacts: route.query.get('artifacts') === '1',
  };
}

/** The query for the URL, defaults left out. */
function urlQuery({q, sort, n, last, artifacts}) {
  return {q, sort: sort === DEFAULT_SORT ? undefined : sort, n: n === DEFAULT_N ? undefined : n, last, artifacts: artifacts ? '1' : undefined};
}

function sortLabel(sort) {
  return (SORTS.find(([k]) => k === sort)?.[1] ?? sort).replace('→', 'to');
}
