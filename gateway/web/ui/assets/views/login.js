// The login form, shown when the registry needs credentials (/api/config auth.login) and
// a data call answered 401. POST /api/session checks the credentials against the
// registry; the browser gets an HttpOnly session cookie and never holds the password
// or a registry token. After login the user returns to where they were (?next=).

import {h, replace} from '../dom.js';
import {pageTitle} from '../components/parts.js';
import {errorBox, notify} from '../components/status.js';

export const title = () => 'Log in';

/**
 * Only a path of this UI is a place to return to (never another origin, never /login).
 * The browser's own URL parser decides, so no spelling (`//host`, `/\host`, `/<tab>/host`)
 * can smuggle another origin past a prefix check.
 */
export function safeNext(next) {
  if (!next || !next.startsWith('/')) return '/';
  let url;
  try {
    url = new URL(next, window.location.origin);
  } catch {
    return '/';
  }
  if (url.origin !== window.location.origin || url.pathname === '/login') return '/';
  return url.pathname + url.search + url.hash;
}

export function mount(root, route, ctx) {
  const {api, link, navigate} = ctx;
  const next = safeNext(route.query.get('next'));

  if (!ctx.config.auth.login) {
    root.append(
      pageTitle('No login needed'),
      h('p', {}, 'This registry does not ask for credentials.'),
      h('p', {}, h('a', {href: link.repositories()}, 'Show the repositories')),
    );
    return {};
  }
  if (ctx.user?.authenticated && ctx.user.source === 'session') {
    navigate(next, {replace: true});
    return {};
  }

  const reason = route.state?.reason;
  const username = h('input', {id: 'login-username', name: 'username', class: 'input', type: 'text', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false'});
  const password = h('input', {id: 'login-password', name: 'password', class: 'input', type: 'password', autocomplete: 'current-password', required: true});
  const submit = h('button', {type: 'submit', class: 'button button--primary button--wide'}, 'Log in');
  const feedback = h('div', {class: 'login__feedback'});
  const form = h(
    'form',
    {class: 'login__form', method: 'post'},
    h('div', {class: 'field'}, h('label', {for: 'login-username', class: 'field__label'}, 'Username'), username),
    h('div', {class: 'field'}, h('label', {for: 'login-password', class: 'field__label'}, 'Password'), password),
    feedback,
    submit,
  );

  root.append(
    h(
      'div',
      {class: 'login card'},
      pageTitle('Log in'),
      reason === 'expired'
        ? h('p', {class: 'notice notice--warning', role: 'alert'}, 'Your session has ended. Log in again to continue.')
        : reason === 'required'
          ? h('p', {class: 'notice notice--info', role: 'status'}, 'This registry needs you to log in.')
          : null,
      h('p', {class: 'muted'}, 'Use your account on ', h('strong', {}, ctx.pullHost), '. The registry checks it; this page never stores your password.'),
      form,
    ),
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    replace(feedback);
    try {
      const answer = await api.login(username.value.trim(), password.value);
      ctx.setUser({authenticated: true, username: answer.username, source: 'session'});
      notify(`Logged in as ${answer.username}.`, {keep: 1});
      navigate(next, {replace: true});
    } catch (error) {
      replace(feedback, errorBox(error, error.status === 401 ? 'Login failed' : 'The login could not be checked'));
      password.select();
    } finally {
      submit.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });

  username.focus();
  return {};
}
