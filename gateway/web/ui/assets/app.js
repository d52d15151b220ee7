// Light Registry's reference UI: boot, the header, and the glue between the router and
// the views. It uses only the public /api endpoints (see api.js).
//
// A view is a module with mount(root, route, ctx) → {update?(route), unmount?()},
// title(route) and optionally key(route). When a navigation keeps the view and its key
// (the same repository, only ?q= or ?sort= changed), update() is called instead of a
// fresh mount, so the search box keeps its focus while the results change.

import {api, isSessionExpired, onUnauthorized} from './api.js';
import {h, replace} from './dom.js';
import {current, link, navigate, start} from './router.js';
import {ageNotices, notify} from './components/status.js';
import * as activity from './views/activity.js';
import * as compare from './views/compare.js';
import * as files from './views/files.js';
import * as history from './views/history.js';
import * as image from './views/image.js';
import * as login from './views/login.js';
import * as notfound from './views/notfound.js';
import * as repositories from './views/repositories.js';
import * as search from './views/search.js';
import * as stale from './views/stale.js';
import {headerSearch} from './components/search_box.js';
import * as tags from './views/tags.js';

const VIEWS = {
  repositories, tags, image, history, files, compare, login, activity, stale, search, notfound,
};

/** What the UI assumes when /api/config cannot be read: read-only, no login control. */
const FALLBACK_CONFIG = {
  version: '',
  auth: {registry: 'none', service_account: false, login: false},
  features: {delete: false},
  registry: {pull_host: window.location.host},
};

/** Shared with every view. */
const ctx = {
  api,
  link,
  navigate,
  config: FALLBACK_CONFIG,
  configLoaded: false,
  user: null, // GET /api/session: {authenticated, username, source}
  get pullHost() {
    return this.config.registry?.pull_host || window.location.host;
  },
  get canDelete() {
    return Boolean(this.config.features?.delete);
  },
  setUser(user) {
    this.user = user;
    renderHeader();
  },
};

// -- the header: product name, the registry's pull host, the user ----------------------

function renderHeader() {
  const host = document.getElementById('pull-host');
  replace(host, h('span', {class: 'pull-host__label'}, 'Registry'), ' ', h('code', {}, ctx.pullHost));
  host.hidden = false;

  for (const a of document.querySelectorAll('#site-nav a')) {
    if (a.getAttribute('href') === window.location.pathname) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }

  const nav = document.getElementById('user-nav');
  const user = ctx.user;
  if (user?.authenticated) {
    const items = [h('span', {class: 'user-nav__name', 'data-testid': 'user-name'}, h('span', {class: 'visually-hidden'}, 'Logged in as '), user.username)];
    if (user.source === 'session') {
      const logoutButton = h('button', {type: 'button', class: 'button button--quiet'}, 'Log out');
      logoutButton.addEventListener('click', logout);
      items.push(logoutButton);
    }
    replace(nav, items);
  } else if (ctx.config.auth?.login && current().view !== 'login') {
    replace(nav, h('a', {class: 'button button--quiet', href: link.login(current().href)}, 'Log in'));
  } else {
    replace(nav);
  }
}

async function logout() {
  try {
    await api.logout();
  } catch (error) {
    notify(`Logging out failed: ${error.message} (${error.code})`, {kind: 'error'});
    return;
  }
  ctx.setUser({authenticated: false, username: null, source: null});
  notify('You are logged out.', {keep: 1});
  if (ctx.config.auth?.service_account) navigate(current().href, {replace: true});
  else navigate(link.login(current().href));
}

// -- 401: back to the login form, keeping the place to return to -----------------------

function handleUnauthorized(error) {
  // When the registry checks no credentials, a login cannot help: the view shows the error.
  if (ctx.configLoaded && !ctx.config.auth?.login) return false;
  const route = current();
  if (route.view === 'login') return true;
  ctx.user = {authenticated: false, username: null, source: null};
  const reason = isSessionExpired(error) ? 'expired' : 'required';
  navigate(link.login(route.href), {replace: true, state: {reason}});
  return true;
}

// -- rendering a route -------------------------------------------------------------------

const searchBox = headerSearch({link, navigate}); // one search box, in the header
let active = null; // {view, key, instance}
let generation = 0;

function render(route) {
  const view = VIEWS[route.view] ?? notfound;
  const key = view.key ? view.key(route) : route.view;
  document.title = `${view.title(route)} — Light Registry`;
  renderHeader();
  searchBox.sync(route);
  if (active && active.view === view && active.key === key && active.instance.update) {
    active.instance.update(route);
    return;
  }
  ageNotices(); // a notice lasts until the next page (or longer: notify's `keep`)
  active?.instance.unmount?.();
  active = null;
  const main = document.getElementById('main');
  main.replaceChildren();
  main.dataset.view = route.view;
  const mine = ++generation;
  const instance = view.mount(main, route, ctx) ?? {};
  if (mine !== generation) return; // the view navigated elsewhere while mounting
  active = {view, key, instance};
  if (route.how === 'push' || route.how === 'pop') {
    if (route.how === 'push') window.scrollTo(0, 0);
    // move the focus to the new page's heading (for keyboard and screen-reader users)
    if (!main.contains(document.activeElement)) main.querySelector('h1')?.focus({preventScroll: true});
  }
}

async function boot() {
  const first = current();
  (VIEWS[first.view] ?? notfound).prefetch?.(first, api); // its data, with the config
  const [config, session] = await Promise.allSettled([api.config(), api.session()]);
  if (config.status === 'fulfilled') {
    ctx.config = config.value;
    ctx.configLoaded = true;
  } else {
    const e = config.reason;
    notify(`The gateway's configuration could not be read: ${e.message} (${e.code}).`, {kind: 'error', keep: 1});
  }
  if (session.status === 'fulfilled') ctx.user = session.value;
  onUnauthorized(handleUnauthorized);
  start(render);
}

boot();
