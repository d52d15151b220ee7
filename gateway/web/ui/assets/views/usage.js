// Where the space goes: the registry's repositories by exclusive bytes (GET /api/usage,
// polled while the walk is not complete, with a progress bar), and a repository's tags
// with their bytes and exclusive bytes (GET /api/repositories/{name}/usage).
//
// Each panel appends itself to a view's root and stops polling once the view is gone.

import {encodeName, request} from '../api.js';
import {h, replace} from '../dom.js';
import {formatBytes, plural} from '../format.js';
import {barChart, sizeBar} from '../components/bars.js';
import {retentionButton} from '../components/retention.js';

const POLL_MS = 1500;
const TOP = 15;

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
export function registryUsage(root, ctx) {
  const {section, body} = panel('Storage by repository', 'registry-usage');
  root.append(section);
  const controller = new AbortController();
  let timer = null;

  async function load() {
    timer = null;
    if (!section.isConnected) return;
    try {
      const usage = await usageApi.registry(controller.signal);
      if (!section.isConnected) return;
      render(usage);
      if (!usage.complete) timer = setTimeout(load, POLL_MS);
    } catch (error) {
      if (section.isConnected) failed(body, error);
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
      label: h('span', {class: 'usage-chart__name'}, r.name),
    }));
    parts.push(
      rows.length
        ? barChart(rows, {caption: 'Repositories by the bytes only they hold', labelLabel: 'Repository', valueLabel: 'Freed if deleted', testid: 'usage-chart'})
        : h('p', {class: 'muted'}, 'Nothing counted yet.'),
    );
    replace(body, parts);
  }

  load();
  const observer = new MutationObserver(() => {
    if (!section.isConnected) {
      controller.abort();
      if (timer) clearTimeout(timer);
      observer.disconnect();
    }
  });
  observer.observe(document.body, {childList: true, subtree: true});
}

/** The repository page's panel: each tag's bytes and exclusive bytes, and the clean-up. */
export function tagUsage(root, ctx, name) {
  const {section, body} = panel('Storage by tag', 'tag-usage');
  root.append(section);
  const controller = new AbortController();

  async function load() {
    try {
      const usage = await usageApi.repository(name, controller.signal);
      if (section.isConnected) render(usage);
    } catch (error) {
      if (section.isConnected) failed(body, error);
    }
  }

  function render(usage) {
    const max = Math.max(0, ...usage.by_tag.map((t) => t.bytes));
    const table = h(
      'table',
      {class: 'table table--stack usage-tags', 'data-testid': 'tag-usage-table'},
      h('caption', {class: 'visually-hidden'}, `Storage of the tags of ${name}`),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Tag'), h('th', {scope: 'col'}, 'Bytes'), h('th', {scope: 'col'}, 'Only this tag'))),
      h(
        'tbody',
        {},
        usage.by_tag.map((t) =>
          h(
            'tr',
            {dataset: {tag: t.tag}},
            h('td', {'data-label': 'Tag'}, h('code', {}, t.tag)),
            h('td', {'data-label': 'Bytes', class: 'layer-cell'}, sizeBar(t.bytes, max, {label: `${t.tag}: `})),
            h('td', {'data-label': 'Only this tag', class: 'layer-cell'}, sizeBar(t.exclusive_bytes, max, {label: `${t.tag} alone: `, kind: 'exclusive'})),
          ),
        ),
      ),
    );
    replace(
      body,
      h(
        'p',
        {class: 'usage-totals', 'data-testid': 'repository-usage-totals'},
        h('strong', {}, formatBytes(usage.total_bytes)),
        ` in ${plural(usage.manifests, 'manifest')} and ${plural(usage.blobs, 'blob')}, each counted once.`,
        ctx.canDelete ? [' ', retentionButton(ctx, name, () => refresh())] : null,
      ),
      usage.by_tag.length ? table : h('p', {class: 'muted'}, 'No tags.'),
    );
  }

  function refresh() {
    load();
    // the tag list above is the view's own: navigating to where we are reloads it
    ctx.navigate(window.location.pathname + window.location.search, {replace: true});
  }

  load();
}
