// Files inside images: the calls (GET …/files, …/file/preview, …/layers/{digest}/changes,
// …/diff), the wait while a layer is read (a 202 {"status": "indexing", bytes_read,
// bytes_total} polled with a progress bar), and the pieces the Files and Compare views
// share: an entry's type and mode, a change badge, the file preview card.

import {encodeName, request} from '../api.js';
import {h, replace} from '../dom.js';
import {formatBytes} from '../format.js';
import {ident, size} from './parts.js';

const POLL_MS = 1000;

const repo = (name) => `/api/repositories/${encodeName(name)}`;
const image = (name, reference) => `${repo(name)}/images/${encodeURIComponent(reference)}`;

export const filesPaths = {
  files: (name, reference) => `${image(name, reference)}/files`,
  file: (name, reference) => `${image(name, reference)}/file`,
  preview: (name, reference) => `${image(name, reference)}/file/preview`,
  changes: (name, reference, layer) => `${image(name, reference)}/layers/${encodeURIComponent(layer)}/changes`,
  diff: (name) => `${repo(name)}/diff`,
};

/** The URL of a file's bytes (an attachment), for a download link. */
export function fileHref(name, reference, platform, path) {
  const url = new URL(filesPaths.file(name, reference), window.location.origin);
  if (platform) url.searchParams.set('platform', platform);
  url.searchParams.set('path', path);
  return url.pathname + url.search;
}

/**
 * GET `path` with `params` until it is no longer 202 "indexing" (a layer is being read:
 * the gateway goes on reading between the polls); each progress is shown in `progress`
 * (a region above the results), which is emptied at the end.
 */
export async function whenIndexed(path, params, signal, progress) {
  for (;;) {
    const answer = await request('GET', path, {params, signal});
    if (answer?.status !== 'indexing') {
      if (progress) replace(progress);
      return answer;
    }
    if (progress) replace(progress, indexingBar(answer));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, POLL_MS);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new DOMException('aborted', 'AbortError'));
      }, {once: true});
    });
  }
}

/** "Reading the layers… 12.0 MiB of 60.0 MiB" with a <progress>. */
export function indexingBar({bytes_read: read, bytes_total: total}) {
  const bar = h('progress', {max: total || 1, value: total ? read : undefined, 'aria-label': 'Layers read'});
  return h('div', {class: 'usage-progress', role: 'status', 'data-testid': 'indexing'},
    bar,
    h('span', {class: 'muted'}, `Reading the layers once (kept as an index): ${formatBytes(read)}${total ? ` of ${formatBytes(total)}` : ''}`));
}

const TYPE_LABELS = {
  file: 'file', dir: 'directory', symlink: 'symlink', hardlink: 'hard link', char: 'character device',
  block: 'block device', fifo: 'fifo', whiteout: 'whiteout', opaque: 'opaque directory',
};

export function typeLabel(type) {
  return TYPE_LABELS[type] ?? type;
}

/** "drwxr-xr-x"-like text for an entry (setuid/setgid/sticky as s/s/t). */
export function modeText(entry) {
  const bits = parseInt(entry.mode, 8);
  const kind = {dir: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p'}[entry.type] ?? '-';
  const rwx = (shift, special, mark) => {
    const r = bits & (4 << shift) ? 'r' : '-';
    const w = bits & (2 << shift) ? 'w' : '-';
    const x = bits & (1 << shift);
    const s = bits & special;
    return r + w + (s ? (x ? mark : mark.toUpperCase()) : (x ? 'x' : '-'));
  };
  return kind + rwx(6, 0o4000, 's') + rwx(3, 0o2000, 's') + rwx(0, 0o1000, 't');
}

/** An entry's size: a regular file's bytes; a link's target instead. */
export function entrySize(entry) {
  if (entry.type === 'file' || entry.type === 'hardlink') return size(entry.size);
  if (entry.type === 'symlink') return h('span', {class: 'muted'}, '→ ', ident(entry.link_target ?? '', {tag: 'code'}));
  return h('span', {class: 'muted'}, '—');
}

export function changeBadge(change) {
  const kind = {added: 'keep', removed: 'danger', changed: 'index'}[change] ?? 'other';
  return h('span', {class: `badge badge--${kind}`}, change);
}

/** The preview card of one file: text (first 64 KiB) or "binary", and its download link. */
export function previewCard(preview, href) {
  return h(
    'section',
    {class: 'card', 'aria-labelledby': 'preview-title', 'data-testid': 'file-preview'},
    h('div', {class: 'card__head'},
      h('h2', {id: 'preview-title', class: 'card__title'}, ident(preview.path, {tag: 'code'})),
      h('div', {class: 'card__links'}, h('a', {href, download: ''}, 'Download'))),
    h('p', {class: 'muted'}, `${formatBytes(preview.size)}`, preview.sha256 ? ` · sha256 ${preview.sha256.slice(0, 12)}` : ''),
    preview.binary
      ? h('p', {class: 'muted'}, 'Binary content: download the file to see it.')
      : h('pre', {class: 'code-block', tabindex: '0', 'data-testid': 'file-text'}, preview.text ?? ''),
    preview.truncated ? h('p', {class: 'muted'}, 'The first 64 KiB are shown.') : null,
  );
}
