// One image, by tag or digest (GET /api/repositories/{name}/images/{reference}): every
// platform with its layers, the attestations apart, the other tags on the same digest,
// annotations, the raw manifest, blob downloads and (when enabled) deletes. A Helm chart
// shows its chart metadata and `helm pull`; another artifact `oras pull`.
//
// Everything but the signatures and SBOMs is drawn at once; they are read after and go
// last on the page, so that their arrival moves nothing.

import {lastUse} from '../components/activity_marks.js';
import {isAbort, paths} from '../api.js';
import {remember, takeOr} from '../prefetch.js';
import {h, replace} from '../dom.js';
import {formatBytes, kindOf, newest, platformName, plural, shortDigest} from '../format.js';
import {copyButton} from '../components/copy.js';
import {
  SIZE_NOTE,
  breadcrumbs,
  digest,
  facts,
  ident,
  isHelmChart,
  kindBadge,
  keyValueTable,
  pageTitle,
  pullBox,
  pullCommandFor,
  scroll,
  size,
  timeAgo,
  wrappableName,
} from '../components/parts.js';
import {errorBox, loading} from '../components/status.js';
import {confirmImageDelete, confirmTagDelete} from '../deletes.js';
import {referrersCard} from '../components/referrers.js';

/** The image's Files view and a Compare with another tag (when it has a file system). */
function filesLinks({link}, name, reference) {
  return [
    h('a', {class: 'button', href: link.files(name, reference), 'data-testid': 'files-link'}, 'Files'),
    h('a', {class: 'button', href: link.compare(name, {to: reference}), 'data-testid': 'compare-link'}, 'Compare'),
  ];
}

export const key = (route) => `${route.params.name}\n${route.params.reference}`;
export const title = (route) => referenceLabel(route.params.name, route.params.reference);

const isDigest = (reference) => reference.includes(':');

export function prefetch(route, api) {
  const {name, reference} = route.params;
  remember(`image ${name} ${reference}`, api.image(name, reference));
}

/** "team/app:1.0" or "team/app@sha256:1a2b3c4d5e6f". */
export function referenceLabel(name, reference) {
  return isDigest(reference) ? `${name}@${shortDigest(reference)}` : `${name}:${reference}`;
}

export function mount(root, route, ctx) {
  const {api, link, navigate} = ctx;
  const {name, reference} = route.params;
  const controller = new AbortController();
  const body = h('div', {class: 'results'}, loading('Loading image…'));
  const label = isDigest(reference) ? shortDigest(reference) : reference;
  const subtitle = h('p', {class: 'page-subtitle'});
  root.append(
    breadcrumbs([['Repositories', link.repositories()], [name, link.tags(name)], [label]]),
    h('div', {class: 'page-head'}, pageTitle(wrappableName(name, referenceLabel('', reference))), subtitle),
    body,
  );

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      const image = await takeOr(`image ${name} ${reference}`, () => api.image(name, reference, controller.signal));
      subtitle.textContent = overview(image);
      replace(body, ...render(image));
    } catch (error) {
      if (isAbort(error) || error.handled) return;
      replace(body, errorBox(error, `The image ${referenceLabel(name, reference)} could not be shown`));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function render(image) {
    const runnable = image.platforms.filter((p) => !p.error && !p.artifact_type);
    const multi = image.platforms.length > 1;
    const historyHref = runnable.length
      ? link.history(name, reference, multi ? platformName(runnable[0].platform) : undefined)
      : null;
    return [
      actionBar(image, historyHref),
      isHelmChart(image) ? chartCard(image) : null,
      h('section', {class: 'card', 'aria-labelledby': 'summary-title'}, h('h2', {id: 'summary-title', class: 'card__title'}, 'Summary'), summary(image)),
      Object.keys(image.annotations ?? {}).length
        ? h('section', {class: 'card', 'aria-labelledby': 'annotations-title'},
            h('h2', {id: 'annotations-title', class: 'card__title'}, 'Annotations'),
            keyValueTable(image.annotations, {caption: 'Annotations'}))
        : null,
      h('section', {class: 'section', 'aria-labelledby': 'platforms-title'},
        h('h2', {id: 'platforms-title', class: 'section__title'}, multi ? `Platforms (${image.platforms.length})` : 'Image'),
        image.platforms.map((p) => platformCard(p, multi))),
      image.attestations.length ? attestations(image) : null,
      rawManifest(image),
      h('p', {class: 'footnote'}, SIZE_NOTE),
      referrersCard(ctx, name, image, controller.signal),
    ];
  }

  /** A Helm chart: what its config says (API: image.chart), and how to pull it. */
  function chartCard(image) {
    const chart = image.chart ?? {};
    const pullRef = isDigest(reference) ? image.digest : reference;
    return h(
      'section',
      {class: 'card', 'aria-labelledby': 'chart-title', 'data-testid': 'chart'},
      h('h2', {id: 'chart-title', class: 'card__title'}, 'Helm chart'),
      facts([
        ['Chart', chart.name ? ident(chart.name, {tag: 'code'}) : null],
        ['Version', chart.version ? ident(chart.version, {tag: 'code'}) : null],
        ['App version', chart.app_version ? ident(chart.app_version, {tag: 'code'}) : null],
        ['Description', chart.description || null],
        ['Pull', pullBox(pullCommandFor(ctx.pullHost, name, pullRef, image).command)],
      ]),
    );
  }

  function actionBar(image, historyHref) {
    const items = [];
    if (historyHref) items.push(h('a', {class: 'button button--primary', href: historyHref}, 'Config & history'));
    if (historyHref) items.push(...filesLinks(ctx, name, reference)); // views/files.js, views/compare.js
    if (ctx.canDelete && !isDigest(reference)) {
      const removeTag = h('button', {type: 'button', class: 'button button--danger-quiet'}, 'Delete tag ', ident(reference));
      removeTag.addEventListener('click', async () => {
        if (await confirmTagDelete(ctx, name, reference, image.digest, {keep: 1})) {
          navigate(link.tags(name), {replace: true});
        }
      });
      items.push(removeTag);
    }
    if (ctx.canDelete) {
      const removeImage = h('button', {type: 'button', class: 'button button--danger'}, 'Delete image');
      removeImage.addEventListener('click', async () => {
        if (await confirmImageDelete(ctx, name, image, {keep: 1})) navigate(link.tags(name), {replace: true});
      });
      items.push(removeImage);
    }
    return items.length ? h('div', {class: 'action-bar'}, items) : null;
  }

  function summary(image) {
    const pullRef = isDigest(reference) ? image.digest : reference;
    const otherTags = image.tags.length
      ? h('ul', {class: 'tag-list', 'data-testid': 'same-digest-tags'},
          image.tags.map((t) => h('li', {}, t === reference
            ? h('span', {class: 'chip chip--current', 'aria-current': 'page'}, t)
            : h('a', {class: 'chip chip--link', href: link.image(name, t)}, t))))
      : h('span', {class: 'muted'}, 'No tag points at this digest');
    return facts([
      ['Digest', h('span', {class: 'digest-copy'}, h('a', {href: link.search({q: image.digest}), title: 'Where else is this used?'}, h('code', {class: 'digest-full', title: image.digest}, image.digest)),
        copyButton(image.digest, {ariaLabel: 'Copy digest', className: 'copy-button--small'}))],
      ['Kind', h('span', {class: 'badges'}, kindBadge(image), ident(image.media_type, {tag: 'code', className: 'muted media-type'}))],
      image.artifact_type ? ['Artifact type', ident(image.artifact_type, {tag: 'code', className: 'media-type'})] : [null, null],
      ['Size', h('span', {}, size(image.size), image.kind === 'index' ? h('span', {class: 'muted'}, ' (every platform and attestation)') : null)],
      ['Created', timeAgo(newest(image.platforms.map((p) => p.created)))],
      ['Last used', lastUse(image)],
      ['Tags', otherTags],
      referrers(image.referrers),
      // a chart's pull command is in its own card, with the chart
      isHelmChart(image) ? [null, null] : ['Pull', pullBox(pullCommandFor(ctx.pullHost, name, pullRef, image).command)],
    ]);
  }

  function platformCard(p, multi) {
    const nameText = platformName(p.platform) || (p.artifact_type ? 'Artifact' : 'Unknown platform');
    const headingId = `platform-${p.digest.slice(7, 19)}`;
    const links = [];
    if (!p.error && !p.artifact_type) {
      links.push(h('a', {href: link.history(name, reference, multi ? platformName(p.platform) : undefined)}, 'Config & history'));
    }
    if (multi) links.push(h('a', {href: link.image(name, p.digest)}, 'Open this manifest'));
    if (p.config_digest) {
      links.push(h('a', {href: paths.blob(name, p.config_digest), download: '', 'aria-label': `Download config of ${nameText}`}, 'Download config'));
    }
    return h(
      'section',
      {class: 'card platform', 'aria-labelledby': headingId, 'data-testid': 'platform'},
      h('div', {class: 'card__head'},
        h('h3', {id: headingId, class: 'card__title'}, nameText),
        links.length ? h('div', {class: 'card__links'}, links) : null),
      p.error ? errorBox(p.error, 'This platform image could not be read') : null,
      facts([
        ['Digest', digest(p.digest)],
        ['Size', size(p.error ? null : p.size)],
        ['Created', timeAgo(p.created)],
        ['Media type', ident(p.media_type, {tag: 'code', className: 'media-type'})],
        p.artifact_type ? ['Artifact type', ident(p.artifact_type, {tag: 'code', className: 'media-type'})] : [null, null],
      ], 'facts--inline'),
      // a child's own annotations (a single image's are the page's Annotations already)
      multi && Object.keys(p.annotations ?? {}).length
        ? keyValueTable(p.annotations, {caption: `Annotations of ${nameText}`, keyLabel: 'Annotation'})
        : null,
      p.layers.length ? layersTable(p) : null,
    );
  }

  function layersTable(p) {
    const total = p.layers.reduce((sum, layer) => sum + layer.size, 0);
    return scroll(
      h(
        'table',
        {class: 'table table--stack table--layers', 'data-testid': 'layers'},
        h('caption', {}, `${plural(p.layers.length, 'layer')}, ${formatBytes(total)}`),
        h('thead', {}, h('tr', {},
          h('th', {scope: 'col', class: 'num'}, '#'),
          h('th', {scope: 'col'}, 'Digest'),
          h('th', {scope: 'col'}, 'Media type'),
          h('th', {scope: 'col', class: 'num'}, 'Size'),
          h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Download')))),
        h('tbody', {}, p.layers.map((layer, i) => h('tr', {},
          h('td', {class: 'num muted', 'data-label': 'Layer'}, String(i + 1)),
          h('td', {'data-label': 'Digest'}, digest(layer.digest)),
          h('td', {class: 'cell-ident', 'data-label': 'Media type'}, ident(layer.media_type, {tag: 'code', className: 'media-type'})),
          h('td', {class: 'num', 'data-label': 'Size'}, size(layer.size)),
          h('td', {'data-label': 'Download'}, layer.urls?.length
            ? h('span', {class: 'muted', title: layer.urls.join('\n')}, 'foreign layer')
            : h('a', {href: paths.blob(name, layer.digest), download: '', 'aria-label': `Download layer ${layer.digest}`}, 'Download'))))),
      ),
    );
  }

  function attestations(image) {
    const platformOf = new Map(image.platforms.map((p) => [p.digest, platformName(p.platform)]));
    return h(
      'section',
      {class: 'card', 'aria-labelledby': 'attestations-title', 'data-testid': 'attestations'},
      h('h2', {id: 'attestations-title', class: 'card__title'}, `Attestations (${image.attestations.length})`),
      h('p', {class: 'muted'}, 'Build provenance and SBOMs stored beside the platform images; they are not platforms.'),
      scroll(h(
        'table',
        {class: 'table table--stack'},
        h('thead', {}, h('tr', {},
          h('th', {scope: 'col'}, 'Digest'),
          h('th', {scope: 'col'}, 'For'),
          h('th', {scope: 'col'}, 'Predicate types'),
          h('th', {scope: 'col', class: 'num'}, 'Size'),
          h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Manifest')))),
        h('tbody', {}, image.attestations.map((a) => h('tr', {},
          h('td', {'data-label': 'Digest'}, digest(a.digest)),
          h('td', {'data-label': 'For'}, a.for_digest
            ? h('span', {class: 'chip', title: a.for_digest}, platformOf.get(a.for_digest) || shortDigest(a.for_digest))
            : '—'),
          h('td', {class: 'cell-ident', 'data-label': 'Predicate types'}, a.error
            ? h('span', {class: 'row-error'}, `${a.error.message} (${a.error.code})`)
            : h('span', {class: 'cell__value cell__value--lines'}, (a.predicate_types ?? []).map((t) => ident(t, {tag: 'code', className: 'block'})))),
          h('td', {class: 'num', 'data-label': 'Size'}, size(a.size)),
          h('td', {'data-label': 'Manifest'}, h('a', {href: paths.manifest(name, a.digest), target: '_blank', rel: 'noopener', 'aria-label': `Manifest of attestation ${a.digest}`}, 'Manifest'))))),
      )),
    );
  }

  function rawManifest(image) {
    const pre = h('pre', {class: 'code-block', tabindex: '0', 'data-testid': 'raw-manifest'});
    const details = h(
      'details',
      {class: 'card raw'},
      h('summary', {class: 'raw__summary'}, 'Raw manifest'),
      h('p', {class: 'muted'}, 'Exactly as stored (', h('a', {href: paths.manifest(name, image.digest), target: '_blank', rel: 'noopener'}, 'open the bytes'), '), pretty-printed:'),
      pre,
    );
    let loaded = false;
    details.addEventListener('toggle', async () => {
      if (!details.open || loaded) return;
      loaded = true;
      pre.textContent = 'Loading…';
      pre.setAttribute('aria-busy', 'true');
      try {
        const text = await api.manifestText(name, image.digest, controller.signal);
        pre.textContent = prettyJson(text);
      } catch (error) {
        if (isAbort(error) || error.handled) return;
        pre.replaceWith(errorBox(error, 'The manifest could not be loaded'));
      } finally {
        pre.removeAttribute('aria-busy');
      }
    });
    return details;
  }

  load();
  return {unmount: () => controller.abort()};
}

/** "index · 3 platforms · 2 attestations · 7.6 KiB" */
function overview(image) {
  const parts = [isHelmChart(image) ? 'Helm chart' : kindOf(image)];
  if (image.kind === 'index') parts.push(plural(image.platforms.length, 'platform'));
  else if (image.platforms[0] && platformName(image.platforms[0].platform)) parts.push(platformName(image.platforms[0].platform));
  if (image.attestations.length) parts.push(plural(image.attestations.length, 'attestation'));
  parts.push(formatBytes(image.size));
  return parts.join(' · ');
}

function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text; // not JSON: show it as it is
  }
}

/** Referrer counts ({"signature": 1, "sbom": 1}) as a facts row, when the gateway sends them. */
function referrers(counts) {
  const entries = Object.entries(counts ?? {}).filter(([, n]) => n > 0);
  if (!entries.length) return [null, null];
  return ['Referrers', h('span', {class: 'chips'}, entries.map(([kind, n]) => h('span', {class: 'chip'}, plural(n, kind))))];
}
