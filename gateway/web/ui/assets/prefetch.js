// The first data a page needs, asked for while the app starts: the current view's first
// request goes out together with /api/config and /api/session instead of after them
// (a round trip less before the page is drawn).
//
// A view may export prefetch(route, api): it calls remember(key, promise) with the
// request its first load makes; that load then calls takeOr(key, ask), which answers
// with the early promise once, or asks. An early request that failed is asked again:
// it went out before the 401 handler (login) was in place.

const early = new Map();

export function remember(key, promise) {
  promise.catch(() => {}); // not unhandled: takeOr asks again
  early.set(key, promise);
}

export function takeOr(key, ask) {
  const promise = early.get(key);
  if (!promise) return ask();
  early.delete(key);
  return promise.catch(() => ask());
}
