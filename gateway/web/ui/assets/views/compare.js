// Two images of a repository compared (GET /api/repositories/{name}/diff): pick two
// tags, then the config differences, then the files added, removed and changed (by
// content, mode, owner or link target; a new mtime alone is no change), filtered by
// change and directory, a page at a time.

import {isAbort} from '../api.js';
import {remember, takeOr} from '../prefetch.js';
import {h, replace} from '../dom.js';
import {formatBytes, grouped} from '../format.js';
import {pager, position} from '../components/pager.js';
import {breadcrumbs, ident, pageTitle, scroll, size, wrappableName} from '../components/parts.js';
import {emptyState, errorBox, loading} from '../components/status.js';
import {changeBadge, entrySize, filesPaths, modeText, whenIndexed} from '../components/files.js';

const PAGE = 200;
const TAGS = 100;

export const key = (route) => `${route.params.name}\n${route.query.toString()}`;
export const title = (route) => `Compare ${route.params.name}`;

/** The tags to choose from, asked for at boot beside the config. */
export function prefetch(route, api) {
  remember(`compare ${route.params.name}`, api.tags(route.params.name, {n: TAGS, sort: '-created'}));
}

export function mount(root, route, ctx) {
  const {api, link, navigate} = ctx;
  const {name} = route.params;
  const q = route.query;
  const from = q.get('from') || '';
  const to = q.get('to') || '';
  const platform = q.get('platform') || '';
  const change = q.get('change') || '';
  const path = q.get('path') || '';
  const here = {from, to, platform, change, path};
  const go = (changes, options = {}) => navigate(link.compare(name, {...here, last: '', ...changes}), options);
  const controller = new AbortController();
  const {signal} = controller;
  const form = h('div', {class: 'compare-form'});
  const progress = h('div', {class: 'files-progress'});
  const body = h('div', {class: 'results'});
  root.append(
    breadcrumbs([['Repositories', link.repositories()], [name, link.tags(name)], ['Compare']]),
    h('div', {class: 'page-head'}, pageTitle(wrappableName(name)), h('p', {class: 'page-subtitle'}, 'Two images compared')),
    form,
    progress,
    body,
  );

  async function load() {
    replace(form, picker([])); // drawn at once (the tags fill it): nothing below moves
    body.setAttribute('aria-busy', 'true');
    if (from && to) replace(body, loading('Comparing…'));
    try {
      const tags = await takeOr(`compare ${name}`, () => api.tags(name, {n: TAGS, sort: '-created'}, signal));
      replace(form, picker(tags.tags.map((t) => t.name)));
      if (!from || !to) {
        replace(body, emptyState('Choose two tags to compare.'));
        return;
      }
      const {last} = position(route);
      const diff = await whenIndexed(filesPaths.diff(name), {
        from, to, platform: platform || undefined, change: change || undefined, path: path || undefined,
        n: PAGE, last: last || undefined,
      }, signal, progress);
      replace(body, summaryCard(diff), configCard(diff.config), filesCard(diff.files));
    } catch (error) {
      if (isAbort(error) || error.handled) return;
      replace(progress);
      const platforms = error.detail?.platforms;
      replace(body, Array.isArray(platforms) && platforms.length
        ? h('div', {class: 'empty-state', 'data-testid': 'compare-platforms'},
            h('p', {class: 'empty-state__text'}, 'These are multi-platform images: choose a platform.'),
            h('nav', {class: 'tabs', 'aria-label': 'Platforms'},
              platforms.map((p) => h('a', {class: 'tabs__tab', href: link.compare(name, {...here, platform: p})}, p))))
        : errorBox(error, 'The images could not be compared'));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function picker(names) {
    const options = (selected) => [
      h('option', {value: ''}, 'Choose a tag'),
      ...[...new Set([...names, selected].filter(Boolean))].map((t) => h('option', {value: t, selected: t === selected}, t)),
    ];
    const fromSelect = h('select', {id: 'compare-from', class: 'select'}, options(from));
    const toSelect = h('select', {id: 'compare-to', class: 'select'}, options(to));
    const platformInput = h('input', {id: 'compare-platform', class: 'input', value: platform, placeholder: 'linux/amd64', autocomplete: 'off'});
    const submit = h('button', {type: 'submit', class: 'button button--primary'}, 'Compare');
    const formEl = h('form', {class: 'toolbar'},
      h('div', {class: 'field'}, h('label', {class: 'field__label', for: 'compare-from'}, 'From'), fromSelect),
      h('div', {class: 'field'}, h('label', {class: 'field__label', for: 'compare-to'}, 'To'), toSelect),
      h('div', {class: 'field'}, h('label', {class: 'field__label', for: 'compare-platform'}, 'Platform (an index)'), platformInput),
      submit);
    formEl.addEventListener('submit', (event) => {
      event.preventDefault();
      go({from: fromSelect.value, to: toSelect.value, platform: platformInput.value.trim()});
    });
    return formEl;
  }

  function side(s) {
    return h('span', {}, ident(`${s.repository}:${s.reference}`, {tag: 'code'}), ` · ${s.platform ?? ''} · `, size(s.size));
  }

  function summaryCard(diff) {
    const f = diff.files;
    return h('section', {class: 'card', 'aria-labelledby': 'compare-summary', 'data-testid': 'compare-summary'},
      h('h2', {id: 'compare-summary', class: 'card__title'}, 'Summary'),
      h('dl', {class: 'facts'},
        h('div', {class: 'facts__row'}, h('dt', {}, 'From'), h('dd', {}, side(diff.from))),
        h('div', {class: 'facts__row'}, h('dt', {}, 'To'), h('dd', {}, side(diff.to))),
        h('div', {class: 'facts__row'}, h('dt', {}, 'Layers'), h('dd', {},
          `${diff.layers.shared} shared · ${diff.layers.only_from} only in from · ${diff.layers.only_to} only in to`)),
        h('div', {class: 'facts__row'}, h('dt', {}, 'Files'), h('dd', {},
          `${grouped(f.added)} added (${formatBytes(f.added_bytes)}) · ${grouped(f.removed)} removed (${formatBytes(f.removed_bytes)}) · ${grouped(f.changed)} changed`))));
  }

  function configCard(items) {
    const show = (value) => value === null || value === undefined
      ? h('span', {class: 'muted'}, '—')
      : h('code', {class: 'wrap'}, typeof value === 'string' ? value : JSON.stringify(value));
    return h('section', {class: 'card', 'aria-labelledby': 'compare-config', 'data-testid': 'compare-config'},
      h('h2', {id: 'compare-config', class: 'card__title'}, 'Config changes'),
      items.length
        ? scroll(h('table', {class: 'table table--stack'},
            h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Field'), h('th', {scope: 'col'}, 'From'), h('th', {scope: 'col'}, 'To'))),
            h('tbody', {}, items.map((c) => h('tr', {},
              h('td', {'data-label': 'Field'}, h('code', {}, c.key ? `${c.field} ${c.key}` : c.field)),
              h('td', {class: 'wrap', 'data-label': 'From'}, show(c.from)),
              h('td', {class: 'wrap', 'data-label': 'To'}, show(c.to)))))))
        : h('p', {class: 'muted'}, 'The configs do not differ.'));
  }

  function filesCard(f) {
    const changeSelect = h('select', {id: 'compare-change', class: 'select'},
      ['', 'added', 'removed', 'changed'].map((c) => h('option', {value: c, selected: c === change}, c || 'Every change')));
    changeSelect.addEventListener('change', () => go({change: changeSelect.value}));
    const pathInput = h('input', {id: 'compare-path', class: 'input', value: path, placeholder: '/usr', autocomplete: 'off'});
    const filters = h('form', {class: 'toolbar'},
      h('div', {class: 'field'}, h('label', {class: 'field__label', for: 'compare-change'}, 'Change'), changeSelect),
      h('div', {class: 'field field--search'}, h('label', {class: 'field__label', for: 'compare-path'}, 'Below directory'), pathInput),
      h('button', {type: 'submit', class: 'button'}, 'Filter'));
    filters.addEventListener('submit', (event) => {
      event.preventDefault();
      go({path: pathInput.value.trim()});
    });
    const detail = (c) => {
      if (c.change !== 'changed') return entrySize(c.to ?? c.from);
      const a = c.from, b = c.to;
      const what = [];
      if (a.type !== b.type) what.push(`${a.type} → ${b.type}`);
      if (a.sha256 !== b.sha256) what.push(h('span', {}, 'content ', size(a.size), ' → ', size(b.size)));
      if (a.mode !== b.mode) what.push(h('span', {}, 'mode ', h('code', {}, modeText(a)), ' → ', h('code', {}, modeText(b))));
      if (a.uid !== b.uid || a.gid !== b.gid) what.push(`owner ${a.uid}:${a.gid} → ${b.uid}:${b.gid}`);
      if (a.link_target !== b.link_target) what.push(h('span', {}, 'target ', ident(b.link_target ?? '', {tag: 'code'})));
      return h('span', {class: 'cell__value cell__value--lines'}, what);
    };
    return h('section', {class: 'card', 'aria-labelledby': 'compare-files', 'data-testid': 'compare-files'},
      h('h2', {id: 'compare-files', class: 'card__title'}, 'Files'),
      filters,
      f.entries.length
        ? scroll(h('table', {class: 'table table--stack table--files'},
            h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Change'), h('th', {scope: 'col'}, 'Path'), h('th', {scope: 'col'}, 'What'))),
            h('tbody', {}, f.entries.map((c) => h('tr', {},
              h('td', {'data-label': 'Change'}, changeBadge(c.change)),
              h('td', {class: 'cell-ident', 'data-label': 'Path'}, ident(c.path, {tag: 'code', className: 'path'})),
              h('td', {'data-label': 'What'}, detail(c)))))))
        : h('p', {class: 'muted'}, 'No file differs here.'),
      pager(position(route), f.next, (last, cursors) => navigate(link.compare(name, {...here, last}), {state: {cursors}}),
        {label: 'Pages of changes'}));
  }

  load();
  return {unmount: () => controller.abort()};
}
