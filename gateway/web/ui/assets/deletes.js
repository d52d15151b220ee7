// Deletes, behind a confirmation that names exactly what goes. Only offered when
// /api/config says features.delete; the gateway refuses them otherwise (403
// DELETE_DISABLED). Both answer 202 with the tags they removed (`untagged`).

import {h} from './dom.js';
import {shortDigest} from './format.js';
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
      h('p', {}, 'This deletes the image ', h('code', {class: 'digest-full'}, image.digest), ' from ', h('strong', {}, name), '.'),
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
    return answer;
  } catch (error) {
    if (!error.handled) notify(`The image could not be deleted: ${error.message} (${error.code})`, {kind: 'error', keep});
    return null;
  }
}
