// Files inside one platform image: the merged file system (later layers win, whiteouts
// delete; ?deleted=1 also shows what a layer deleted and which), browsed a directory at
// a time with each entry's size and the layer that gave it; one layer's own view
// (?layer=digest, or its number from 1: what it added, changed and deleted, biggest
// files first); a file's
// preview (?file=path: text, with a download link). While a large layer is read the
// gateway answers 202 and the view shows the progress, polling.
//
//   GET /api/repositories/{name}/images/{reference}/files?platform=&path=&include_deleted=
//   GET /api/repositories/{name}/images/{reference}/layers/{digest}/changes?platform=
//   GET /api/repositories/{name}/images/{reference}/file/preview?platform=&path=

import {isAbort} from '../api.js';
import {remember, takeOr} from '../prefetch.js';
import {h, replace} from '../dom.js';
import {formatBytes, grouped, platformName, plural, shortDigest} from '../format.js';
import {pager, position} from '../components/pager.js';
import {breadcrumbs, ident, pageTitle, scroll, size, wrappableName} from '../components/parts.js';
import {errorBox, loading} from '../components/status.js';
import {
  changeBadge,
  entrySize,
  fileHref,
  filesPaths,
  modeText,
  previewCard,
  typeLabel,
  whenIndexed,
} from '../components/files.js';
import {referenceLabel} from './image.js';

const PAGE = 200;
const LAYER_ROWS = 1000;

export const key = (route) => `${route.params.name}\n${route.params.reference}\n${route.query.toString()}`;
export const title = (route) => `Files of ${referenceLabel(route.params.name, route.params.reference)}`;

/** The image detail (platforms, layers), asked for at boot beside the config. */
export function prefetch(route, api) {
  const {name, reference} = route.params;
  remember(`files ${name} ${reference}`, api.image(name, reference));
}

export function mount(root, route, ctx) {
  const {api, link, navigate} = ctx;
  const {name, reference} = route.params;
  const q = route.query;
  const platform = q.get('platform') || '';
  const path = q.get('path') || '/';
  const layer = q.get('layer') || '';
  const file = q.get('file') || '';
  const deleted = q.get('deleted') === '1';
  const here = {platform, path, layer, file, deleted: deleted ? '1' : ''};
  const go = (changes, options = {}) => navigate(link.files(name, reference, {...here, file: '', last: '', ...changes}), options);
  const controller = new AbortController();
  const {signal} = controller;
  const progress = h('div', {class: 'files-progress'});
  const body = h('div', {class: 'results'}, loading('Loading the image…'));
  const label = reference.includes(':') ? shortDigest(reference) : reference;
  root.append(
    breadcrumbs([['Repositories', link.repositories()], [name, link.tags(name)], [label, link.image(name, reference)], ['Files']]),
    h('div', {class: 'page-head'}, pageTitle(wrappableName(name, referenceLabel('', reference))),
      h('p', {class: 'page-subtitle'}, 'Files inside the image')),
    progress,
    body,
  );

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      const image = await takeOr(`files ${name} ${reference}`, () => api.image(name, reference, signal));
      const runnable = image.platforms.filter((p) => !p.error && !p.artifact_type);
      if (!platform && image.platforms.length > 1 && runnable.length) {
        go({platform: platformName(runnable[0].platform)}, {replace: true});
        return;
      }
      const chosen = runnable.find((p) => platformName(p.platform) === platform) ?? runnable[0] ?? image.platforms[0];
      const layers = chosen?.layers ?? [];
      const layerDigest = /^\d+$/.test(layer) ? layers[Number(layer) - 1]?.digest ?? layer : layer;
      const params = {platform: platform || undefined};
      const parts = [controls(image, layers, layerDigest)];
      if (file) {
        const preview = await whenIndexed(filesPaths.preview(name, reference), {...params, path: file}, signal, progress);
        parts.push(previewCard(preview, fileHref(name, reference, platform, file)));
      }
      if (layer) {
        const changes = await whenIndexed(filesPaths.changes(name, reference, layerDigest), {...params, n: LAYER_ROWS}, signal, progress);
        parts.push(layerCard(changes, layers));
      } else {
        const {last} = position(route);
        const listing = await whenIndexed(filesPaths.files(name, reference),
          {...params, path, n: PAGE, last: last || undefined, include_deleted: deleted ? 'true' : undefined}, signal, progress);
        parts.push(treeCard(listing, layers));
      }
      replace(body, ...parts);
    } catch (error) {
      if (isAbort(error) || error.handled) return;
      replace(progress);
      replace(body, errorBox(error, 'The files could not be read'));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  /** Platform tabs (an index), the view switcher (merged / one layer), Compare. */
  function controls(image, layers, layerDigest) {
    const select = h('select', {id: 'files-view', class: 'select'},
      h('option', {value: ''}, 'Merged file system'),
      layers.map((l, i) => h('option', {value: l.digest, selected: l.digest === layerDigest},
        `Layer ${i + 1} · ${shortDigest(l.digest)} · ${formatBytes(l.size)}`)));
    select.addEventListener('change', () => go({layer: select.value, path: '/'}));
    const showDeleted = h('input', {type: 'checkbox', id: 'files-deleted', checked: deleted});
    showDeleted.addEventListener('change', () => go({deleted: showDeleted.checked ? '1' : ''}));
    const tabs = image.platforms.length > 1
      ? h('nav', {class: 'tabs', 'aria-label': 'Platforms'}, image.platforms.filter((p) => !p.artifact_type && !p.error).map((p) => {
          const pName = platformName(p.platform);
          const current = pName === platform;
          return h('a', {class: `tabs__tab${current ? ' is-current' : ''}`, 'aria-current': current ? 'page' : null,
            href: link.files(name, reference, {platform: pName})}, pName);
        }))
      : null;
    return h('div', {},
      tabs,
      h('div', {class: 'toolbar'},
        h('div', {class: 'field'}, h('label', {class: 'field__label', for: 'files-view'}, 'Show'), select),
        layer ? null : h('label', {class: 'check', for: 'files-deleted'}, showDeleted, ' Show deleted files'),
        h('a', {class: 'button', href: link.compare(name, {to: reference, platform: platform || undefined})}, 'Compare with…')));
  }

  function layerNumber(layers, digest) {
    const i = layers.findIndex((l) => l.digest === digest);
    return i === -1 ? shortDigest(digest) : String(i + 1);
  }

  /** One directory of the merged file system, a page at a time. */
  function treeCard(listing, layers) {
    const crumbs = [];
    let at = '';
    crumbs.push(h('a', {href: link.files(name, reference, {...here, file: '', path: '/'})}, '/'));
    for (const part of listing.path.split('/').filter(Boolean)) {
      at += `/${part}`;
      crumbs.push(' ', h('a', {href: link.files(name, reference, {...here, file: '', path: at})}, ident(part)), ' /');
    }
    const rows = listing.entries.map((e) => {
      const target = e.type === 'dir'
        ? link.files(name, reference, {...here, file: '', path: e.path})
        : e.type === 'file' || e.type === 'hardlink' ? link.files(name, reference, {...here, file: e.path}) : null;
      const nameText = e.type === 'dir' ? `${e.name}/` : e.name;
      return h('tr', {class: e.deleted_by ? 'is-deleted' : null},
        h('td', {class: 'cell-ident', 'data-label': 'Name'}, target ? ident(nameText, {tag: 'a', href: target}) : ident(nameText),
          e.deleted_by ? h('span', {class: 'muted'}, ` deleted by layer ${layerNumber(layers, e.deleted_by)}`) : null),
        h('td', {'data-label': 'Type'}, typeLabel(e.type)),
        h('td', {class: 'num', 'data-label': 'Size'}, entrySize(e)),
        h('td', {'data-label': 'Mode'}, h('code', {title: `${e.mode} · uid ${e.uid} gid ${e.gid}`}, modeText(e))),
        h('td', {class: 'num', 'data-label': 'Layer'}, h('a', {href: link.files(name, reference, {platform, layer: e.layer}), title: e.layer}, layerNumber(layers, e.layer))));
    });
    const page = position(route);
    return h('section', {class: 'card', 'aria-labelledby': 'tree-title', 'data-testid': 'files-tree'},
      h('h2', {id: 'tree-title', class: 'card__title'}, 'Merged file system'),
      h('p', {class: 'files-path'}, crumbs),
      listing.complete ? null : h('p', {class: 'muted'}, 'Some layers are foreign (never fetched): their files are not shown.'),
      scroll(h('table', {class: 'table table--stack table--files'},
        h('caption', {}, `${plural(listing.total, 'entry', 'entries')} in ${listing.path}`),
        h('thead', {}, h('tr', {},
          h('th', {scope: 'col'}, 'Name'), h('th', {scope: 'col'}, 'Type'), h('th', {scope: 'col', class: 'num'}, 'Size'),
          h('th', {scope: 'col'}, 'Mode'), h('th', {scope: 'col', class: 'num'}, 'Layer'))),
        h('tbody', {}, rows))),
      pager(page, listing.next, (last, cursors) => navigate(link.files(name, reference, {...here, file: '', last}), {state: {cursors}}),
        {label: 'Pages of files'}));
  }

  /** What one layer did, biggest files first. */
  function layerCard(changes, layers) {
    const f = changes.files;
    const entries = [...f.entries].sort((a, b) => sizeOf(b) - sizeOf(a) || a.path.localeCompare(b.path));
    const number = changes.position + 1;
    return h('section', {class: 'card', 'aria-labelledby': 'layer-title', 'data-testid': 'layer-changes'},
      h('h2', {id: 'layer-title', class: 'card__title'}, `Layer ${number} of ${layers.length}`),
      h('p', {class: 'muted'}, `${grouped(f.added)} added (${formatBytes(f.added_bytes)}) · ${grouped(f.changed)} changed · ${grouped(f.removed)} deleted · layer ${formatBytes(changes.size)} compressed`),
      f.next ? h('p', {class: 'muted'}, `The first ${grouped(entries.length)} changes by path are shown.`) : null,
      scroll(h('table', {class: 'table table--stack table--files'},
        h('caption', {class: 'visually-hidden'}, `Changes of layer ${number}`),
        h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Change'), h('th', {scope: 'col'}, 'Path'), h('th', {scope: 'col', class: 'num'}, 'Size'))),
        h('tbody', {}, entries.map((c) => {
          const entry = c.to ?? c.from;
          const openable = c.to && (c.to.type === 'file' || c.to.type === 'hardlink');
          return h('tr', {},
            h('td', {'data-label': 'Change'}, changeBadge(c.change)),
            h('td', {class: 'cell-ident', 'data-label': 'Path'}, openable
              ? ident(c.path, {tag: 'a', href: link.files(name, reference, {platform, file: c.path}), className: 'path'})
              : ident(c.path, {className: 'path'})),
            h('td', {class: 'num', 'data-label': 'Size'}, entry ? entrySize(entry) : size(null)));
        })))));
  }

  load();
  return {unmount: () => controller.abort()};
}

function sizeOf(change) {
  const entry = change.to ?? change.from;
  return entry && (entry.type === 'file' || entry.type === 'hardlink') ? entry.size : -1;
}
