// Deletes, behind a confirmation that names exactly what goes. Only offered when
// /api/config says features.delete; the gateway refuses them otherwise (403
// DELETE_DISABLED). The single deletes answer 202 with the tags they removed
// (`untagged`); a selection goes through the bulk endpoint, answered per item. Each
// delete that went through says so (changed()), so every view of the repository reloads.

import {encodeName, request} from './api.js';
import {changed} from './changes.js';
import {h} from './dom.js';
import {plural, shortDigest} from './format.js';
import {confirmDialog} from './components/dialog.js';
import {notify} from './components/status.js';

/**
 * Ask, then DELETE /api/repositories/{name}/tags/{tag}: only that tag goes; the image
 * and its other tags stay. keep: navigations the notice survives. → the answer or null.
 */
export async function confirmTagDelete(ctx, name, tag, digest, {keep = 0} = {}) {
  const confirmed = await confirmDialog({
    title: `Delete tag ${tag}?`,
    body: [
      h('p', {}, 'This removes the tag ', h('strong', {}, `${name}:${tag}`), '.'),
      h(
        'p',
        {class: 'muted'},
        digest ? `The image it points at (${shortDigest(digest)}) and that image's other tags are kept.` : "The image's other tags are kept.",
      ),
    ],
    confirmLabel: 'Delete tag',
  });
  if (!confirmed) return null;
  try {
    const answer = await ctx.api.deleteTag(name, tag);
    notify(`Deleted tag ${tag} of ${name}. Untagged: ${answer.untagged.join(', ') || 'none'}.`, {keep});
    changed(name);
    return answer;
  } catch (error) {
    if (!error.handled) notify(`The tag ${tag} could not be deleted: ${error.message} (${error.code})`, {kind: 'error', keep});
    return null;
  }
}

/**
 * Ask, then DELETE /api/repositories/{name}/images/{digest}: the manifest goes, and with
 * it every tag that points at it — the confirmation lists them (the image detail's
 * `tags`). keep: navigations the notice survives. → the answer or null.
 */
export async function confirmImageDelete(ctx, name, image, {keep = 0} = {}) {
  const tags = image.tags ?? [];
  const confirmed = await confirmDialog({
    title: `Delete image ${shortDigest(image.digest)}?`,
    body: [
      h('p', {}, 'This deletes the image ', h('code', {class: 'digest-full', title: image.digest}, image.digest), ' from ', h('strong', {}, name), '.'),
      tags.length
        ? [
            h('p', {}, `It removes ${tags.length === 1 ? 'this tag' : `these ${tags.length} tags`}:`),
            h('ul', {class: 'dialog__list', 'data-testid': 'tags-removed'}, tags.map((t) => h('li', {}, h('code', {}, t)))),
          ]
        : h('p', {}, 'No tag points at it.'),
      h('p', {class: 'muted'}, 'This cannot be undone.'),
    ],
    confirmLabel: 'Delete image',
  });
  if (!confirmed) return null;
  try {
    const answer = await ctx.api.deleteImage(name, image.digest);
    const untagged = answer.untagged.length ? answer.untagged.join(', ') : 'none';
    notify(`Deleted image ${shortDigest(answer.deleted)} from ${name}. Untagged: ${untagged}.`, {keep});
    changed(name);
    return answer;
  } catch (error) {
    if (!error.handled) notify(`The image could not be deleted: ${error.message} (${error.code})`, {kind: 'error', keep});
    return null;
  }
}

/**
 * What deleting the selected tags takes: an image goes with them when every tag of the
 * repository that points at it is selected (as retention does), otherwise only the tags
 * go and the image stays. The whole repository's tag → digest map comes from its usage
 * figures (cached, and asked for by the storage panel anyway); without them, only tags.
 * → {tags: [tag], images: [{digest, tags}], known: bool}
 */
export async function bulkPlan(name, selected) {
  let byTag;
  try {
    byTag = (await request('GET', `/api/repositories/${encodeName(name)}/usage`, {login: true})).by_tag;
  } catch {
    return {tags: [...selected.keys()], images: [], known: false};
  }
  const tagsOf = new Map();
  for (const row of byTag) {
    if (!tagsOf.has(row.digest)) tagsOf.set(row.digest, []);
    tagsOf.get(row.digest).push(row.tag);
  }
  const images = [];
  const going = new Set();
  for (const [digest, tags] of tagsOf) {
    if (tags.every((t) => selected.has(t))) {
      images.push({digest, tags: [...tags].sort()});
      tags.forEach((t) => going.add(t));
    }
  }
  return {tags: [...selected.keys()].filter((t) => !going.has(t)).sort(), images, known: true};
}

/**
 * Ask, then POST /api/repositories/{name}/delete: the tags alone (their images stay),
 * and the images all of whose tags are selected. The dialog names every tag and every
 * image that goes. selected: Map tag → digest. → the results, or null.
 */
export async function confirmBulkDelete(ctx, name, selected) {
  const plan = await bulkPlan(name, selected);
  const tagCount = plan.tags.length + plan.images.reduce((n, i) => n + i.tags.length, 0);
  const body = [
    h('p', {}, `This deletes ${plural(tagCount, 'tag')} of `, h('strong', {}, name), '.'),
  ];
  if (plan.images.length) {
    body.push(
      h('p', {}, `${plan.images.length === 1 ? 'This image goes' : `These ${plan.images.length} images go`}, with every tag on it:`),
      h('ul', {class: 'dialog__list', 'data-testid': 'images-removed'}, plan.images.map((i) =>
        h('li', {}, h('code', {title: i.digest}, shortDigest(i.digest)), ' — ', i.tags.map((t, k) => [k ? ', ' : '', h('code', {}, t)])))),
    );
  }
  if (plan.tags.length) {
    body.push(
      h('p', {}, plan.images.length ? 'These tags go; the images they point at stay (another tag points at them):' : 'These tags go; the images they point at stay:'),
      h('ul', {class: 'dialog__list', 'data-testid': 'tags-removed'}, plan.tags.map((t) => h('li', {}, h('code', {}, t)))),
    );
  }
  if (!plan.known) body.push(h('p', {class: 'muted'}, 'The repository’s other tags could not be read, so every image stays.'));
  body.push(h('p', {class: 'muted'}, 'This cannot be undone.'));
  const confirmed = await confirmDialog({
    title: `Delete ${plural(tagCount, 'tag')}${plan.images.length ? ` and ${plural(plan.images.length, 'image')}` : ''}?`,
    body,
    confirmLabel: 'Delete',
  });
  if (!confirmed) return null;
  let answer;
  try {
    answer = await request('POST', `/api/repositories/${encodeName(name)}/delete`, {
      body: {tags: plan.tags, digests: plan.images.map((i) => i.digest)},
    });
  } catch (error) {
    if (!error.handled) notify(`The selection could not be deleted: ${error.message} (${error.code})`, {kind: 'error'});
    return null;
  }
  const failed = answer.results.filter((r) => r.status === 'failed');
  const done = answer.results.length - failed.length;
  notify(`Deleted ${plural(done, 'item')} of ${name}${failed.length ? '' : '.'}`
    + (failed.length ? `; ${failed.length} could not be deleted: ${failed.map((r) => `${r.tag ?? shortDigest(r.digest)} (${r.error?.code})`).join(', ')}.` : ''),
  {kind: failed.length ? 'error' : 'success'});
  changed(name);
  return answer;
}
