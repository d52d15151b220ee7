// History API routing. The URL holds the whole view, so a deep link survives a reload
// and back/forward work:
//
//   /                                          repositories   ?q= &n= &last=
//   /r/<name>                                  tags           ?q= &sort= &n= &last=
//   /r/<name>/-/image/<reference>              image detail   (a tag or a digest)
//   /r/<name>/-/image/<reference>/history      config and history   ?platform=os/arch[/variant]
//   /r/<name>/-/image/<reference>/files        files inside   ?platform= &path= &layer= &file= &deleted=
//   /r/<name>/-/compare                        two images compared   ?from= &to= &platform= &change= &path=
//   /login                                     login form     ?next=<where to go after>
//   /activity                                  activity feed  ?repository= &action= &actor= &last=
//   /stale                                     stale report   ?days= &last=
//   /search                                    search results ?q= &last=  (views/search.js)
//
// A repository name may hold any number of "/" (team/app/api), but none of its path
// components can be "-" (components are lowercase alphanumerics joined by separators),
// so "/-/" unambiguously ends the name. `last` is the API's forward cursor; the cursors
// of the pages before it live in history.state, which survives reload and back/forward.
// The gateway answers index.html for every such path, so the server needs no routes.

const RESERVED = '-';

/** Encode one path component; ":" and "@" stay readable (sha256:…). */
function encodeSegment(segment) {
  return encodeURIComponent(segment).replace(/%3A/gi, ':').replace(/%40/g, '@');
}

function encodeRepoName(name) {
  return name.split('/').map(encodeSegment).join('/');
}

/** A path plus the query parameters that are set (null, undefined and '' are left out). */
function withQuery(path, query = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

/** Builders for every URL of the UI; views never assemble paths by hand. */
export const link = {
  repositories: (query = {}) => withQuery('/', query),
  tags: (name, query = {}) => withQuery(`/r/${encodeRepoName(name)}`, query),
  image: (name, reference) => `/r/${encodeRepoName(name)}/${RESERVED}/image/${encodeSegment(reference)}`,
  history: (name, reference, platform) =>
    withQuery(`${link.image(name, reference)}/history`, {platform}),
  files: (name, reference, query = {}) => withQuery(`${link.image(name, reference)}/files`, query),
  compare: (name, query = {}) => withQuery(`/r/${encodeRepoName(name)}/${RESERVED}/compare`, query),
  login: (next) => withQuery('/login', {next}),
  activity: (query = {}) => withQuery('/activity', query),
  stale: (query = {}) => withQuery('/stale', query),
  search: (query = {}) => withQuery('/search', query),
};

/**
 * Parse a location into a route:
 * {view, params: {name, reference}, query: URLSearchParams, state, href}.
 * view: repositories | tags | image | history | files | compare | login | activity | stale
 *   | search | notfound.
 */
export function parse(location, state = null) {
  const route = {
    view: 'notfound',
    params: {},
    query: new URLSearchParams(location.search),
    state: state ?? {},
    href: location.pathname + location.search,
  };
  let segments;
  try {
    segments = location.pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return route; // malformed %-escapes
  }
  if (segments.length > 1 && segments.at(-1) === '') segments.pop(); // a trailing slash

  if (segments.length === 1 && segments[0] === '') route.view = 'repositories';
  else if (segments.length === 1 && segments[0] === 'login') route.view = 'login';
  else if (segments.length === 1 && ['activity', 'stale', 'search'].includes(segments[0])) route.view = segments[0];
  else if (segments[0] === 'r' && segments.length >= 2) {
    const dash = segments.indexOf(RESERVED);
    const nameParts = segments.slice(1, dash === -1 ? undefined : dash);
    if (!nameParts.length || nameParts.some((part) => part === '')) return route;
    route.params.name = nameParts.join('/');
    const rest = dash === -1 ? [] : segments.slice(dash + 1);
    if (dash === -1) route.view = 'tags';
    else if (rest.length === 2 && rest[0] === 'image' && rest[1]) {
      route.view = 'image';
      route.params.reference = rest[1];
    } else if (rest.length === 3 && rest[0] === 'image' && rest[1] && rest[2] === 'history') {
      route.view = 'history';
      route.params.reference = rest[1];
    } else if (rest.length === 3 && rest[0] === 'image' && rest[1] && rest[2] === 'files') {
      route.view = 'files';
      route.params.reference = rest[1];
    } else if (rest.length === 1 && rest[0] === 'compare') {
      route.view = 'compare';
    }
  }
  return route;
}

let onRoute = () => {};

/**
 * Go to a URL of the UI. options: replace (replace the history entry instead of adding
 * one: for search-as-you-type and redirects), state (kept in history.state).
 */
export function navigate(href, {replace = false, state = null} = {}) {
  if (replace) window.history.replaceState(state, '', href);
  else window.history.pushState(state, '', href);
  onRoute(current(replace ? 'replace' : 'push'));
}

/** The route of the current location; `how` tells the view how it was reached. */
export function current(how = 'load') {
  const route = parse(window.location, window.history.state);
  route.how = how;
  return route;
}

function isOwnLink(anchor, event) {
  if (event.defaultPrevented || event.button !== 0) return false;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return false;
  if (anchor.target || anchor.hasAttribute('download')) return false;
  const url = new URL(anchor.href, window.location.href);
  if (url.origin !== window.location.origin) return false;
  // The gateway's own paths are real documents (API answers, blob downloads, docs).
  return !/^\/(api|v2|docs|redoc|openapi\.json|metrics)(\/|$)/.test(url.pathname);
}

/** Start routing: render(route) now and on every navigation, link click and back/forward. */
export function start(render) {
  onRoute = render;
  document.addEventListener('click', (event) => {
    const anchor = event.target instanceof Element ? event.target.closest('a[href]') : null;
    if (!anchor || !isOwnLink(anchor, event)) return;
    event.preventDefault();
    const url = new URL(anchor.href, window.location.href);
    navigate(url.pathname + url.search);
  });
  window.addEventListener('popstate', () => onRoute(current('pop')));
  onRoute(current('load'));
}
