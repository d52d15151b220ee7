// Element helpers. Everything that comes from the registry goes into the page as text
// (text nodes / textContent), never through innerHTML, so a tag or label can never
// become markup. Event handlers are attached with addEventListener: the page's
// Content-Security-Policy forbids inline handlers.

/**
 * Build an element: h('a', {href: '/', class: 'brand'}, 'Light Registry').
 *
 * props: `class`, `dataset` (object), `style` (object, e.g. {width: '40%'}), `on<event>`
 * (a function), `value`/`checked` (set as properties), anything else as an attribute
 * (`true` → empty attribute, `false`/`null`/`undefined` → left out).
 * children: strings, numbers, nodes, arrays of those; null/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'value' || key === 'checked') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Append children (see h) to an element. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace everything inside an element. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Text for screen readers only. */
export function srOnly(text) {
  return h('span', {class: 'visually-hidden'}, text);
}

/** Mark a region as loading (aria-busy) until the promise settles; returns the promise. */
export async function busy(el, promise) {
  el.setAttribute('aria-busy', 'true');
  try {
    return await promise;
  } finally {
    el.removeAttribute('aria-busy');
  }
}
