// The one place that talks to the gateway. Every call goes through request():
//
// - Same-origin, with the session cookie (HttpOnly: JavaScript never sees it).
// - State-changing requests (POST, DELETE) send `X-Requested-With: XMLHttpRequest`:
//   the gateway refuses them without it (its CSRF rule, 403 CSRF_FAILED).
// - Every non-2xx answer carries the error envelope
//   {"error": {"code": "MANIFEST_UNKNOWN", "message": "…", "detail": …}}; it becomes an
//   ApiError with the same fields, so views can show `message` and `code`.
// - A 401 from a data call means "log in" (or "your session has ended", when
//   detail.session is "expired"): the handler set with onUnauthorized() sends the user
//   to the login form, and marks the error `handled` so the view shows nothing else.

export class ApiError extends Error {
  constructor(status, code, message, detail = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // HTTP status; 0 when the gateway could not be reached
    this.code = code; // the envelope's error.code
    this.detail = detail; // the envelope's error.detail
    this.handled = false; // true once the 401 handler took care of it
  }
}

/** True for the 401 the gateway answers when the session cookie names an ended session. */
export function isSessionExpired(error) {
  return error instanceof ApiError && error.status === 401 && error.detail?.session === 'expired';
}

/** True for a request cancelled by its AbortSignal (a newer search replaced it). */
export function isAbort(error) {
  return error?.name === 'AbortError';
}

let unauthorizedHandler = null;

/** handler(error) → true when it dealt with the 401 (e.g. showed the login form). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * One call to the gateway.
 * options: params (query object; null/undefined/'' are left out), body (sent as JSON),
 * signal (AbortSignal), as ('json' | 'text'), login (true for the login call itself: its
 * 401 means "wrong password", not "please log in").
 */
export async function request(method, path, options = {}) {
  const {params, body, signal, as = 'json', login = false} = options;
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value !== null && value !== undefined && value !== '') url.searchParams.set(key, value);
  }
  const headers = {Accept: as === 'json' ? 'application/json' : '*/*'};
  if (STATE_CHANGING.has(method)) headers['X-Requested-With'] = 'XMLHttpRequest';
  if (body !== undefined) headers['Content-Type'] = 'application/json';

  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new ApiError(0, 'NETWORK_ERROR', 'The gateway could not be reached. Check your connection and try again.');
  }

  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && !login && unauthorizedHandler) {
      error.handled = Boolean(unauthorizedHandler(error));
    }
    throw error;
  }
  if (response.status === 204) return null;
  return as === 'text' ? response.text() : response.json();
}

async function errorFrom(response) {
  try {
    const body = await response.json();
    const e = body?.error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      return new ApiError(response.status, e.code, e.message, e.detail ?? null);
    }
  } catch {
    // not JSON: a proxy in front of the gateway answered
  }
  return new ApiError(response.status, `HTTP_${response.status}`, response.statusText || 'The request failed.');
}

// -- paths -----------------------------------------------------------------------------
// A repository name may contain "/" (team/app/api): each of its components is encoded,
// the slashes stay. A reference (tag or digest) never contains "/".

export function encodeName(name) {
  return name.split('/').map(encodeURIComponent).join('/');
}

const repo = (name) => `/api/repositories/${encodeName(name)}`;

export const paths = {
  config: () => '/api/config',
  session: () => '/api/session',
  repositories: () => '/api/repositories',
  tags: (name) => `${repo(name)}/tags`,
  tag: (name, tag) => `${repo(name)}/tags/${encodeURIComponent(tag)}`,
  image: (name, reference) => `${repo(name)}/images/${encodeURIComponent(reference)}`,
  imageConfig: (name, reference) => `${repo(name)}/images/${encodeURIComponent(reference)}/config`,
  referrers: (name, reference) => `${repo(name)}/images/${encodeURIComponent(reference)}/referrers`,
  manifest: (name, reference) => `${repo(name)}/manifests/${encodeURIComponent(reference)}`,
  blob: (name, digest) => `${repo(name)}/blobs/${encodeURIComponent(digest)}`,
};

// -- the endpoints the UI uses ---------------------------------------------------------

export const api = {
  /** {version, auth: {registry, service_account, login}, features: {delete, …}, registry: {pull_host}} */
  config: () => request('GET', paths.config()),

  /** {authenticated, username} */
  session: () => request('GET', paths.session()),
  login: (username, password) =>
    request('POST', paths.session(), {body: {username, password}, login: true}),
  logout: () => request('DELETE', paths.session()),

  /** {repositories: [{name, tag_count, error}], total, next} — next is the cursor for `last`. */
  repositories: ({q, last, n}, signal) =>
    request('GET', paths.repositories(), {params: {q, last, n}, signal}),

  /** {repository, total, next, tags: [{name, digest, kind, platforms, size, created, …}]} */
  tags: (name, {q, last, n, sort, artifacts}, signal) =>
    request('GET', paths.tags(name), {params: {q, last, n, sort, details: 'true', include_artifacts: artifacts ? 'true' : ''}, signal}),

  /** The image detail: platforms with layers, attestations, tags on the same digest. */
  image: (name, reference, signal) => request('GET', paths.image(name, reference), {signal}),

  /** {subject, source, referrers: [{digest, kind, artifact_type, size, created, tag, …}]} */
  referrers: (name, reference, signal) => request('GET', paths.referrers(name, reference), {signal}),

  /** Config and history of one platform image (platform "os/arch[/variant]" for an index). */
  imageConfig: (name, reference, platform, signal) =>
    request('GET', paths.imageConfig(name, reference), {params: {platform}, signal}),

  /** The manifest exactly as stored, as text (the caller pretty-prints it). */
  manifestText: (name, reference, signal) =>
    request('GET', paths.manifest(name, reference), {as: 'text', signal}),

  /** {untagged: [tag]} — the image and its other tags stay. */
  deleteTag: (name, tag) => request('DELETE', paths.tag(name, tag)),

  /** {deleted: digest, untagged: [every tag that pointed at it]} */
  deleteImage: (name, digest) => request('DELETE', paths.image(name, digest)),
};
