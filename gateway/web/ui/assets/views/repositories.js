// The catalog: every repository with its tag count, size and last change, searched on
// the server as you type (GET /api/repositories?q=&n=&last=), paged with the API's
// cursor. Size and last change are shown when the gateway knows them already ("—"
// otherwise: asking for them would cost a cold page upstream requests); their columns
// have a fixed width, so a value arriving later moves nothing.

import {h, replace} from '../dom.js';
import {plural} from '../format.js';
import {onChange} from '../changes.js';
import {remember, takeOr} from '../prefetch.js';
import {pager, position} from '../components/pager.js';
import {ident, pageTitle, scroll, size, timeAgo} from '../components/parts.js';
import {emptyState, errorBox, latestLoader} from '../components/status.js';
import {perPageSelect, searchBox} from '../components/controls.js';
import {registryUsage} from './usage.js';

const DEFAULT_N = 20;

export const title = () => 'Repositories';

/** The request of a page of repositories, and the key prefetch.js knows it by. */
function repositoriesRequest(api, route) {
  const query = readQuery(route);
  const params = {q: query.q, last: position(route).last, n: query.n};
  return {key: `repositories ${JSON.stringify(params)}`, ask: (signal) => api.repositories(params, signal)};
}

export function prefetch(route, api) {
  const {key, ask} = repositoriesRequest(api, route);
  remember(key, ask());
}

export function mount(root, route, ctx) {
  const {api, link, navigate} = ctx;
  const summary = h('p', {class: 'page-subtitle', 'aria-live': 'polite', 'data-testid': 'repositories-summary'});
  const results = h('div', {class: 'results'});
  const loader = latestLoader(results, 'Loading repositories…');
  let query = readQuery(route);

  // Typing replaces the history entry (Back leaves the page rather than replaying
  // keystrokes) and starts again at the first page.
  const search = searchBox({
    id: 'repository-search',
    label: 'Search repositories',
    placeholder: 'Filter by name, e.g. team/app',
    value: query.q,
    onSearch: (q) => navigate(link.repositories({q, n: nParam(query.n)}), {replace: true}),
  });
  const perPage = perPageSelect({
    id: 'repository-per-page',
    value: query.n,
    onChange: (n) => navigate(link.repositories({q: query.q, n: nParam(n)})),
  });

  root.append(
    h('div', {class: 'page-head'}, pageTitle('Repositories'), summary),
    h('div', {class: 'toolbar'}, search.element, perPage.element),
    results,
  );
  let usage = null; // the storage chart, put below the list once the list is drawn
  const showUsage = () => {
    if (usage) return;
    usage = registryUsage(ctx);
    root.append(usage.section);
  };

  async function load(route) {
    query = readQuery(route);
    search.sync(query.q);
    perPage.sync(query.n);
    const at = position(route);
    const request = repositoriesRequest(api, route);
    await loader.run(
      (signal) => takeOr(request.key, () => request.ask(signal)),
      (page) => {
        render(page, at);
        showUsage();
      },
      (error) => {
        summary.textContent = '';
        replace(results, errorBox(error, 'The repositories could not be listed'));
      },
    );
  }

  function render(page, at) {
    summary.textContent = query.q
      ? `${plural(page.total, 'repository', 'repositories')} matching “${query.q}”`
      : `${plural(page.total, 'repository', 'repositories')} in this registry`;
    if (!page.repositories.length) {
      replace(results, query.q ? noMatch() : emptyRegistry());
      return;
    }
    const go = (last, cursors) =>
      navigate(link.repositories({q: query.q, n: nParam(query.n), last}), {state: {cursors}});
    const first = (at.page - 1) * query.n + 1;
    replace(
      results,
      scroll(
        h(
          'table',
          {class: 'table table--stack', 'data-testid': 'repositories'},
          h('caption', {class: 'visually-hidden'}, `Repositories ${first}–${first + page.repositories.length - 1} of ${page.total}`),
          h('thead', {}, h('tr', {},
            h('th', {scope: 'col'}, 'Repository'),
            h('th', {scope: 'col', class: 'num col-tags'}, 'Tags'),
            h('th', {scope: 'col', class: 'num col-size'}, 'Size'),
            h('th', {scope: 'col', class: 'col-date'}, 'Last changed'))),
          h('tbody', {}, page.repositories.map(row)),
        ),
      ),
      pager(at, page.next, go, {label: 'Repository pages'}),
    );
  }

  function row(repo) {
    const count = repo.error
      ? h('span', {class: 'row-error', role: 'note'}, `Tags could not be read: ${repo.error.message} `, h('code', {}, repo.error.code))
      : plural(repo.tag_count ?? 0, 'tag');
    return h(
      'tr',
      {class: repo.error ? 'is-error' : null, dataset: {name: repo.name}},
      h('td', {'data-label': 'Repository', class: 'cell-ident'}, ident(repo.name, {tag: 'a', href: link.tags(repo.name), className: 'repo-link'})),
      h('td', {'data-label': 'Tags', class: repo.error ? 'row-error-cell' : 'num'}, count),
      h('td', {'data-label': 'Size', class: 'num', 'data-testid': 'repository-size'}, size(repo.bytes ?? null)),
      h('td', {'data-label': 'Last changed', 'data-testid': 'repository-changed'}, timeAgo(repo.last_changed ?? null)),
    );
  }

  function noMatch() {
    const clear = h('button', {type: 'button', class: 'button'}, 'Clear search');
    clear.addEventListener('click', () => navigate(link.repositories({n: nParam(query.n)})));
    return emptyState(`No repository matches “${query.q}”.`, clear);
  }

  function emptyRegistry() {
    return emptyState(
      'This registry has no repositories yet.',
      h('p', {class: 'muted'}, 'Push an image to see it here: ', h('code', {}, `docker push ${ctx.pullHost}/<name>:<tag>`)),
    );
  }

  // a delete changes a repository's size and tag count: the list is read again
  let current = route;
  const unsubscribe = onChange(() => load(current));
  load(route);
  return {
    update: (next) => {
      current = next;
      return load(next);
    },
    unmount: () => {
      unsubscribe();
      loader.abort();
      usage?.stop();
    },
  };
}

function readQuery(route) {
  const n = Number.parseInt(route.query.get('n') ?? '', 10);
  return {q: route.query.get('q') ?? '', n: n >= 1 && n <= 1000 ? n : DEFAULT_N};
}

/** The page size for the URL: left out when it is the default. */
function nParam(n) {
  return n === DEFAULT_N ? undefined : n;
}
