// Small presentational pieces shared by the views.

import {h} from '../dom.js';
import {exactBytes, formatBytes, kindOf, relativeTime, shortDigest} from '../format.js';
import {copyButton} from './copy.js';

/** <time datetime="…" title="…">3 days ago</time>; the exact RFC 3339 time on hover. */
export function timeAgo(iso) {
  if (!iso) return h('span', {class: 'muted'}, '—');
  return h('time', {datetime: iso, title: iso}, relativeTime(iso));
}

/** "7.6 KiB" with the exact byte count on hover. */
export function size(bytes) {
  if (bytes === null || bytes === undefined) return h('span', {class: 'muted'}, '—');
  return h('span', {class: 'size', title: exactBytes(bytes)}, formatBytes(bytes));
}

/** "sha256:1a2b3c4d5e6f" (full digest on hover) and a button copying the full digest. */
export function digest(value, {href} = {}) {
  if (!value) return h('span', {class: 'muted'}, '—');
  const text = h('code', {class: 'digest', title: value}, shortDigest(value));
  return h(
    'span',
    {class: 'digest-copy'},
    href ? h('a', {href}, text) : text,
    copyButton(value, {label: 'Copy', ariaLabel: `Copy digest ${value}`, className: 'copy-button--small'}),
  );
}

/** A badge for image / index / artifact. */
export function kindBadge(item) {
  const kind = kindOf(item);
  if (!kind) return h('span', {class: 'muted'}, '—');
  return h('span', {class: `badge badge--${kind}`, title: item.artifact_type || item.media_type || kind}, kind);
}

/** Platform chips: linux/amd64 linux/arm64/v8. */
export function platformChips(platforms) {
  if (!platforms?.length) return h('span', {class: 'muted'}, '—');
  return h('span', {class: 'chips'}, platforms.map((p) => h('span', {class: 'chip'}, p)));
}

/** A definition list from [term, value] pairs; pairs whose value is null are left out. */
export function facts(pairs, className = '') {
  return h(
    'dl',
    {class: `facts ${className}`.trim()},
    pairs
      .filter(([, value]) => value !== null && value !== undefined)
      .map(([term, value]) => h('div', {class: 'facts__row'}, h('dt', {}, term), h('dd', {}, value))),
  );
}

/** A two-column key/value table (annotations, labels) in its own scroll container. */
export function keyValueTable(object, {caption, keyLabel = 'Key', valueLabel = 'Value'} = {}) {
  const rows = Object.entries(object ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return scroll(
    h(
      'table',
      {class: 'table table--kv'},
      caption ? h('caption', {class: 'visually-hidden'}, caption) : null,
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, keyLabel), h('th', {scope: 'col'}, valueLabel))),
      h('tbody', {}, rows.map(([key, value]) => h('tr', {}, h('td', {}, h('code', {}, key)), h('td', {class: 'wrap'}, value)))),
    ),
  );
}

/** Wrap a wide table so it scrolls inside its own box, never the page. */
export function scroll(table) {
  return h('div', {class: 'table-scroll'}, table);
}

/** Breadcrumbs: [[label, href], …, [label]] — the last one is the current page. */
export function breadcrumbs(items) {
  return h(
    'nav',
    {class: 'breadcrumbs', 'aria-label': 'Breadcrumb'},
    h(
      'ol',
      {},
      items.map(([label, href], i) =>
        h('li', {}, href && i < items.length - 1 ? h('a', {href}, label) : h('span', {'aria-current': 'page'}, label)),
      ),
    ),
  );
}

/** A page heading that receives focus after a navigation (tabindex=-1). */
export function pageTitle(text, ...extra) {
  return h('h1', {class: 'page-title', tabindex: '-1'}, text, ...extra);
}

/** A <td> that knows its column name, for the stacked layout on narrow screens. */
export function cell(label, ...children) {
  return h('td', {'data-label': label}, ...children);
}

/** The docker pull command for a tag or digest. */
export function pullCommand(pullHost, name, reference) {
  const sep = reference.includes(':') ? '@' : ':';
  return `docker pull ${pullHost}/${name}${sep}${reference}`;
}

/** The pull command shown in full with a copy button. */
export function pullBox(command) {
  return h(
    'div',
    {class: 'pull-box'},
    h('code', {class: 'pull-box__command'}, command),
    copyButton(command, {label: 'Copy', ariaLabel: `Copy ${command}`}),
  );
}

export const SIZE_NOTE = 'Sizes are compressed, as stored, in binary units (1 KiB = 1024 bytes).';
