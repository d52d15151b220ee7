// Loading, error and empty states, page notices and screen-reader announcements.

import {isAbort} from '../api.js';
import {h, replace} from '../dom.js';

/** A "Loading…" line (role=status); put it in a region marked aria-busy. */
export function loading(text = 'Loading…') {
  return h('p', {class: 'loading', role: 'status'}, h('span', {class: 'spinner', 'aria-hidden': 'true'}), text);
}

/**
 * An error box showing the envelope's message and code:
 * "manifest unknown" — MANIFEST_UNKNOWN · HTTP 404.
 */
export function errorBox(error, title = 'Something went wrong') {
  const code = error?.code ?? 'ERROR';
  const status = error?.status ? ` · HTTP ${error.status}` : '';
  return h(
    'div',
    {class: 'error-box', role: 'alert'},
    h('p', {class: 'error-box__title'}, title),
    h('p', {class: 'error-box__message'}, error?.message || String(error)),
    h('p', {class: 'error-box__code'}, h('code', {}, code), status),
  );
}

/** A friendly empty state: a headline and an optional hint or action. */
export function emptyState(text, ...extra) {
  return h('div', {class: 'empty-state'}, h('p', {class: 'empty-state__text'}, text), ...extra);
}

// -- notices (top of the page, survive the navigation they announce) -------------------

const notices = [];

/**
 * Show a notice above the page. kind: 'success' | 'error'. keep: how many navigations it
 * survives (1 for "Deleted … " shown on the page the app navigates to next).
 */
export function notify(message, {kind = 'success', keep = 0} = {}) {
  const region = document.getElementById('notices');
  const close = h('button', {type: 'button', class: 'notice__close', 'aria-label': 'Dismiss'}, '×');
  const el = h(
    'div',
    {class: `notice notice--${kind}`, role: kind === 'error' ? 'alert' : 'status'},
    h('span', {class: 'notice__text'}, message),
    close,
  );
  const entry = {el, keep};
  close.addEventListener('click', () => dismiss(entry));
  notices.push(entry);
  region.append(el);
}

function dismiss(entry) {
  entry.el.remove();
  notices.splice(notices.indexOf(entry), 1);
}

/** Called on every navigation: notices that have outlived their `keep` go. */
export function ageNotices() {
  for (const entry of [...notices]) {
    if (entry.keep <= 0) dismiss(entry);
    else entry.keep -= 1;
  }
}

/** Say something to screen readers (e.g. "Copied"). */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  replace(region, '');
  // a fresh text node after a tick, so the same words are announced again
  window.setTimeout(() => replace(region, text), 30);
}

// -- one request at a time into a region -------------------------------------------------

/**
 * A list that reloads (new search, sort, page) must show the answer to the newest
 * request only. `run(fetch, show, fail)` aborts the request before it, marks `region`
 * aria-busy while it runs (with a loading line when the region is still empty), then
 * calls show(result) or fail(error) — unless a newer run or abort() came first, or the
 * 401 handler already took the user to the login form.
 */
export function latestLoader(region, loadingText) {
  let controller = null;
  return {
    async run(fetch, show, fail) {
      controller?.abort();
      controller = new AbortController();
      const {signal} = controller;
      if (!region.firstChild) replace(region, loading(loadingText));
      region.setAttribute('aria-busy', 'true');
      try {
        const result = await fetch(signal);
        if (!signal.aborted) await show(result); // a long list is drawn in parts
      } catch (error) {
        if (!isAbort(error) && !error.handled) fail(error);
      } finally {
        if (!signal.aborted) region.removeAttribute('aria-busy');
      }
    },
    abort: () => controller?.abort(),
  };
}
