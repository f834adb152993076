// The plot's data: one x column and one column per series, kept in growable Float64Arrays
// (no per-point objects), plus min/max decimation for drawing many more points than the
// plot has pixels. No DOM here.
//
// Rows live contiguously in [start, start + length) of every column, so a visible range is
// always a zero-copy `subarray`. Trimming the front (rolling window) only moves `start`;
// when the columns fill up the rows are moved back to 0 (copyWithin) or the columns grow
// (up to 1.25 × window), so appending costs O(1) amortized. A missing value is NaN.

/** @typedef {Float64Array | number[] | (number | null)[]} NumberColumn */

/** Hard bound on rows when neither a point window nor an x-range bounds the plot. */
export const MAX_POINTS = 1_000_000;

export class Columns {
  /**
   * @param {number} nSeries
   * @param {number} [window] keep at most this many rows (default MAX_POINTS)
   */
  constructor(nSeries, window = MAX_POINTS) {
    this.window = clampWindow(window);
    this.capacity = Math.min(1024, Math.ceil(this.window * 1.25) + 16);
    this.x = new Float64Array(this.capacity);
    /** @type {Float64Array[]} */
    this.y = [];
    for (let s = 0; s < nSeries; s++) this.y.push(nanColumn(this.capacity));
    this.start = 0;
    this.length = 0;
    /** rows dropped from the front since the last clear (logical numbering of rows) */
    this.dropped = 0;
    /** logical number of the newest row whose x is smaller than its predecessor's, or -1 */
    this.descent = -1;
    /** y values held that are not missing (NaN), over all series */
    this.points = 0;
  }

  /**
   * Whether x never decreases within the rows held (decimation and binary search rely on
   * it). A step back in x makes the plot unsorted only until that row leaves the window.
   */
  get sorted() {
    return this.descent <= this.dropped;
  }

  get nSeries() {
    return this.y.length;
  }

  /** Drop every row. */
  clear() {
    this.start = 0;
    this.length = 0;
    this.dropped = 0;
    this.descent = -1;
    this.points = 0;
    this.x.fill(0);
    for (const col of this.y) col.fill(NaN);
  }

  /** Add a series column (NaN for the rows already there). */
  addSeries() {
    this.y.push(nanColumn(this.capacity));
  }

  /** @param {number} window */
  setWindow(window) {
    this.window = clampWindow(window);
    if (this.length > this.window) this.dropFront(this.length - this.window);
  }

  /** x of the last row, or NaN. */
  get lastX() {
    return this.length ? this.x[this.start + this.length - 1] : NaN;
  }

  /** x of the first row, or NaN. */
  get firstX() {
    return this.length ? this.x[this.start] : NaN;
  }

  /**
   * Append `n` rows. `ys[s]` is series s's values: a column of n values, one number for
   * every row, or undefined (NaN). Keeps at most `window` rows, dropping the oldest.
   * @param {NumberColumn | null} xs n x values, or null for 0, 1, 2… continuing the count
   * @param {(NumberColumn | number | null | undefined)[]} ys
   * @param {number} n
   */
  append(xs, ys, n) {
    if (n <= 0) return;
    // The row before this batch, read before any drop: x = null continues its count even
    // when the batch pushes every held row out of the window.
    const prev = this.length ? this.x[this.start + this.length - 1] : -Infinity;
    let skip = 0;
    if (n > this.window) {
      // Only the last `window` of this batch survives.
      skip = n - this.window;
      this.dropFront(this.length);
    } else if (this.length + n > this.window) {
      this.dropFront(this.length + n - this.window);
    }
    const count = n - skip;
    this.reserve(count);
    const at = this.start + this.length;
    const first = this.dropped + this.length; // logical number of row `at`
    const xcol = this.x;
    if (xs == null) {
      const finite = Number.isFinite(prev);
      const base = finite ? Math.floor(prev) + 1 : 0;
      for (let i = 0; i < count; i++) xcol[at + i] = base + skip + i;
      // After an x of +Infinity or NaN the count restarts at 0: a step back.
      if (!finite && prev !== -Infinity) this.descent = first;
    } else {
      copyInto(xcol, at, xs, skip, count);
      for (let i = count - 1; i >= 0; i--) {
        // Scan backwards for the newest step back (NaN x counts as one: it cannot be sorted).
        const v = xcol[at + i];
        const before = i > 0 ? xcol[at + i - 1] : prev;
        if (!(v >= before) && (i > 0 || this.length > 0)) {
          this.descent = first + i;
          break;
        }
      }
    }
    for (let s = 0; s < this.y.length; s++) {
      const col = this.y[s];
      const src = ys[s];
      if (src == null) col.fill(NaN, at, at + count);
      else if (typeof src === "number") {
        col.fill(src, at, at + count);
        if (src === src) this.points += count;
      } else {
        copyInto(col, at, src, skip, count);
        this.points += countValues(col, at, at + count);
      }
    }
    this.length += count;
  }

  /** @param {number} k rows to drop from the front */
  dropFront(k) {
    k = Math.min(k, this.length);
    for (const col of this.y) this.points -= countValues(col, this.start, this.start + k);
    this.start += k;
    this.length -= k;
    this.dropped += k;
    if (this.length === 0) this.start = 0;
  }

  /**
   * Keep only rows with x ≥ xmin, plus the one before it (so the line enters the plot from
   * its left edge).
   * @param {number} xmin
   */
  trimBefore(xmin) {
    const i = this.lowerBound(xmin);
    const keepFrom = Math.max(this.start, i - 1);
    this.dropFront(keepFrom - this.start);
  }

  /**
   * First index (absolute, in [start, start+length]) whose x ≥ v; assumes sorted x.
   * @param {number} v
   */
  lowerBound(v) {
    let lo = this.start;
    let hi = this.start + this.length;
    const x = this.x;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (x[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * First index (absolute) whose x > v; assumes sorted x.
   * @param {number} v
   */
  upperBound(v) {
    let lo = this.start;
    let hi = this.start + this.length;
    const x = this.x;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (x[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** @param {number} n make room for n more rows at the end */
  reserve(n) {
    const need = this.length + n;
    if (this.start + need <= this.capacity) return;
    if (need <= this.capacity * 0.8) {
      // Room enough once the live rows move back to the front; with ≥ 20% slack a move
      // happens at most every capacity / 5 rows, so each row is copied O(1) times.
      const { start, length } = this;
      this.x.copyWithin(0, start, start + length);
      for (const col of this.y) col.copyWithin(0, start, start + length);
      this.start = 0;
      return;
    }
    // Double, but never far beyond what the window can hold (1.25 × window).
    const bound = Math.ceil(this.window * 1.25) + 16;
    const cap = Math.max(Math.min(Math.max(this.capacity * 2, 1024), bound), Math.ceil(need * 1.25) + 16);
    const x = new Float64Array(cap);
    x.set(this.x.subarray(this.start, this.start + this.length));
    this.x = x;
    this.y = this.y.map((col) => {
      const c = nanColumn(cap);
      c.set(col.subarray(this.start, this.start + this.length));
      return c;
    });
    this.capacity = cap;
    this.start = 0;
  }
}

/**
 * Number of values in col[from, to) that are not NaN.
 * @param {Float64Array} col
 * @param {number} from
 * @param {number} to
 */
function countValues(col, from, to) {
  let n = 0;
  for (let i = from; i < to; i++) if (col[i] === col[i]) n++;
  return n;
}

/** @param {number} w */
function clampWindow(w) {
  return Number.isFinite(w) && w >= 1 ? Math.min(Math.floor(w), 50 * MAX_POINTS) : MAX_POINTS;
}

/** @param {number} n */
function nanColumn(n) {
  return new Float64Array(n).fill(NaN);
}

/**
 * Copy `count` values of `src` starting at `from` into `dst` at `at`; nulls become NaN.
 * @param {Float64Array} dst
 * @param {number} at
 * @param {NumberColumn} src
 * @param {number} from
 * @param {number} count
 */
function copyInto(dst, at, src, from, count) {
  if (src instanceof Float64Array) {
    const part = src.subarray(from, from + count);
    dst.set(part, at);
    // A column shorter than the batch is missing (NaN) past its end.
    if (part.length < count) dst.fill(NaN, at + part.length, at + count);
    return;
  }
  const len = src.length;
  for (let i = 0; i < count; i++) {
    const j = from + i;
    const v = j < len ? src[j] : null;
    dst[at + i] = v == null ? NaN : +v;
  }
}

/**
 * Output buffers for `decimate`, grown as needed and reused between frames.
 */
export class DecimationBuffer {
  constructor() {
    this.x = new Float64Array(0);
    /** @type {Float64Array[]} */
    this.y = [];
  }

  /**
   * @param {number} points
   * @param {number} nSeries
   */
  ensure(points, nSeries) {
    if (this.x.length < points) {
      this.x = new Float64Array(points);
      this.y = [];
    }
    while (this.y.length < nSeries) this.y.push(new Float64Array(this.x.length));
  }
}

/**
 * @typedef {object} Extent
 * @property {number} min smallest shown y inside [x0, x1] (Infinity if none)
 * @property {number} max largest shown y inside [x0, x1] (-Infinity if none)
 */

/**
 * Min/max decimation: split [x0, x1] into `buckets` columns (one per device pixel) and keep,
 * per column and series, the smallest and largest value in the order they occurred, at the
 * column's first and last x. The drawn line covers exactly the same pixels as the full
 * data. Rows outside [x0, x1] (the neighbors that make the line reach the edges) pass as
 * they are. Requires sorted x.
 * @param {Float64Array} x
 * @param {Float64Array[]} ys
 * @param {number} i0 first row (absolute index)
 * @param {number} i1 one past the last row
 * @param {number} x0
 * @param {number} x1
 * @param {number} buckets
 * @param {DecimationBuffer} out holds the result in out.x / out.y[s], [0, n)
 * @param {boolean[]} shown which series count for the extent
 * @returns {{n: number} & Extent}
 */
export function decimate(x, ys, i0, i1, x0, x1, buckets, out, shown) {
  const S = ys.length;
  out.ensure(2 * (buckets + 2), S);
  const ox = out.x;
  const oy = out.y;
  const scale = x1 > x0 ? buckets / (x1 - x0) : 0;
  /** column of x: -1 left of the range, `buckets` right of it */
  const bucketOf = (/** @type {number} */ v) =>
    v < x0 ? -1 : v > x1 ? buckets : Math.min(buckets - 1, Math.floor((v - x0) * scale));
  let n = 0;
  let ymin = Infinity;
  let ymax = -Infinity;
  let i = i0;
  while (i < i1) {
    const b = bucketOf(x[i]);
    // x is sorted, so a column's rows are contiguous: find its end by binary search and
    // scan each series over [i, j) in a tight loop.
    let lo = i + 1;
    let hi = i1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bucketOf(x[mid]) === b) lo = mid + 1;
      else hi = mid;
    }
    const j = lo;
    const inside = b >= 0 && b < buckets;
    if (j - i === 1) {
      ox[n] = x[i];
      for (let s = 0; s < S; s++) {
        const v = ys[s][i];
        oy[s][n] = v;
        if (inside && shown[s]) {
          if (v < ymin) ymin = v;
          if (v > ymax) ymax = v;
        }
      }
      n += 1;
    } else {
      ox[n] = x[i];
      ox[n + 1] = x[j - 1];
      for (let s = 0; s < S; s++) {
        const o = oy[s];
        writeMinMax(ys[s], i, j, o, n);
        if (inside && shown[s]) {
          const a = o[n];
          const b = o[n + 1];
          if (a < ymin) ymin = a;
          if (b < ymin) ymin = b;
          if (a > ymax) ymax = a;
          if (b > ymax) ymax = b;
        }
      }
      n += 2;
    }
    i = j;
  }
  return { n, min: ymin, max: ymax };
}

/**
 * Smallest and largest shown y among rows [i0, i1) whose x lies in [x0, x1].
 * @param {Float64Array} x
 * @param {Float64Array[]} ys
 * @param {number} i0
 * @param {number} i1
 * @param {number} x0
 * @param {number} x1
 * @param {boolean[]} shown
 * @returns {Extent}
 */
export function extent(x, ys, i0, i1, x0, x1, shown) {
  let min = Infinity;
  let max = -Infinity;
  for (let s = 0; s < ys.length; s++) {
    if (!shown[s]) continue;
    const col = ys[s];
    for (let i = i0; i < i1; i++) {
      const xi = x[i];
      if (xi < x0 || xi > x1) continue;
      const v = col[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return { min, max };
}

/**
 * The smallest and largest value of `col[i..j)` into `out[n]` and `out[n + 1]`, in the order
 * they occur (so a line through the pair keeps the data's direction); NaN (missing values)
 * is skipped, and both are NaN when every value is missing.
 * @param {Float64Array} col
 * @param {number} i
 * @param {number} j
 * @param {Float64Array} out
 * @param {number} n
 */
export function writeMinMax(col, i, j, out, n) {
  let mn = NaN;
  let mx = NaN;
  let imn = i;
  let imx = i;
  let k = i;
  while (k < j && col[k] !== col[k]) k++; // skip leading NaNs (missing values)
  if (k < j) {
    mn = mx = col[k];
    imn = imx = k;
    // NaN never wins a comparison, so later missing values are skipped for free.
    for (k++; k < j; k++) {
      const v = col[k];
      if (v < mn) {
        mn = v;
        imn = k;
      } else if (v > mx) {
        mx = v;
        imx = k;
      }
    }
  }
  if (imn <= imx) {
    out[n] = mn;
    out[n + 1] = mx;
  } else {
    out[n] = mx;
    out[n + 1] = mn;
  }
}
