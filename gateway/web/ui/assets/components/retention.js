// The retention dialog: rules, then the preview (what goes, what stays and why, the
// bytes freed), then a confirmation, then each item's result. Nothing is deleted before
// the user confirms the preview; what is applied is the preview's plan, exactly.

import {encodeName, request} from '../api.js';
import {h, replace} from '../dom.js';
import {formatBytes, plural, shortDigest} from '../format.js';

const base = (name) => `/api/repositories/${encodeName(name)}`;

export const retentionApi = {
  preview: (name, rules) => request('POST', `${base(name)}/retention/preview`, {body: rules}),
  apply: (name, planId) => request('POST', `${base(name)}/retention/apply`, {body: {plan_id: planId}}),
};

/** The button that opens the dialog; `done()` runs after something was deleted. */
export function retentionButton(ctx, name, done) {
  const button = h('button', {type: 'button', class: 'button', 'data-testid': 'retention-open'}, 'Clean up…');
  button.addEventListener('click', () => openRetention(ctx, name, done));
  return button;
}

function field(label, input, hint) {
  return h('label', {class: 'retention__field'}, h('span', {class: 'retention__label'}, label), input, hint ? h('span', {class: 'muted retention__hint'}, hint) : null);
}

function rulesFrom(form) {
  const value = (id) => form.querySelector(`#${id}`).value.trim();
  const number = (id) => (value(id) === '' ? null : Number(value(id)));
  return {
    keep_last: number('retention-keep-last'),
    sort: value('retention-sort'),
    keep_regex: value('retention-keep-regex') || null,
    older_than_days: number('retention-older-than'),
    match_regex: value('retention-match-regex') || null,
  };
}

export function openRetention(ctx, name, done) {
  const titleId = `retention-title-${Math.random().toString(36).slice(2)}`;
  const title = h('h2', {class: 'dialog__title', id: titleId}, `Clean up ${name}`);
  const content = h('div', {class: 'dialog__body'});
  const actions = h('div', {class: 'dialog__actions'});
  const dialog = h('dialog', {class: 'dialog dialog--wide', 'aria-labelledby': titleId}, h('div', {class: 'dialog__inner'}, title, content, actions));
  let changed = false;
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (changed) done?.();
  });
  const close = h('button', {type: 'button', class: 'button'}, 'Cancel');
  close.addEventListener('click', () => dialog.close());

  function rulesStep(rules = {keep_last: 5, sort: 'version'}) {
    const form = h(
      'form',
      {class: 'retention__rules', 'data-testid': 'retention-rules'},
      field('Keep the newest', h('input', {id: 'retention-keep-last', type: 'number', min: '0', value: rules.keep_last ?? ''}), 'tags, empty: no such rule'),
      field('Newest by', h('select', {id: 'retention-sort'}, h('option', {value: 'version', selected: rules.sort !== 'created'}, 'version'), h('option', {value: 'created', selected: rules.sort === 'created'}, 'created date'))),
      field('Always keep tags matching', h('input', {id: 'retention-keep-regex', type: 'text', value: rules.keep_regex ?? '', placeholder: '^(latest|stable)$'}), 'a regular expression'),
      field('Only tags older than (days)', h('input', {id: 'retention-older-than', type: 'number', min: '0', value: rules.older_than_days ?? ''})),
      field('Only tags matching', h('input', {id: 'retention-match-regex', type: 'text', value: rules.match_regex ?? '', placeholder: 'every tag'})),
      h('p', {class: 'retention__error row-error', role: 'alert', hidden: true}),
    );
    const preview = h('button', {type: 'submit', class: 'button button--primary'}, 'Preview');
    preview.setAttribute('form', 'retention-form');
    form.id = 'retention-form';
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const wanted = rulesFrom(form);
      preview.disabled = true;
      try {
        previewStep(await retentionApi.preview(name, wanted), wanted);
      } catch (error) {
        if (error.handled) return;
        const box = form.querySelector('.retention__error');
        box.hidden = false;
        box.textContent = `${error.message} (${error.code})`;
      } finally {
        preview.disabled = false;
      }
    });
    replace(content, form);
    replace(actions, close, preview);
    form.querySelector('#retention-keep-last').focus();
  }

  function previewStep(plan, rules) {
    const rows = [
      ...plan.delete.map((t) => ({tag: t.tag, digest: t.digest, fate: 'delete', why: t.reason ?? 'selected by the rules'})),
      ...plan.keep.map((t) => ({tag: t.tag, digest: t.digest, fate: 'keep', why: t.reason})),
    ];
    const table = h(
      'table',
      {class: 'table retention__table', 'data-testid': 'retention-preview'},
      h('caption', {class: 'visually-hidden'}, 'What the rules delete and keep'),
      h('thead', {}, h('tr', {}, ['Tag', 'Digest', 'Outcome', 'Why'].map((c) => h('th', {scope: 'col'}, c)))),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h(
            'tr',
            {class: r.fate === 'delete' ? 'is-delete' : null, dataset: {tag: r.tag, fate: r.fate}},
            h('td', {}, h('code', {}, r.tag)),
            h('td', {}, h('code', {title: r.digest}, shortDigest(r.digest))),
            h('td', {}, r.fate === 'delete' ? h('span', {class: 'badge badge--danger'}, 'delete') : h('span', {class: 'badge'}, 'keep')),
            h('td', {class: 'muted'}, r.why),
          ),
        ),
      ),
    );
    const back = h('button', {type: 'button', class: 'button'}, 'Back');
    back.addEventListener('click', () => rulesStep(rules));
    const apply = h('button', {type: 'button', class: 'button button--danger', disabled: !plan.delete.length}, `Delete ${plural(plan.delete.length, 'tag')}`);
    apply.addEventListener('click', async () => {
      apply.disabled = true;
      back.disabled = true;
      try {
        const answer = await retentionApi.apply(name, plan.plan_id);
        changed = true;
        resultsStep(answer.results);
      } catch (error) {
        if (error.handled) return;
        replace(content, h('p', {class: 'row-error', role: 'alert', 'data-testid': 'retention-failed'}, `${error.message} (${error.code})`));
        replace(actions, close, back);
        back.disabled = false;
      }
    });
    replace(
      content,
      h(
        'p',
        {'data-testid': 'retention-summary'},
        `${plural(plan.delete.length, 'tag')} and ${plural(plan.manifests.length, 'manifest')} would be deleted, freeing `,
        h('strong', {}, formatBytes(plan.freed_bytes)),
        `; ${plural(plan.keep.length, 'tag')} stay.`,
      ),
      h('div', {class: 'table-scroll retention__scroll'}, table),
      h('p', {class: 'muted'}, 'A tag that shares its image with a kept tag is removed on its own; the image stays. This cannot be undone.'),
    );
    replace(actions, close, back, apply);
    close.focus();
  }

  function resultsStep(results) {
    const failed = results.filter((r) => r.status === 'failed');
    const table = h(
      'table',
      {class: 'table retention__table', 'data-testid': 'retention-results'},
      h('caption', {class: 'visually-hidden'}, 'What happened to each item'),
      h('thead', {}, h('tr', {}, ['Item', 'Result'].map((c) => h('th', {scope: 'col'}, c)))),
      h(
        'tbody',
        {},
        results.map((r) =>
          h(
            'tr',
            {dataset: {status: r.status}},
            h('td', {}, h('code', {}, r.tag ?? shortDigest(r.digest))),
            h('td', {}, r.status.replace('_', ' '), r.error ? [' — ', r.error.message, ' ', h('code', {}, r.error.code)] : null),
          ),
        ),
      ),
    );
    replace(
      content,
      h('p', {role: 'status', 'data-testid': 'retention-done'}, failed.length ? `${plural(failed.length, 'item')} could not be deleted.` : `Done: ${plural(results.length, 'item')} deleted or already gone.`),
      h('div', {class: 'table-scroll retention__scroll'}, table),
    );
    close.textContent = 'Close';
    replace(actions, close);
    close.focus();
  }

  document.body.append(dialog);
  dialog.showModal();
  rulesStep();
}
