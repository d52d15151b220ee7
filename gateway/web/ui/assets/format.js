// Pure formatting: sizes, dates, digests, platforms. No DOM here.

const SIZE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/**
 * Bytes in binary units (1 KiB = 1024 bytes), as the registry stores them (compressed
 * layers): 443 → "443 B", 7739 → "7.6 KiB", 15938355 → "15.2 MiB".
 */
export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined || Number.isNaN(bytes)) return '—';
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  return `${value < 100 ? value.toFixed(1) : Math.round(value)} ${SIZE_UNITS[unit]}`;
}

/** 7739 → "7,739" (by hand: an Intl formatter costs more to make than a page of rows). */
export function grouped(count) {
  const [whole, fraction] = String(count).split('.');
  const sign = whole.startsWith('-') ? '-' : '';
  const digits = sign ? whole.slice(1) : whole;
  const withCommas = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return sign + withCommas + (fraction ? `.${fraction}` : '');
}

/** The exact count, for a title: "7,739 bytes". */
export function exactBytes(bytes) {
  if (bytes === null || bytes === undefined) return '';
  return `${grouped(Number(bytes))} bytes`;
}

// Largest unit first; a month and a year are their average lengths.
const UNITS = [
  ['year', 365.25 * 86400],
  ['month', 30.4375 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
];

/** "3 days ago", "2 years ago", "in 5 minutes" (clock skew); '' for a missing date. */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return '';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = (then - now) / 1000;
  if (Math.abs(seconds) < 45) return 'just now';
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'minute') {
      const n = Math.abs(Math.trunc(seconds / size));
      const amount = `${n} ${unit}${n === 1 ? '' : 's'}`;
      return seconds < 0 ? `${amount} ago` : `in ${amount}`;
    }
  }
  return iso;
}

/** "sha256:1a2b3c4d5e6f" — the algorithm and the first 12 hex digits. */
export function shortDigest(digest) {
  if (!digest) return '';
  const [algorithm, hex = ''] = digest.split(':', 2);
  return `${algorithm}:${hex.slice(0, 12)}`;
}

/** {os, architecture, variant} → "linux/arm64/v8". */
export function platformName(platform) {
  if (!platform || (!platform.os && !platform.architecture)) return '';
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** What a tag or image is, for a badge: "index", "image" or "artifact". */
export function kindOf(item) {
  if (item?.artifact_type) return 'artifact';
  return item?.kind ?? '';
}

/** "1 tag", "3 tags". */
export function plural(count, one, many = `${one}s`) {
  return `${grouped(Number(count))} ${count === 1 ? one : many}`;
}

/** The newest of several RFC 3339 dates (null if none). */
export function newest(dates) {
  const known = dates.filter(Boolean);
  if (!known.length) return null;
  return known.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b));
}
