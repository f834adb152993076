// Incremental min/max decimation for a plot that follows its data (no DOM here).
//
// `decimate` (./columns.js) scans every visible row each frame: 250,000 rows cost ~2.5 ms,
// eight such plots more than a frame. Here the x axis is cut into buckets of a fixed width
// w on an absolute grid (bucket k holds x in [k·w, (k+1)·w)), so a bucket, once complete,
// stays valid while the window slides: each frame folds in only the rows appended since the
// last one, drops the buckets that left the window, and rescans only the rows of the first,
// partly dropped, bucket. w is chosen so that the view holds between 1 and 2 buckets per
// device pixel column (the drawn line covers the same pixels as the full data) and is kept
// while that holds, so a sliding window never rebuilds.

import { writeMinMax } from "./columns.js";

/** @typedef {import("./columns.js").Columns} Columns */
/** @typedef {import("./columns.js").DecimationBuffer} DecimationBuffer */

/** Buckets per pixel column when w is (re)chosen; w is kept while the view has 1–2. */
const BUCKETS_PER_COLUMN = 1.25;

export class Buckets {
  constructor() {
    /** bucket width in x units; 0 until built */
    this.w = 0;
    this.nSeries = 0;
    /** the held buckets are the slots [head, head + count), in order of x */
    this.head = 0;
    this.count = 0;
    /** buckets before this one lack rows that were never folded in */
    this.validFrom = 0;
    /** logical row number (Columns.dropped + index) of the next row to fold in */
    this.upto = 0;
    /** Columns.descent when built: a later step back in x means rebuilding */
    this.descent = -1;
    this.capacity = 0;
    /** each bucket's number k (it holds x in [k·w, (k+1)·w)), first and last x, rows */
    this.key = new Float64Array(0);
    this.fx = new Float64Array(0);
    this.lx = new Float64Array(0);
    this.rows = new Float64Array(0);
    /** per series: min, max and the logical rows where they occurred */
    /** @type {Float64Array[]} */ this.mn = [];
    /** @type {Float64Array[]} */ this.mx = [];
    /** @type {Float64Array[]} */ this.imn = [];
    /** @type {Float64Array[]} */ this.imx = [];
    /** rebuilds so far (for tests and the plot's data-rebuilds attribute) */
    this.rebuilds = 0;
  }

  /** Forget everything (the next `decimate` rebuilds). */
  reset() {
    this.w = 0;
    this.count = 0;
  }

  /**
   * Min/max decimation of the rows [i0, end) of `cols` for a view [x0, x1] that follows the
   * data (x1 ≥ the last x; at most the row i0 lies left of x0), `columns` device pixel
   * columns wide. Same output as columns.js `decimate`: per bucket and series the smallest
   * and largest value in the order they occurred, at the bucket's first and last x; a bucket
   * of one row passes as it is, and so do rows left of x0. Requires sorted x.
   * @param {Columns} cols
   * @param {number} i0 first row in view (absolute index)
   * @param {number} x0
   * @param {number} x1
   * @param {number} columns
   * @param {DecimationBuffer} out holds the result in out.x / out.y[s], [0, n)
   * @param {boolean[]} shown which series count for the extent
   * @returns {{n: number, min: number, max: number}}
   */
  decimate(cols, i0, x0, x1, columns, out, shown) {
    const end = cols.start + cols.length;
    const x = cols.x;
    const S = cols.nSeries;
    const span = x1 - x0;
    const perColumn = span / (this.w * columns);
    if (
      !(this.w > 0) ||
      !(perColumn >= 1 && perColumn <= 2) ||
      S !== this.nSeries ||
      cols.descent !== this.descent ||
      this.upto < cols.dropped ||
      this.upto > cols.dropped + cols.length
    ) {
      this.build(cols, i0, span / (BUCKETS_PER_COLUMN * columns));
    }
    this.fold(cols, end);
    const w = this.w;
    // The first bucket whose rows all lie inside the view and are all held and folded.
    const xa = i0 < end ? Math.max(x0, x[i0]) : x0;
    let kFirst = Math.floor(xa / w) + 1;
    if (kFirst < this.validFrom) {
      this.build(cols, i0, w);
      this.fold(cols, end);
      kFirst = Math.max(kFirst, this.validFrom);
    }
    this.dropBefore(kFirst);
    out.ensure(2 * this.count + 4, S);
    const ox = out.x;
    const oy = out.y;
    let n = 0;
    let ymin = Infinity;
    let ymax = -Infinity;
    // The rows before kFirst: those left of x0 as they are, the rest as one group.
    const iB = this.count ? cols.lowerBound(kFirst * w) : end;
    let i = i0;
    for (; i < iB && x[i] < x0; i++) {
      ox[n] = x[i];
      for (let s = 0; s < S; s++) oy[s][n] = cols.y[s][i];
      n += 1;
    }
    if (iB - i === 1) {
      ox[n] = x[i];
      for (let s = 0; s < S; s++) {
        const v = cols.y[s][i];
        oy[s][n] = v;
        if (shown[s]) {
          if (v < ymin) ymin = v;
          if (v > ymax) ymax = v;
        }
      }
      n += 1;
    } else if (iB - i > 1) {
      ox[n] = x[i];
      ox[n + 1] = x[iB - 1];
      for (let s = 0; s < S; s++) {
        const o = oy[s];
        writeMinMax(cols.y[s], i, iB, o, n);
        if (shown[s]) {
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
    // The held buckets: complete from kFirst on (the last one may still grow). x first,
    // then each series in its own tight loop.
    const { fx, lx, rows } = this;
    const from = this.head;
    const stop = this.head + this.count;
    const n0 = n;
    for (let b = from; b < stop; b++) {
      ox[n] = fx[b];
      if (rows[b] === 1) {
        n += 1;
      } else {
        ox[n + 1] = lx[b];
        n += 2;
      }
    }
    for (let s = 0; s < S; s++) {
      const mnS = this.mn[s];
      const mxS = this.mx[s];
      const imnS = this.imn[s];
      const imxS = this.imx[s];
      const o = oy[s];
      let lo = Infinity;
      let hi = -Infinity;
      let m = n0;
      for (let b = from; b < stop; b++) {
        const mn = mnS[b];
        const mx = mxS[b];
        if (mn < lo) lo = mn;
        if (mx > hi) hi = mx;
        if (rows[b] === 1) {
          o[m] = mn;
          m += 1;
        } else if (imnS[b] <= imxS[b]) {
          o[m] = mn;
          o[m + 1] = mx;
          m += 2;
        } else {
          o[m] = mx;
          o[m + 1] = mn;
          m += 2;
        }
      }
      if (shown[s]) {
        if (lo < ymin) ymin = lo;
        if (hi > ymax) ymax = hi;
      }
    }
    return { n, min: ymin, max: ymax };
  }

  /**
   * Start over with bucket width `w` from row i0: its bucket misses the rows before i0, so
   * the buckets are valid from the next one on.
   * @param {Columns} cols
   * @param {number} i0
   * @param {number} w
   */
  build(cols, i0, w) {
    this.rebuilds += 1;
    this.w = w > 0 && Number.isFinite(w) ? w : 1;
    this.nSeries = cols.nSeries;
    this.descent = cols.descent;
    this.count = 0;
    this.head = 0;
    this.upto = cols.dropped + (i0 - cols.start);
    this.validFrom = i0 < cols.start + cols.length ? Math.floor(cols.x[i0] / this.w) + 1 : -Infinity;
    this.mn.length = this.mx.length = this.imn.length = this.imx.length = 0;
    this.capacity = 0;
    this.grow(1024);
  }

  /**
   * Fold the rows not yet folded, up to `end` (absolute), into their buckets.
   * @param {Columns} cols
   * @param {number} end
   */
  fold(cols, end) {
    const x = cols.x;
    const w = this.w;
    const S = this.nSeries;
    let i = cols.start + (this.upto - cols.dropped);
    if (i >= end) return;
    let logical = this.upto;
    let b = this.head + this.count - 1;
    let k = this.count ? this.key[b] : NaN;
    for (; i < end; i++, logical++) {
      const xi = x[i];
      const ki = Math.floor(xi / w);
      if (ki !== k) {
        // A new bucket (sorted x: never an earlier one; a gap in x holds no bucket).
        b = this.push(ki);
        k = ki;
        this.fx[b] = xi;
        for (let s = 0; s < S; s++) {
          const v = cols.y[s][i];
          this.mn[s][b] = v;
          this.mx[s][b] = v;
          this.imn[s][b] = logical;
          this.imx[s][b] = logical;
        }
      } else {
        for (let s = 0; s < S; s++) {
          const v = cols.y[s][i];
          const mn = this.mn[s];
          const mx = this.mx[s];
          if (mn[b] !== mn[b]) {
            // Only missing values so far: this is the first one.
            if (v === v) {
              mn[b] = mx[b] = v;
              this.imn[s][b] = this.imx[s][b] = logical;
            }
          } else if (v < mn[b]) {
            mn[b] = v;
            this.imn[s][b] = logical;
          } else if (v > mx[b]) {
            mx[b] = v;
            this.imx[s][b] = logical;
          }
        }
      }
      this.lx[b] = xi;
      this.rows[b] += 1;
    }
    this.upto = logical;
  }

  /**
   * Append bucket `k` (empty) and return its slot.
   * @param {number} k
   */
  push(k) {
    if (this.head + this.count >= this.capacity) {
      if (this.head > this.capacity / 4) this.compact();
      else this.grow(this.capacity * 2);
    }
    const b = this.head + this.count;
    this.count += 1;
    this.key[b] = k;
    this.rows[b] = 0;
    this.fx[b] = this.lx[b] = NaN;
    for (let s = 0; s < this.nSeries; s++) {
      this.mn[s][b] = this.mx[s][b] = NaN;
      this.imn[s][b] = this.imx[s][b] = 0;
    }
    return b;
  }

  /**
   * Forget the buckets before bucket number `k`.
   * @param {number} k
   */
  dropBefore(k) {
    while (this.count && this.key[this.head] < k) {
      this.head += 1;
      this.count -= 1;
    }
    if (!this.count) this.head = 0;
  }

  /** Move the held buckets to slot 0. */
  compact() {
    const { head, count } = this;
    for (const a of this.arrays()) a.copyWithin(0, head, head + count);
    this.head = 0;
  }

  /** @param {number} capacity */
  grow(capacity) {
    const { head, count } = this;
    /** @param {Float64Array} a */
    const moved = (a) => {
      const c = new Float64Array(capacity);
      if (a.length) c.set(a.subarray(head, head + count));
      return c;
    };
    this.key = moved(this.key);
    this.fx = moved(this.fx);
    this.lx = moved(this.lx);
    this.rows = moved(this.rows);
    for (const list of [this.mn, this.mx, this.imn, this.imx]) {
      for (let s = 0; s < this.nSeries; s++) list[s] = moved(list[s] ?? new Float64Array(0));
    }
    this.head = 0;
    this.capacity = capacity;
  }

  /** Every per-bucket array. */
  arrays() {
    return [this.key, this.fx, this.lx, this.rows, ...this.mn, ...this.mx, ...this.imn, ...this.imx];
  }
}
