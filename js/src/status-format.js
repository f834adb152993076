// Number formatting and byte-rate tracking for the status page (status.js). No DOM, so
// node's test runner checks it (test/status-format.test.js).

const UNITS = ["", "k", "M", "G", "T"];
const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/**
 * Three significant digits at most, without trailing zeros after the point.
 * @param {number} x
 * @returns {string}
 */
function short(x) {
  const digits = x >= 100 ? 0 : x >= 10 ? 1 : 2;
  return String(Number(x.toFixed(digits)));
}

/**
 * A count, compact: 999, 1.2k, 12.3k, 123k, 1.23M.
 * @param {number} n
 * @returns {string}
 */
export function formatCount(n) {
  if (!Number.isFinite(n)) return "—";
  const sign = n < 0 ? "-" : "";
  let x = Math.abs(n);
  if (x < 1000) return sign + String(Math.round(x));
  let i = 0;
  while (x >= 999.5 && i < UNITS.length - 1) {
    x /= 1000;
    i += 1;
  }
  return sign + short(x) + UNITS[i];
}

/**
 * A rate (per second), compact; below 10 it keeps one decimal: 0, 0.3, 9.5, 12, 1.2k.
 * @param {number} r
 * @returns {string}
 */
export function formatRate(r) {
  if (!Number.isFinite(r)) return "—";
  if (Math.abs(r) < 10) return String(Number(r.toFixed(1)));
  return formatCount(r);
}

/**
 * A size in bytes, binary units: 0 B, 512 B, 1.5 KiB, 12.3 MiB, 1.21 GiB.
 * @param {number} n
 * @returns {string}
 */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return "—";
  let x = Math.abs(n);
  const sign = n < 0 ? "-" : "";
  if (x < 1024) return `${sign}${Math.round(x)} B`;
  let i = 0;
  while (x >= 1023.5 && i < BYTE_UNITS.length - 1) {
    x /= 1024;
    i += 1;
  }
  return `${sign}${short(x)} ${BYTE_UNITS[i]}`;
}

/**
 * A count with thousands separators, for tooltips: 1,234,567.
 * @param {number} n
 * @returns {string}
 */
export function formatExact(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—";
}

/**
 * Rates of cumulative counters, from samples taken at each poll, over a sliding window
 * (the JSON API's own message rates average the last 9 complete seconds; byte rates are
 * computed here the same way, from the byte counters).
 */
export class RateTracker {
  /** @param {number} windowMs how far back the oldest sample kept may be */
  constructor(windowMs = 10_000) {
    this.windowMs = windowMs;
    /** @type {Map<string, {t: number, values: number[]}[]>} */
    this.samples = new Map();
  }

  /**
   * Record the counters of `key` at time `t` (ms); returns their rates per second over the
   * window, or null until two samples at least a second apart exist. A counter that went
   * down (the channel was made anew) starts the samples over.
   * @param {string} key
   * @param {number} t
   * @param {number[]} values
   * @returns {number[] | null}
   */
  update(key, t, values) {
    let list = this.samples.get(key);
    if (list === undefined) {
      list = [];
      this.samples.set(key, list);
    }
    const last = list[list.length - 1];
    if (last !== undefined && values.some((v, i) => v < (last.values[i] ?? 0))) list.length = 0;
    list.push({ t, values: values.slice() });
    while (list.length > 2 && t - list[1].t >= this.windowMs) list.shift();
    const first = list[0];
    const dt = (t - first.t) / 1000;
    if (dt < 1) return null;
    return values.map((v, i) => (v - (first.values[i] ?? 0)) / dt);
  }

  /**
   * Forget keys not in `keep`.
   * @param {Set<string>} keep
   */
  retain(keep) {
    for (const key of this.samples.keys()) if (!keep.has(key)) this.samples.delete(key);
  }
}
