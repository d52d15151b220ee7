// Proportional bars: a value against the largest of its list, with the figure beside
// it and a text alternative for screen readers. Widths are set from script (CSSOM),
// which the page's CSP allows.

import {h} from '../dom.js';
import {exactBytes, formatBytes} from '../format.js';

/** One bar: `value` as a share of `max`; `label` names it for screen readers. */
export function bar(value, max, {label, kind = ''} = {}) {
  const fill = h('span', {class: `bar__fill${kind ? ` bar__fill--${kind}` : ''}`});
  const share = max > 0 ? (value / max) * 100 : 0;
  fill.style.width = `${value > 0 ? Math.max(0.5, share) : 0}%`;
  return h('span', {class: 'bar', role: 'img', 'aria-label': `${label ?? ''}${formatBytes(value)}, ${Math.round(share)}% of the largest`}, fill);
}

/** A bar with its size written beside it (the exact count as a tooltip). */
export function sizeBar(value, max, options = {}) {
  return h(
    'div',
    {class: 'layer-size usage-bar'},
    bar(value, max, options),
    h('span', {class: 'size', title: exactBytes(value)}, formatBytes(value)),
  );
}

/**
 * A horizontal bar chart as a table (readable without the bars):
 * rows [{label: node|string, value, title}], `caption` for screen readers.
 */
export function barChart(rows, {caption, valueLabel = 'Bytes', labelLabel = 'Name', testid} = {}) {
  const max = Math.max(0, ...rows.map((r) => r.value));
  return h(
    'table',
    {class: 'table usage-chart', 'data-testid': testid},
    h('caption', {class: 'visually-hidden'}, caption),
    h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, labelLabel), h('th', {scope: 'col'}, valueLabel))),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h('tr', {dataset: {name: r.name ?? ''}}, h('td', {class: 'usage-chart__label'}, r.label), h('td', {class: 'layer-cell'}, sizeBar(r.value, max, {label: `${r.name ?? ''}: `}))),
      ),
    ),
  );
}
