// Where the space goes: the registry's repositories by exclusive bytes (GET /api/usage,
// polled while the walk is not complete, with a progress bar), and a repository's tags
// with their bytes and exclusive bytes (GET /api/repositories/{name}/usage).
//
// Each panel is {section, stop}: the view puts the section where it wants it (below its
// results, once they are drawn, so nothing above moves) and calls stop() when it goes.
// A panel reloads whenever a write changes what it counts (changes.js).

import {encodeName, request} from '../api.js';
import {onChange} from '../changes.js';
import {h, replace} from '../dom.js';
import {formatBytes, plural} from '../format.js';
import {barChart, sizeBar} from '../components/bars.js';
import {ident} from '../components/parts.js';
import {retentionButton} from '../components/retention.js';

const POLL_MS = 1500;
const TOP = 15;
// Tags listed at first in a repository's panel (the largest); the others on request.
const TAG_ROWS = 20;

// A 401 here is the page's to handle: the view's own call gets it too and shows the
// login form (``login: true`` keeps this secondary call from handling it a second time).
const quiet = {login: true};

export const usageApi = {
  registry: (signal) => request('GET', '/api/usage', {signal, ...quiet}),
  repository: (name, signal) => request('GET', `/api/repositories/${encodeName(name)}/usage`, {signal, ...quiet}),
};

function panel(title, testid) {
  const body = h('div', {class: 'usage-panel__body', 'aria-live': 'polite'}, h('p', {class: 'muted'}, 'Counting storage…'));
  const section = h('section', {class: 'usage-panel', 'data-testid': testid, 'aria-label': title}, h('h2', {class: 'usage-panel__title'}, title), body);
  return {section, body};
}

function failed(body, error) {
  if (error?.name === 'AbortError' || error?.handled) return;
  if (error?.status === 401) {
    body.closest('.usage-panel')?.remove(); // the login form is on its way
    return;
  }
  replace(body, h('p', {class: 'row-error', role: 'note'}, `Storage could not be counted: ${error.message} `, h('code', {}, error.code ?? '')));
}

/** The registry page's chart: repositories by exclusive bytes, polled until complete. */
export function registryUsage(ctx) {
  const {section, body} = panel('Storage by repository', 'registry-usage');
  const controller = new AbortController();
  let timer = null;
  let stopped = false;

  async function load() {
    window.clearTimeout(timer);
    timer = null;
    if (stopped) return;
    try {
      const usage = await usageApi.registry(controller.signal);
      if (stopped) return;
      render(usage);
      if (!usage.complete) timer = window.setTimeout(load, POLL_MS);
    } catch (error) {
      if (!stopped) failed(body, error);
    }
  }

  function render(usage) {
    const parts = [
      h(
        'p',
        {class: 'usage-totals', 'data-testid': 'usage-totals'},
        h('strong', {}, formatBytes(usage.total_bytes)),
        ' stored, each layer once — ',
        formatBytes(usage.naive_bytes),
        ' if every repository were counted on its own.',
      ),
    ];
    if (!usage.complete) {
      const total = Math.max(usage.repositories_total, 1);
      parts.push(
        h(
          'div',
          {class: 'usage-progress', 'data-testid': 'usage-progress'},
          h('progress', {max: String(total), value: String(usage.repositories_counted), 'aria-label': 'Repositories counted'}),
          h('span', {class: 'muted'}, `${usage.repositories_counted} of ${plural(usage.repositories_total, 'repository', 'repositories')} counted…`),
        ),
      );
    }
    const rows = usage.repositories.slice(0, TOP).map((r) => ({
      name: r.name,
      value: r.exclusive_bytes,
      // text, not a link: the catalog above links every repository already
      label: ident(r.name, {className: 'usage-chart__name'}),
    }));
    parts.push(
      rows.length
        ? barChart(rows, {caption: 'Repositories by the bytes only they hold', labelLabel: 'Repository', valueLabel: 'Freed if deleted', testid: 'usage-chart'})
        : h('p', {class: 'muted'}, 'Nothing counted yet.'),
    );
    replace(body, parts);
  }

  load();
  const unsubscribe = onChange(() => load());
  return {
    section,
    stop() {
      stopped = true;
      unsubscribe();
      controller.abort();
      window.clearTimeout(timer);
    },
  };
}

/** The repository page's panel: each tag's bytes and exclusive bytes, and the clean-up. */
export function tagUsage(ctx, name) {
  const {section, body} = panel('Storage by tag', 'tag-usage');
  const controller = new AbortController();
  let stopped = false;
  let asked = 0;
  let everyTag = false; // the reader asked for every tag, not the largest only

  async function load() {
    const mine = ++asked; // a reload after a write: only the newest answer is drawn
    try {
      const usage = await usageApi.repository(name, controller.signal);
      if (!stopped && mine === asked) render(usage);
    } catch (error) {
      if (!stopped && mine === asked) failed(body, error);
    }
  }

  function render(usage) {
    const max = Math.max(0, ...usage.by_tag.map((t) => t.bytes));
    const shown = everyTag ? usage.by_tag : usage.by_tag.slice(0, TAG_ROWS);
    let more = null;
    if (shown.length < usage.by_tag.length) {
      more = h('button', {type: 'button', class: 'button button--quiet button--small', 'data-testid': 'tag-usage-all'},
        `Show all ${usage.by_tag.length} tags`);
      more.addEventListener('click', () => {
        everyTag = true;
        render(usage);
      });
    }
    const table = h(
      'table',
      {class: 'table table--stack usage-tags', 'data-testid': 'tag-usage-table'},
      h('caption', {class: 'visually-hidden'}, `Storage of the tags of ${name}`),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Tag'), h('th', {scope: 'col'}, 'Bytes'), h('th', {scope: 'col'}, 'Only this tag'))),
      h(
        'tbody',
        {},
        shown.map((t) =>
          h(
            'tr',
            {dataset: {tag: t.tag}},
            h('td', {'data-label': 'Tag'}, ident(t.tag, {tag: 'code'})),
            h('td', {'data-label': 'Bytes', class: 'layer-cell'}, sizeBar(t.bytes, max, {label: `${t.tag}: `})),
            h('td', {'data-label': 'Only this tag', class: 'layer-cell'}, sizeBar(t.exclusive_bytes, max, {label: `${t.tag} alone: `, kind: 'exclusive'})),
          ),
        ),
      ),
    );
    // nothing to clean up in a repository without tags
    const cleanUp = ctx.canDelete && usage.by_tag.length ? [' ', retentionButton(ctx, name)] : null;
    replace(
      body,
      h(
        'p',
        {class: 'usage-totals', 'data-testid': 'repository-usage-totals'},
        h('strong', {}, formatBytes(usage.total_bytes)),
        ` in ${plural(usage.manifests, 'manifest')} and ${plural(usage.blobs, 'blob')}, each counted once.`,
        cleanUp,
      ),
      usage.by_tag.length ? table : h('p', {class: 'muted'}, 'No tags.'),
      more ? h('p', {class: 'usage-more'}, `The ${shown.length} largest of ${usage.by_tag.length} tags. `, more) : null,
    );
  }

  load();
  const unsubscribe = onChange((repository) => {
    if (repository === name) load();
  });
  return {
    section,
    stop() {
      stopped = true;
      unsubscribe();
      controller.abort();
    },
  };
}
