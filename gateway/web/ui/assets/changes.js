// Every write tells every view of what it changed. A delete (one tag, an image, a
// selection, a retention plan) calls changed(repository); each view and panel showing
// that repository (the tag list, its storage panel, the registry's storage chart)
// listens with onChange and reloads — none is left showing what is gone.

const listeners = new Set();

/** listener(repository) runs after each write; returns the function that stops it. */
export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Say that `repository` changed (its tags, images or storage). */
export function changed(repository) {
  for (const listener of [...listeners]) listener(repository);
}
