// Search across the registry (GET /api/search?q=&n=&last=): what the header's search box
// sends. The box's syntax is the API's `q`: a digest (full or 12+ hex digits),
// label:key=value, tag:glob, pkg:name@version; a plain name goes to the repositories
// page's filter instead (app.js). Results are grouped by repository, each tag linking to
// its image page; while the index is still being built (`complete: false`) the page says
// so and asks again.

import {request} from '../api.js';
import {h, replace} from '../dom.js';
import {plural} from '../format.js';
import {pager, position} from '../components/pager.js';
import {digest, ident, pageTitle} from '../components/parts.js';
import {emptyState, errorBox, latestLoader} from '../components/status.js';

const N = 50;
const POLL_MS = 2000;
const KINDS = {
  manifest: 'is this digest',
  index: 'is this index',
  child: 'holds it',
  config: 'config',
  layer: 'layer',
  label: 'label',
  tag: 'tag',
  package: 'package',
};

export const title = (route) => `Search: ${route.query.get('q') ?? ''}`;

export const key = () => 'search';

function ask(q, last, signal) {
  const params = new URLSearchParams({q, n: String(N)});
  if (last) params.set('last', last);
  return request('GET', `/api/search?${params}`, {signal});
}

export function mount(root, route, ctx) {
  const {link, navigate} = ctx;
  const summary = h('p', {class: 'page-subtitle', 'aria-live': 'polite', 'data-testid': 'search-summary'});
  const heading = pageTitle('Search');
  const results = h('div', {class: 'results', 'data-testid': 'search-results'});
  const loader = latestLoader(results, 'Searching…');
  root.append(h('div', {class: 'page-head'}, heading, summary), results);
  let timer = null;
  let current = route;

  async function load(route) {
    window.clearTimeout(timer);
    current = route;
    const q = route.query.get('q') ?? '';
    const at = position(route);
    if (!q) {
      summary.textContent = '';
      replace(results, emptyState('Type in the search box above: a digest, label:key=value, tag:glob or pkg:name@version.'));
      return;
    }
    await loader.run(
      (signal) => ask(q, at.last, signal),
      (page) => {
        render(q, page, at);
        if (!page.complete) timer = window.setTimeout(() => load(current), POLL_MS);
      },
      (error) => {
        summary.textContent = '';
        replace(results, errorBox(error, 'The search could not be made'));
      },
    );
  }

  function render(q, page, at) {
    const indexed = `${plural(page.indexed.images, 'image')} in ${plural(page.indexed.repositories, 'repository', 'repositories')} indexed`;
    const state = page.complete ? '' : ' — still indexing, more may come';
    summary.textContent = `${plural(page.results.length, 'result')} for ${page.query.kind} “${page.query.text}” (${indexed})${state}`;
    if (!page.results.length) {
      replace(results, emptyState(`Nothing found for “${q}”.`));
      return;
    }
    const groups = new Map();
    for (const r of page.results) {
      if (!groups.has(r.repository)) groups.set(r.repository, []);
      groups.get(r.repository).push(r);
    }
    const go = (last, cursors) => navigate(link.search({q, last}), {state: {cursors}});
    replace(
      results,
      [...groups].map(([repo, rows]) => group(repo, rows)),
      pager(at, page.next, go, {label: 'Result pages'}),
    );
  }

  function group(repo, rows) {
    return h(
      'section',
      {class: 'search-group', 'data-testid': 'search-group', dataset: {repository: repo}},
      h('h2', {class: 'search-group__title'}, ident(repo, {tag: 'a', href: link.tags(repo), className: 'repo-link'})),
      h('ul', {class: 'search-hits'}, rows.map((r) => hit(repo, r))),
    );
  }

  function hit(repo, r) {
    const value = r.match.value.startsWith('sha256:')
      ? digest(r.match.value)
      : ident(r.match.value, {tag: 'code'});
    return h(
      'li',
      {class: 'search-hit', 'data-testid': 'search-hit'},
      ident(r.tag, {tag: 'a', href: link.image(repo, r.tag), className: 'search-hit__tag'}),
      r.platform ? h('span', {class: 'chip', title: r.platform}, r.platform) : null,
      h('span', {class: 'search-hit__match'}, h('span', {class: 'badge'}, KINDS[r.match.kind] ?? r.match.kind), ' ', value),
    );
  }

  load(route);
  return {
    update: (next) => load(next),
    unmount: () => {
      window.clearTimeout(timer);
      loader.abort();
    },
  };
}
