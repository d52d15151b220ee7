// What refers to an image (GET /api/repositories/{name}/images/{reference}/referrers):
// a "signed" badge when a signature does, and every signature, SBOM and attestation
// with its kind, type, date, size and a link to its raw manifest. Asked only when the
// image detail counts some (its `referrers`), so an image with none costs nothing.

import {isAbort, paths} from '../api.js';
import {h, replace} from '../dom.js';
import {plural} from '../format.js';
import {cell, digest, ident, scroll, size, timeAgo} from './parts.js';
import {errorBox, loading} from './status.js';

const KIND_LABELS = {signature: 'Signature', sbom: 'SBOM', attestation: 'Attestation', other: 'Other'};
const SOURCE_LABELS = {
  api: 'from the registry’s referrers API',
  tag: 'from the referrers index tag',
  cosign: 'from cosign’s tags',
  mixed: 'from the referrers index and cosign’s tags',
};

/**
 * The badge for referrer counts ({"signature": 1, …}) saying that a signature exists —
 * not that it was verified: the gateway lists signatures, it does not check them
 * (cosign verify or notation verify do). null when there is none.
 */
export function signedBadge(counts) {
  const n = counts?.signature ?? 0;
  if (!n) return null;
  return h(
    'span',
    {class: 'badge badge--signed', 'data-testid': 'signed-badge', title: `${plural(n, 'signature')} refer to it; not verified here (use cosign verify or notation verify)`},
    'has signature',
    h('span', {class: 'visually-hidden'}, ' (not verified)'),
  );
}

/** The card listing an image's referrers; null when the detail counts none. */
export function referrersCard(ctx, name, image, signal) {
  const total = Object.values(image.referrers ?? {}).reduce((sum, n) => sum + n, 0);
  if (!total) return null;
  const body = h('div', {}, loading('Loading signatures and SBOMs…'));
  const note = h('p', {class: 'muted'});
  const card = h(
    'section',
    {class: 'card', 'aria-labelledby': 'referrers-title', 'data-testid': 'referrers'},
    h('div', {class: 'card__head'},
      h('h2', {id: 'referrers-title', class: 'card__title'}, `Signatures and SBOMs (${total})`),
      signedBadge(image.referrers)),
    note,
    image.referrers?.signature
      ? h('p', {class: 'muted'}, 'Signatures are listed, not verified: check one with ', h('code', {}, 'cosign verify'), ' or ', h('code', {}, 'notation verify'), '.')
      : null,
    body,
  );
  ctx.api.referrers(name, image.digest, signal).then(
    (found) => {
      note.textContent = `Artifacts that refer to this ${image.kind === 'index' ? 'index' : 'image'}, ${SOURCE_LABELS[found.source] ?? found.source}.`;
      replace(body, table(name, found.referrers));
    },
    (error) => {
      if (isAbort(error) || error.handled) return;
      replace(body, errorBox(error, 'Its signatures and SBOMs could not be listed'));
    },
  );
  return card;
}

function table(name, referrers) {
  return scroll(h(
    'table',
    {class: 'table table--stack', 'data-testid': 'referrers-table'},
    h('thead', {}, h('tr', {},
      h('th', {scope: 'col'}, 'Kind'),
      h('th', {scope: 'col'}, 'Type'),
      h('th', {scope: 'col'}, 'Digest'),
      h('th', {scope: 'col'}, 'Created'),
      h('th', {scope: 'col', class: 'num'}, 'Size'),
      h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Manifest')))),
    h('tbody', {}, referrers.map((r) => h('tr', {dataset: {kind: r.kind}},
      cell('Kind', h('span', {class: `badge badge--${r.kind}`}, KIND_LABELS[r.kind] ?? r.kind)),
      h('td', {class: 'cell-ident', 'data-label': 'Type'}, h('span', {class: 'cell__value cell__value--lines'},
        r.artifact_type ? ident(r.artifact_type, {tag: 'code', className: 'media-type block'}) : h('span', {class: 'muted'}, '—'),
        r.tag ? h('span', {class: 'muted block'}, 'tag ', ident(r.tag, {tag: 'code'})) : null)),
      cell('Digest', digest(r.digest)),
      cell('Created', timeAgo(r.created)),
      h('td', {class: 'num', 'data-label': 'Size'}, size(r.size)),
      cell('Manifest', h('a', {href: paths.manifest(name, r.digest), target: '_blank', rel: 'noopener', 'aria-label': `Manifest of ${KIND_LABELS[r.kind] ?? r.kind} ${r.digest}`}, 'Manifest'))))),
  ));
}

/** The tag list's note on artifact tags it left out (page.hidden), with the button that
 * lists them (or hides them again); null when there are none either way. A line of its
 * own above the list, drawn with it. */
export function artifactTagsToggle(page, shown, onToggle) {
  if (!shown && !page.hidden) return null;
  const button = h('button', {type: 'button', class: 'button button--quiet button--small', 'data-testid': 'artifact-tags-toggle'},
    shown ? 'Hide them' : 'Show them');
  button.addEventListener('click', () => onToggle(!shown));
  const text = shown
    ? 'Signature, SBOM and attestation tags listed.'
    : `${plural(page.hidden, 'signature, SBOM or attestation tag', 'signature, SBOM and attestation tags')} hidden.`;
  return h('p', {class: 'artifact-tags muted', 'data-testid': 'artifact-tags'}, text, ' ', button);
}
