// Small presentational pieces shared by the views.

import {h} from '../dom.js';
import {exactBytes, formatBytes, kindOf, relativeTime, shortDigest} from '../format.js';
import {copyButton} from './copy.js';
import {link} from '../router.js';

/** <time datetime="…" title="…">3 days ago</time>; the exact RFC 3339 time on hover. */
export function timeAgo(iso) {
  if (!iso) return h('span', {class: 'muted'}, '—');
  return h('time', {class: 'ident', datetime: iso, title: iso}, relativeTime(iso));
}

/**
 * An identifier (a tag, a repository name, a media type) on one line: never broken
 * inside itself; when it does not fit it is cut with an ellipsis, and the whole value
 * is in its title (on hover) and in the text a copy takes. tag: 'span', 'a', 'code'.
 */
export function ident(text, {tag = 'span', className = '', ...props} = {}) {
  return h(tag, {...props, class: `ident ${className}`.trim(), title: text}, text);
}

/** "7.6 KiB" with the exact byte count on hover. */
export function size(bytes) {
  if (bytes === null || bytes === undefined) return h('span', {class: 'muted'}, '—');
  return h('span', {class: 'size', title: exactBytes(bytes)}, formatBytes(bytes));
}

/**
 * "sha256:1a2b3c4d5e6f" (full digest on hover) and a button copying the full digest.
 * It links to ``href`` when given, else to its search: where else is this used.
 */
export function digest(value, {href} = {}) {
  if (!value) return h('span', {class: 'muted'}, '—');
  const text = h('code', {class: 'digest ident', title: value}, shortDigest(value));
  const where = href ?? link.search({q: value});
  return h(
    'span',
    {class: 'digest-copy'},
    h('a', {href: where, 'data-digest-search': href ? null : ''}, text),
    copyButton(value, {label: 'Copy', ariaLabel: `Copy digest ${value}`, className: 'copy-button--small'}),
  );
}

/** A badge for image / index / artifact (a Helm chart says "chart"). */
export function kindBadge(item) {
  const kind = kindOf(item);
  if (!kind) return h('span', {class: 'muted'}, '—');
  const label = isHelmChart(item) ? 'chart' : kind;
  return h('span', {class: `badge badge--${kind}`, title: item.artifact_type || item.media_type || kind}, label);
}

/** Platform chips: linux/amd64 linux/arm64/v8 (each chip whole; chips wrap as chips). */
export function platformChips(platforms) {
  if (!platforms?.length) return h('span', {class: 'muted'}, '—');
  return h('span', {class: 'chips'}, platforms.map((p) => h('span', {class: 'chip', title: p}, p)));
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
      h('tbody', {}, rows.map(([key, value]) => h('tr', {}, h('td', {class: 'cell-ident'}, ident(key, {tag: 'code'})), h('td', {class: 'wrap'}, value)))),
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
        h('li', {}, href && i < items.length - 1
          ? ident(label, {tag: 'a', href})
          : ident(label, {'aria-current': 'page'})),
      ),
    ),
  );
}

/**
 * A repository name (and a ":tag" or "@digest" after it) that may wrap after a "/" and
 * nowhere else: each component stays whole, cut with an ellipsis only when it alone is
 * wider than the line. The whole name is in the title.
 */
export function wrappableName(name, tail = '') {
  const parts = name.split('/');
  return h(
    'span',
    {class: 'name', title: name + tail},
    parts.map((part, i) => (i < parts.length - 1
      ? [h('span', {class: 'ident name__part'}, `${part}/`), h('wbr')]
      : h('span', {class: 'ident name__part'}, part + tail))),
  );
}

/** A page heading that receives focus after a navigation (tabindex=-1). */
export function pageTitle(text, ...extra) {
  return h('h1', {class: 'page-title', tabindex: '-1'}, text, ...extra);
}

/**
 * A <td> that knows its column name, for the stacked layout on narrow screens (where
 * the cell is a grid of its label and one value: several children are wrapped in one).
 */
export function cell(label, ...children) {
  const content = children.filter((c) => c !== null && c !== undefined && c !== false && c !== ' ');
  return h('td', {'data-label': label}, content.length > 1 ? h('span', {class: 'cell__value'}, content) : content);
}

export const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';

/** A Helm chart: its config (the artifact type the gateway reports) is Helm's. */
export function isHelmChart(item) {
  return item?.artifact_type === HELM_CONFIG || Boolean(item?.chart);
}

/**
 * How to fetch a tag or digest, for its kind: {tool, command}. An image is pulled with
 * docker; a Helm chart with helm (by tag: helm pull takes a version, or a digest with
 * @); any other artifact with oras.
 */
export function pullCommandFor(pullHost, name, reference, item = null) {
  const byDigest = reference.includes(':');
  const sep = byDigest ? '@' : ':';
  if (isHelmChart(item)) {
    const ref = `oci://${pullHost}/${name}`;
    return {tool: 'helm', command: byDigest ? `helm pull ${ref}@${reference}` : `helm pull ${ref} --version ${reference}`};
  }
  if (item && kindOf(item) === 'artifact') return {tool: 'oras', command: `oras pull ${pullHost}/${name}${sep}${reference}`};
  return {tool: 'docker', command: `docker pull ${pullHost}/${name}${sep}${reference}`};
}

/** The docker pull command for a tag or digest. */
export function pullCommand(pullHost, name, reference) {
  return pullCommandFor(pullHost, name, reference).command;
}

/** The pull command shown in full with a copy button. */
export function pullBox(command) {
  return h(
    'div',
    {class: 'pull-box'},
    h('code', {class: 'pull-box__command', title: command}, command),
    copyButton(command, {label: 'Copy', ariaLabel: `Copy: ${command}`}),
  );
}

export const SIZE_NOTE = 'Sizes are compressed, as stored, in binary units (1 KiB = 1024 bytes).';
