// The retention dialog: rules, then the preview (what goes, what stays and why, the
// bytes freed), then a confirmation, then each item's result. Nothing is deleted before
// the user confirms the preview; what is applied is the preview's plan, exactly.

import {encodeName, request} from '../api.js';
import {changed} from '../changes.js';
import {h, replace} from '../dom.js';
import {formatBytes, plural, shortDigest} from '../format.js';
import {cell, ident} from './parts.js';

const base = (name) => `/api/repositories/${encodeName(name)}`;

export const retentionApi = {
  preview: (name, rules) => request('POST', `${base(name)}/retention/preview`, {body: rules}),
  apply: (name, planId) => request('POST', `${base(name)}/retention/apply`, {body: {plan_id: planId}}),
};

/** The button that opens the dialog. When something was deleted, every view of the
 * repository is told once the dialog closes (changes.js). */
export function retentionButton(ctx, name) {
  const button = h('button', {type: 'button', class: 'button', 'data-testid': 'retention-open'}, 'Clean up…');
  button.addEventListener('click', () => openRetention(ctx, name));
  return button;
}

/**
 * The API's reason for a tag's fate (`keep_regex: matched`, `tag only: its image stays
 * (tagged stable)`…) as a sentence for people; a reason it does not know is shown as
 * it came. rules: what the preview was asked with (to name the patterns).
 */
export function reasonInWords(reason, fate, rules = {}) {
  const short = (text) => text.replace(/sha256:([0-9a-f]{12})[0-9a-f]+/g, 'sha256:$1…');
  if (!reason) return fate === 'delete' ? 'Selected by the rules; its image goes too' : '';
  let m;
  if (reason === 'keep_regex: matched') {
    return rules.keep_regex ? `Matches “${rules.keep_regex}”, which is always kept` : 'Matches the always-keep pattern';
  }
  if (reason === 'match_regex: not matched') {
    return rules.match_regex ? `Not looked at: does not match “${rules.match_regex}”` : 'Not looked at by the rules';
  }
  if ((m = /^keep_last: among the (\d+) newest by (\w+)$/.exec(reason))) {
    const by = m[2] === 'created' ? 'created date' : m[2];
    return m[1] === '1' ? `The newest by ${by}` : `One of the ${m[1]} newest by ${by}`;
  }
  if (reason === 'older_than_days: created date unknown') return 'Kept: its created date is unknown';
  if ((m = /^older_than_days: newer than ([\d.]+) days$/.exec(reason))) return `Newer than ${m[1]} days`;
  if (reason === 'pulled recently') return 'Pulled recently';
  if ((m = /^not_pulled_days: (pushed recently|not tracked long enough|activity unavailable)$/.exec(reason))) {
    return {
      'pushed recently': 'Pushed recently: too new to judge by its pulls',
      'not tracked long enough': 'Pulls have not been recorded for that long yet',
      'activity unavailable': 'The activity log cannot be read now: kept',
    }[m[1]];
  }
  if ((m = /^referrer of (\S+), which stays$/.exec(reason))) {
    return `A signature, SBOM or attestation of ${short(m[1])}, which stays`;
  }
  if ((m = /^referrer of (\S+)$/.exec(reason))) {
    return `A signature, SBOM or attestation of ${short(m[1])}: goes with it`;
  }
  if ((m = /^tag only: its image stays \((.*)\)$/.exec(reason))) {
    return `Only the tag goes: its image stays (${m[1]})`;
  }
  return short(reason);
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
    not_pulled_days: number('retention-not-pulled'),
  };
}

/** The dialog; ``initial``: the rules it opens with (the stale report fills in
 * not_pulled_days). */
export function openRetention(ctx, name, initial = undefined) {
  const titleId = `retention-title-${Math.random().toString(36).slice(2)}`;
  const title = h('h2', {class: 'dialog__title', id: titleId}, `Clean up ${name}`);
  const content = h('div', {class: 'dialog__body'});
  const actions = h('div', {class: 'dialog__actions'});
  const dialog = h('dialog', {class: 'dialog dialog--wide', 'aria-labelledby': titleId}, h('div', {class: 'dialog__inner'}, title, content, actions));
  let deleted = false;
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (deleted) changed(name);
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
      field('Only tags not pulled for (days)', h('input', {id: 'retention-not-pulled', type: 'number', min: '1', value: rules.not_pulled_days ?? ''}), 'the activity log'),
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
      ...plan.delete.map((t) => ({tag: t.tag, digest: t.digest, fate: 'delete', why: reasonInWords(t.reason, 'delete', rules)})),
      ...plan.keep.map((t) => ({tag: t.tag, digest: t.digest, fate: 'keep', why: reasonInWords(t.reason, 'keep', rules)})),
    ];
    const table = h(
      'table',
      {class: 'table table--stack retention__table', 'data-testid': 'retention-preview'},
      h('caption', {class: 'visually-hidden'}, 'What the rules delete and keep'),
      h('thead', {}, h('tr', {}, ['Tag', 'Digest', 'Outcome', 'Why'].map((c) => h('th', {scope: 'col'}, c)))),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h(
            'tr',
            {class: r.fate === 'delete' ? 'is-delete' : null, dataset: {tag: r.tag, fate: r.fate}},
            cell('Tag', ident(r.tag, {tag: 'code'})),
            cell('Digest', h('code', {class: 'digest ident', title: r.digest}, shortDigest(r.digest))),
            cell('Outcome', r.fate === 'delete' ? h('span', {class: 'badge badge--danger'}, 'delete') : h('span', {class: 'badge badge--keep'}, 'keep')),
            h('td', {class: 'muted retention__why', 'data-label': 'Why'}, r.why),
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
        deleted = true;
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
      // it scrolls: reachable from the keyboard, and named for screen readers
      h('div', {class: 'table-scroll retention__scroll', tabindex: '0', role: 'region', 'aria-label': 'Preview'}, table),
      h('p', {class: 'muted'}, 'A tag that shares its image with a kept tag is removed on its own; the image stays. This cannot be undone.'),
    );
    replace(actions, close, back, apply);
    close.focus();
  }

  function resultsStep(results) {
    const failed = results.filter((r) => r.status === 'failed');
    const table = h(
      'table',
      {class: 'table table--stack retention__table retention__table--results', 'data-testid': 'retention-results'},
      h('caption', {class: 'visually-hidden'}, 'What happened to each item'),
      h('thead', {}, h('tr', {}, ['Item', 'Result'].map((c) => h('th', {scope: 'col'}, c)))),
      h(
        'tbody',
        {},
        results.map((r) =>
          h(
            'tr',
            {dataset: {status: r.status}},
            cell('Item', r.tag ? ident(r.tag, {tag: 'code'}) : h('code', {class: 'digest ident', title: r.digest}, shortDigest(r.digest))),
            cell('Result', r.status.replace('_', ' '), r.error ? [' — ', r.error.message, ' ', h('code', {}, r.error.code)] : null),
          ),
        ),
      ),
    );
    replace(
      content,
      h('p', {role: 'status', 'data-testid': 'retention-done'}, failed.length ? `${plural(failed.length, 'item')} could not be deleted.` : `Done: ${plural(results.length, 'item')} deleted or already gone.`),
      h('div', {class: 'table-scroll retention__scroll', tabindex: '0', role: 'region', 'aria-label': 'Results'}, table),
    );
    close.textContent = 'Close';
    replace(actions, close);
    close.focus();
  }

  document.body.append(dialog);
  dialog.showModal();
  rulesStep(initial);
}
