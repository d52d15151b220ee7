// The tags of one repository, with details (GET /api/repositories/{name}/tags?details=true):
// kind, platforms, size, created, digest; sorted, filtered and paged on the server. With
// deletes enabled, tags can be selected and deleted together (deletes.js).
//
// Nothing on the page moves once drawn: what depends on the list's length (the size
// note, the storage panel) is put below the list once the list is there, and a
// repository the registry does not know gets a page of its own instead of the controls.

import {h, replace} from '../dom.js';
import {plural} from '../format.js';
import {onChange} from '../changes.js';
import {remember, takeOr} from '../prefetch.js';
import {copyButton} from '../components/copy.js';
import {perPageSelect, searchBox, sortSelect, SORTS} from '../components/controls.js';
import {pager, position} from '../components/pager.js';
import {
  SIZE_NOTE,
  breadcrumbs,
  cell,
  digest,
  ident,
  kindBadge,
  pageTitle,
  platformChips,
  pullCommandFor,
  scroll,
  size,
  timeAgo,
  wrappableName,
} from '../components/parts.js';
import {emptyState, latestLoader, errorBox} from '../components/status.js';
import {confirmBulkDelete, confirmTagDelete} from '../deletes.js';
import {artifactTagsToggle, signedBadge} from '../components/referrers.js';
import {selection} from '../components/selection.js';
import {tagUsage} from './usage.js';
import {lastUse} from '../components/activity_marks.js';

const DEFAULT_N = 20;
const DEFAULT_SORT = 'name';
// A long page is drawn this many rows at a time, each part in a task of its own, so the
// page answers input meanwhile; what goes below the list waits for its last row.
const ROWS_AT_ONCE = 25;

export const key = (route) => route.params.name;
export const title = (route) => route.params.name;

/** The request of a page of tags, and the key prefetch.js knows it by. */
function tagsRequest(api, route) {
  const name = route.params.name;
  const query = readQuery(route);
  const at = position(route);
  const params = {q: query.q, last: at.last, n: query.n, sort: query.sort, artifacts: query.artifacts};
  return {key: `tags ${name} ${JSON.stringify(params)}`, ask: (signal) => api.tags(name, params, signal)};
}

export function prefetch(route, api) {
  const {key, ask} = tagsRequest(api, route);
  remember(key, ask());
}

export function mount(root, route, ctx) {
  let showUse = false; // a "Last used" column on the page drawn (see draw)
  const {api, link, navigate} = ctx;
  const name = route.params.name;
  const summary = h('p', {class: 'page-subtitle', 'aria-live': 'polite'});
  const results = h('div', {class: 'results'});
  const loader = latestLoader(results, 'Loading tags…');
  let current = route;
  let query = readQuery(route);
  let below = null; // the size note and the storage panel, once the first list is drawn
  const selected = ctx.canDelete ? selection({noun: 'tag', onDelete: (chosen) => deleteSelected(chosen)}) : null;

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
    h('div', {class: 'page-head'}, pageTitle(wrappableName(name)), summary),
    h('div', {class: 'toolbar'}, search.element, sort.element, perPage.element),
    results,
  );

  async function load(route) {
    current = route;
    query = readQuery(route);
    search.sync(query.q);
    sort.sync(query.sort);
    perPage.sync(query.n);
    const at = position(route);
    const request = tagsRequest(api, route);
    await loader.run(
      (signal) => takeOr(request.key, () => request.ask(signal)),
      async (page) => {
        if (await render(page, at)) showBelow();
      },
      (error) => {
        if (error.code === 'NAME_UNKNOWN') {
          unknownRepository(error);
          return;
        }
        summary.textContent = '';
        replace(results, errorBox(error, `The tags of ${name} could not be listed`));
      },
    );
  }

  /** The size note and the storage panel go below the list, after it is drawn. */
  function showBelow() {
    if (below) return;
    below = tagUsage(ctx, name);
    root.append(h('p', {class: 'footnote'}, SIZE_NOTE), below.section);
  }

  /** A repository the registry does not know: say so, without controls that cannot work. */
  function unknownRepository(error) {
    replace(
      root,
      breadcrumbs([['Repositories', link.repositories()], [name]]),
      h(
        'div',
        {class: 'empty-state empty-state--page', 'data-testid': 'unknown-repository'},
        pageTitle('Repository not found'),
        h('p', {}, 'The registry has no repository named ', h('code', {}, name), ' with a tag in it (or it is not yours to see).'),
        h('p', {class: 'muted'}, h('code', {}, error.code), ` · HTTP ${error.status}`),
        h('p', {}, h('a', {href: link.repositories({q: name.split('/').pop()})}, 'Search the repositories'), ' · ',
          h('a', {href: link.repositories()}, 'Show all repositories')),
      ),
    );
  }

  let drawing = 0; // the newest render: an older one stops adding rows

  /** Draw a page of tags; → true once every row is in (false: a newer page came). */
  async function render(page, at) {
    const mine = ++drawing;
    summary.textContent = query.q
      ? `${plural(page.total, 'tag')} matching “${query.q}”`
      : plural(page.total, 'tag');
    const note = artifactTagsToggle(page, query.artifacts, (artifacts) => to({artifacts}));
    selected?.clear();
    if (!page.tags.length) {
      replace(results, note, query.q ? noMatch() : emptyState('This repository has no tags.'));
      return true;
    }
    const go = (last, cursors) => navigate(link.tags(name, urlQuery({...query, last})), {state: {cursors}});
    // "Last used" only where the activity log knows something of this page's tags: a
    // registry that does not notify the gateway keeps the table as it was.
    showUse = page.tags.some((t) => t.last_pulled || t.last_pushed);
    const columns = ['Tag', 'Kind', 'Platforms', 'Size', 'Created', ...(showUse ? ['Last used'] : []), 'Digest', 'Actions'];
    const body = h('tbody', {}, page.tags.slice(0, ROWS_AT_ONCE).map(row));
    replace(
      results,
      note,
      selected ? selected.bar : null,
      scroll(
        h(
          'table',
          {class: 'table table--stack table--tags', 'data-testid': 'tags'},
          h('caption', {class: 'visually-hidden'}, `Tags of ${name}, ${sortLabel(query.sort)}`),
          h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col', class: c === 'Size' ? 'num' : null}, c)))),
          body,
        ),
      ),
    );
    for (let start = ROWS_AT_ONCE; start < page.tags.length; start += ROWS_AT_ONCE) {
      await nextTask();
      if (mine !== drawing) return false;
      body.append(...page.tags.slice(start, start + ROWS_AT_ONCE).map(row));
    }
    results.append(pager(at, page.next, go, {label: 'Tag pages'}) ?? '');
    return true;
  }

  function row(tag) {
    const pull = pullCommandFor(ctx.pullHost, name, tag.name, tag);
    const actions = [
      copyButton(pull.command, {
        label: 'Copy pull',
        ariaLabel: `Copy pull command for ${tag.name} (${pull.tool} pull)`,
      }),
    ];
    if (ctx.canDelete) {
      const remove = h('button', {type: 'button', class: 'button button--danger-quiet button--small', 'aria-label': `Delete tag ${tag.name}`}, 'Delete');
      remove.addEventListener('click', () => deleteTag(tag));
      actions.push(remove);
    }
    const details = tag.error
      ? [h('td', {colspan: showUse ? '6' : '5', class: 'row-error', 'data-label': 'Error'}, `${tag.error.message} `, h('code', {}, tag.error.code))]
      : [
          cell('Kind', h('span', {class: 'badges'}, kindBadge(tag), signedBadge(tag.referrers))),
          cell('Platforms', platformChips(tag.platforms)),
          h('td', {'data-label': 'Size', class: 'num'}, size(tag.size)),
          cell('Created', timeAgo(tag.created)),
          showUse ? cell('Last used', lastUse(tag)) : null,
          cell('Digest', digest(tag.digest)),
        ];
    return h(
      'tr',
      {class: tag.error ? 'is-error' : null, dataset: {tag: tag.name}},
      h('td', {'data-label': 'Tag', class: 'cell-ident'}, h('span', {class: 'cell__value'},
        selected && tag.digest ? selected.box(tag.name, tag.digest) : null,
        ident(tag.name, {tag: 'a', href: link.image(name, tag.name), className: 'tag-link'}))),
      ...details,
      h('td', {'data-label': 'Actions', class: 'actions'}, actions),
    );
  }

  async function deleteTag(tag) {
    // every view of the repository reloads once it is gone (changes.js)
    await confirmTagDelete(ctx, name, tag.name, tag.digest);
  }

  async function deleteSelected(chosen) {
    await confirmBulkDelete(ctx, name, chosen);
  }

  function noMatch() {
    const clear = h('button', {type: 'button', class: 'button'}, 'Clear search');
    clear.addEventListener('click', () => to({q: ''}));
    return emptyState(`No tag matches “${query.q}”.`, clear);
  }

  const unsubscribe = onChange((repository) => {
    if (repository === name) load(current);
  });
  load(route);
  return {
    update: load,
    unmount: () => {
      unsubscribe();
      loader.abort();
      below?.stop();
    },
  };
}

/** A promise that settles in a task of its own (after the browser drew and took input). */
function nextTask() {
  return new Promise((resolve) => window.setTimeout(resolve, 0));
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
