// Config and build history of one platform image
// (GET /api/repositories/{name}/images/{reference}/config?platform=os/arch[/variant]):
// how it runs (env, entrypoint, cmd, user, ports, volumes, labels) and each build step
// with the size of the layer it made, drawn as a bar relative to the largest layer —
// what made this image big, at a glance.

import {isAbort, paths} from '../api.js';
import {remember, takeOr} from '../prefetch.js';
import {h, replace} from '../dom.js';
import {formatBytes, platformName, plural} from '../format.js';
import {
  breadcrumbs,
  digest,
  facts,
  keyValueTable,
  pageTitle,
  scroll,
  size,
  timeAgo,
} from '../components/parts.js';
import {errorBox, loading} from '../components/status.js';
import {referenceLabel} from './image.js';

export function prefetch(route, api) {
  const {name, reference} = route.params;
  remember(`history ${name} ${reference}`, api.image(name, reference));
}

export const key = (route) => `${route.params.name}\n${route.params.reference}\n${route.query.get('platform') ?? ''}`;
export const title = (route) => `History of ${referenceLabel(route.params.name, route.params.reference)}`;

export function mount(root, route, ctx) {
  const {api, link, navigate} = ctx;
  const {name, reference} = route.params;
  const platform = route.query.get('platform') ?? '';
  const controller = new AbortController();
  const signal = controller.signal;
  const subtitle = h('p', {class: 'page-subtitle'}, referenceLabel(name, reference), platform ? ` · ${platform}` : null);
  const body = h('div', {class: 'results'}, loading('Loading config and history…'));
  root.append(
    breadcrumbs([
      ['Repositories', link.repositories()],
      [name, link.tags(name)],
      [reference.includes(':') ? reference.slice(0, 19) : reference, link.image(name, reference)],
      ['Config & history'],
    ]),
    h('div', {class: 'page-head'}, pageTitle('Config and history'), subtitle),
    body,
  );

  async function load() {
    body.setAttribute('aria-busy', 'true');
    let image = null;
    try {
      // The image detail lists the platforms (for the switcher). An index needs a
      // platform: without one in the URL, show its first runnable platform.
      image = await takeOr(`history ${name} ${reference}`, () => api.image(name, reference, signal));
      const runnable = image.platforms.filter((p) => !p.error && !p.artifact_type);
      if (!platform && image.platforms.length > 1 && runnable.length) {
        navigate(link.history(name, reference, platformName(runnable[0].platform)), {replace: true});
        return;
      }
      const config = await api.imageConfig(name, reference, platform || undefined, signal);
      replace(body, switcher(image), configCard(config), historyCard(config));
    } catch (error) {
      if (isAbort(error) || error.handled) return;
      replace(body, image ? switcher(image) : null, errorBox(error, 'The config could not be read'));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  /** Links to the same view for each platform of an index. */
  function switcher(image) {
    if (image.platforms.length < 2) return null;
    return h(
      'nav',
      {class: 'tabs', 'aria-label': 'Platforms'},
      image.platforms
        .filter((p) => !p.artifact_type)
        .map((p) => {
          const pName = platformName(p.platform);
          const current = pName === platform;
          return h('a', {
            class: `tabs__tab${current ? ' is-current' : ''}`,
            href: link.history(name, reference, pName),
            'aria-current': current ? 'page' : null,
          }, pName || shortLabel(p.digest));
        }),
    );
  }

  function configCard(c) {
    const run = c.config;
    const osArch = [c.os, c.architecture, c.variant].filter(Boolean).join('/') + (c.os_version ? ` (${c.os_version})` : '');
    return h(
      'section',
      {class: 'card', 'aria-labelledby': 'config-title', 'data-testid': 'config'},
      h('h2', {id: 'config-title', class: 'card__title'}, 'Config'),
      facts([
        ['Platform', osArch],
        ['Created', timeAgo(c.created)],
        ['Author', c.author || null],
        ['Entrypoint', command(run.entrypoint)],
        ['Cmd', command(run.cmd)],
        ['Working dir', run.working_dir ? h('code', {}, run.working_dir) : h('span', {class: 'muted'}, '/ (default)')],
        ['User', run.user ? h('code', {}, run.user) : h('span', {class: 'muted'}, 'root (default)')],
        ['Exposed ports', list(run.exposed_ports)],
        ['Volumes', list(run.volumes)],
        ['Stop signal', run.stop_signal ? h('code', {}, run.stop_signal) : null],
        ['Config blob', h('span', {}, digest(c.digest), ' ', h('a', {class: 'small-link', href: paths.blob(name, c.digest), download: '', 'aria-label': 'Download the config blob'}, 'Download'))],
        ['Manifest', digest(c.manifest_digest, {href: link.image(name, c.manifest_digest)})],
      ]),
      h('h3', {class: 'card__subtitle'}, 'Environment'),
      run.env.length
        ? h('ul', {class: 'env-list', 'data-testid': 'env'}, run.env.map(envItem))
        : h('p', {class: 'muted'}, 'No environment variables.'),
      h('h3', {class: 'card__subtitle'}, 'Labels'),
      Object.keys(run.labels ?? {}).length
        ? keyValueTable(run.labels, {caption: 'Labels', keyLabel: 'Label'})
        : h('p', {class: 'muted'}, 'No labels.'),
    );
  }

  function historyCard(c) {
    const layers = c.history.filter((step) => step.layer);
    const largest = Math.max(0, ...layers.map((step) => step.layer.size));
    const total = layers.reduce((sum, step) => sum + step.layer.size, 0);
    return h(
      'section',
      {class: 'card', 'aria-labelledby': 'history-title'},
      h('h2', {id: 'history-title', class: 'card__title'}, `History (${plural(c.history.length, 'step')})`),
      h('p', {class: 'muted'},
        `${plural(layers.length, 'layer')}, ${formatBytes(total)} in all. `,
        'Each bar is a layer’s size relative to the largest', largest ? ` (${formatBytes(largest)})` : '', '.'),
      c.history.length
        ? scroll(h(
            'table',
            {class: 'table table--stack table--history', 'data-testid': 'history'},
            h('caption', {class: 'visually-hidden'}, 'Build history, oldest step first'),
            h('thead', {}, h('tr', {},
              h('th', {scope: 'col', class: 'num'}, '#'),
              h('th', {scope: 'col'}, 'Step'),
              h('th', {scope: 'col'}, 'Created'),
              h('th', {scope: 'col'}, 'Layer size'))),
            h('tbody', {}, c.history.map((step, i) => historyRow(step, i, largest))),
          ))
        : h('p', {class: 'muted'}, 'This image has no history.'),
    );
  }

  function historyRow(step, index, largest) {
    const biggest = step.layer && largest > 0 && step.layer.size === largest;
    return h(
      'tr',
      {class: step.empty_layer ? 'is-empty' : biggest ? 'is-largest' : null},
      h('td', {'data-label': '#', class: 'num muted'}, String(index + 1)),
      h('td', {'data-label': 'Step', class: 'step'},
        h('code', {class: 'command', title: step.created_by ?? ''}, readableStep(step.created_by)),
        step.comment ? h('p', {class: 'muted step__comment'}, step.comment) : null),
      h('td', {'data-label': 'Created'}, timeAgo(step.created)),
      h('td', {'data-label': 'Layer size', class: 'layer-cell'}, step.layer ? layerBar(step.layer, largest) : h('span', {class: 'badge badge--empty'}, 'empty layer')),
    );
  }

  function layerBar(layer, largest) {
    const fill = h('span', {class: 'bar__fill'});
    // style set from script (CSSOM), which the page's CSP allows
    fill.style.width = `${largest ? Math.max(1, (layer.size / largest) * 100) : 0}%`;
    return h(
      'div',
      {class: 'layer-size'},
      h('span', {class: 'bar', role: 'img', 'aria-label': `${formatBytes(layer.size)}, ${Math.round((layer.size / largest) * 100)}% of the largest layer`}, fill),
      size(layer.size),
      h('a', {class: 'layer-size__link', href: paths.blob(name, layer.digest), download: '', 'aria-label': `Download layer ${layer.digest}`}, 'Download'),
    );
  }

  load();
  return {unmount: () => controller.abort()};
}

/** An exec-form array as a command line: ["/app/server", "--port", "8080"]. */
function command(words) {
  if (!words?.length) return h('span', {class: 'muted'}, 'none');
  const quoted = words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : JSON.stringify(w)));
  return h('code', {title: JSON.stringify(words)}, quoted.join(' '));
}

function list(items) {
  if (!items?.length) return h('span', {class: 'muted'}, 'none');
  return h('span', {class: 'chips'}, items.map((item) => h('code', {class: 'chip'}, item)));
}

function envItem(entry) {
  const at = entry.indexOf('=');
  if (at < 0) return h('li', {}, h('code', {}, entry));
  return h('li', {}, h('code', {}, h('span', {class: 'env-name'}, entry.slice(0, at)), '=', entry.slice(at + 1)));
}

/**
 * A history step as a reader wants it: Docker's "/bin/sh -c #(nop) " prefix (a
 * metadata-only instruction) dropped, "/bin/sh -c " shown as RUN. The title keeps the
 * text exactly as stored.
 */
function readableStep(createdBy) {
  if (!createdBy) return '—';
  return createdBy
    .replace(/^\/bin\/sh -c #\(nop\)\s+/, '')
    .replace(/^\/bin\/sh -c /, 'RUN ')
    .trim();
}

function shortLabel(digestValue) {
  return digestValue.slice(0, 19);
}
