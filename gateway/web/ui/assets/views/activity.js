// The activity feed (GET /api/activity): pushes, pulls and deletes, newest first, of the
// repositories the registry lets the user pull, filtered by repository, action and user.
// The first page is read again every few seconds (a push shows up within seconds);
// later pages stay as they are. Rows are added at the top only: nothing drawn moves
// sideways, and the table's columns have fixed widths.

import {request} from '../api.js';
import {h, replace} from '../dom.js';
import {shortDigest} from '../format.js';
import {pager, position} from '../components/pager.js';
import {cell, ident, pageTitle, scroll, timeAgo} from '../components/parts.js';
import {emptyState, errorBox, latestLoader} from '../components/status.js';

const REFRESH_MS = 3000;
const N = 50;
const ACTIONS = ['', 'push', 'pull', 'delete'];

export const title = () => 'Activity';

export const activityApi = {
  feed: (params, signal) => request('GET', '/api/activity', {params: {...params, n: N}, signal}),
};

function readQuery(route) {
  const q = route.query;
  return {
    repository: q.get('repository') || '',
    action: ACTIONS.includes(q.get('action') || '') ? q.get('action') || '' : '',
    actor: q.get('actor') || '',
  };
}

function filterInput(id, label, value, placeholder) {
  const input = h('input', {id, type: 'search', class: 'input', value, placeholder, autocomplete: 'off', spellcheck: 'false'});
  return {input, element: h('div', {class: 'field'}, h('label', {for: id, class: 'field__label'}, label), input)};
}

export function mount(root, route, ctx) {
  const {link, navigate} = ctx;
  let query = readQuery(route);
  let at = position(route);
  const results = h('div', {class: 'results activity-results'});
  const loader = latestLoader(results, 'Loading activity…');
  let timer = null;
  let stopped = false;

  const repository = filterInput('activity-repository', 'Repository', query.repository, 'every repository');
  const actor = filterInput('activity-actor', 'User', query.actor, 'anyone');
  const action = h('select', {id: 'activity-action', class: 'select'},
    ACTIONS.map((a) => h('option', {value: a, selected: a === query.action}, a || 'any action')));
  const form = h(
    'form',
    {class: 'toolbar activity-filters', role: 'search', 'aria-label': 'Filter the activity'},
    repository.element,
    h('div', {class: 'field'}, h('label', {for: 'activity-action', class: 'field__label'}, 'Action'), action),
    actor.element,
    h('button', {type: 'submit', class: 'button'}, 'Filter'),
  );
  const apply = () =>
    navigate(link.activity({repository: repository.input.value.trim(), action: action.value, actor: actor.input.value.trim()}));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    apply();
  });
  action.addEventListener('change', apply);

  root.append(
    h('div', {class: 'page-head'}, pageTitle('Activity'),
      h('p', {class: 'page-subtitle'}, 'Pushes, pulls and deletes, newest first. A pull is a manifest download by a client; browsing here is not one.')),
    form,
    results,
  );

  function row(e) {
    const target = e.tag ?? (e.digest ? shortDigest(e.digest) : '(the repository)');
    const targetEl = e.tag
      ? ident(e.tag, {tag: 'a', href: link.image(e.repository, e.tag), className: 'tag-link'})
      : h('code', {class: 'digest ident', title: e.digest ?? ''}, target);
    return h(
      'tr',
      {dataset: {action: e.action, id: e.id}},
      cell('When', timeAgo(e.time)),
      cell('Action', h('span', {class: `badge badge--${e.action}`}, e.action)),
      cell('Repository', ident(e.repository, {tag: 'a', href: link.tags(e.repository)})),
      cell('Tag or digest', targetEl),
      cell('User', e.actor ? ident(e.actor) : h('span', {class: 'muted'}, 'anonymous')),
      cell('Client', ident([e.client?.addr, e.client?.user_agent].filter(Boolean).join(' · ') || '—', {className: 'muted'}),
        e.via === 'gateway' ? h('span', {class: 'badge badge--via', title: 'made through the gateway'}, 'gateway') : null),
    );
  }

  let shown = null; // what is drawn: a refresh that brings nothing new redraws nothing

  function show(page) {
    const signature = JSON.stringify([page.events.map((e) => e.id), page.next]);
    if (signature === shown && results.firstChild) return;
    shown = signature;
    if (!page.events.length) {
      replace(results, emptyState(query.repository || query.actor || query.action
        ? 'No activity matches these filters.'
        : 'No activity recorded yet. Pushes, pulls and deletes the registry notifies appear here.'));
    } else {
      const go = (last, cursors) => navigate(link.activity({...query, last}), {state: {cursors}});
      replace(
        results,
        scroll(
          h(
            'table',
            {class: 'table table--stack table--activity', 'data-testid': 'activity'},
            h('caption', {class: 'visually-hidden'}, 'Activity, newest first'),
            h('thead', {}, h('tr', {}, ['When', 'Action', 'Repository', 'Tag or digest', 'User', 'Client'].map((c) => h('th', {scope: 'col'}, c)))),
            h('tbody', {}, page.events.map(row)),
          ),
        ),
        pager(at, page.next, go, {label: 'Activity pages'}),
        h('p', {class: 'muted activity-since'}, 'Recorded since ', timeAgo(page.tracking_since), '.'),
      );
    }
  }

  function fail(error) {
    replace(results, errorBox(error, 'The activity could not be read'));
  }

  function load() {
    window.clearTimeout(timer);
    loader
      .run((signal) => activityApi.feed({...query, last: at.last}, signal), show, fail)
      .finally(() => {
        // only the first page follows what happens; a later page stays put
        if (!stopped && !at.last) timer = window.setTimeout(load, REFRESH_MS);
      });
  }

  load();
  return {
    update(next) {
      shown = null;
      query = readQuery(next);
      at = position(next);
      load();
    },
    unmount() {
      stopped = true;
      window.clearTimeout(timer);
      loader.abort();
    },
  };
}
