// The plot's data columns (js/src/widgets/columns.js): the rolling window, the count of
// values, sortedness, growth and compaction against a plain-array model, binary search, and
// min/max decimation against a per-pixel-column reference.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Columns, DecimationBuffer, MAX_POINTS, decimate, extent } from "../src/widgets/columns.js";
import { rng } from "../test-helpers/rng.js";


/** The rows held, as plain arrays: {x, y: [series 0, series 1, …]}. */
function rowsOf(c) {
  const { start, length } = c;
  return {
    x: Array.from(c.x.subarray(start, start + length)),
    y: c.y.map((col) => Array.from(col.subarray(start, start + length))),
  };
}

/** A value as the plot keeps it: missing (null/undefined) is NaN. */
const num = (v) => (v == null ? NaN : +v);

/**
 * Reference model of Columns: plain arrays, rebuilt by slicing, no typed arrays.
 * It says what a user of the plot sees, independent of how the columns are stored.
 */
class Model {
  constructor(nSeries, window) {
    this.window = window;
    this.x = [];
    this.y = Array.from({ length: nSeries }, () => []);
  }

  append(xs, ys, n) {
    if (n <= 0) return;
    const last = this.x.length ? this.x[this.x.length - 1] : NaN;
    const base = Number.isFinite(last) ? Math.floor(last) + 1 : 0;
    for (let i = 0; i < n; i++) this.x.push(xs == null ? base + i : num(xs[i]));
    this.y.forEach((col, s) => {
      const src = ys[s];
      for (let i = 0; i < n; i++) col.push(src == null ? NaN : typeof src === "number" ? src : num(src[i]));
    });
    this.keep(this.window);
  }

  keep(k) {
    const from = Math.max(0, this.x.length - k);
    this.x = this.x.slice(from);
    this.y = this.y.map((col) => col.slice(from));
  }

  dropFront(k) {
    this.keep(Math.max(0, this.x.length - k));
  }

  get points() {
    return this.y.reduce((sum, col) => sum + col.filter((v) => !Number.isNaN(v)).length, 0);
  }

  get sorted() {
    for (let i = 1; i < this.x.length; i++) if (!(this.x[i] >= this.x[i - 1])) return false;
    return true;
  }
}

/** Assert that `c` holds exactly what `m` says. */
function assertSame(c, m, what = "") {
  const got = rowsOf(c);
  assert.equal(c.length, m.x.length, `length ${what}`);
  assert.deepEqual(got.x, m.x, `x ${what}`);
  assert.equal(c.nSeries, m.y.length, `nSeries ${what}`);
  assert.deepEqual(got.y, m.y, `y ${what}`);
  assert.equal(c.points, m.points, `points ${what}`);
  assert.equal(c.sorted, m.sorted, `sorted ${what}`);
  assert.ok(Object.is(c.firstX, m.x.length ? m.x[0] : NaN), `firstX ${what}`);
  assert.ok(Object.is(c.lastX, m.x.length ? m.x[m.x.length - 1] : NaN), `lastX ${what}`);
}

test("the window: bad sizes fall back to MAX_POINTS, fractions round down", () => {
  assert.equal(MAX_POINTS, 1_000_000);
  assert.equal(new Columns(1).window, MAX_POINTS);
  for (const w of [NaN, 0, -5, 0.5, Infinity]) assert.equal(new Columns(1, w).window, MAX_POINTS, String(w));
  assert.equal(new Columns(1, 2.7).window, 2);
  assert.equal(new Columns(1, 1e12).window, 50 * MAX_POINTS);
  const c = new Columns(2, 3);
  assert.equal(c.nSeries, 2);
  assert.equal(c.length, 0);
  assert.equal(c.points, 0);
  assert.ok(c.sorted);
  assert.ok(Number.isNaN(c.firstX) && Number.isNaN(c.lastX));
});

test("appending beyond the window keeps exactly the newest `window` rows, in order", () => {
  const c = new Columns(2, 5);
  c.append([0, 1, 2], [[10, 11, 12], [20, 21, 22]], 3);
  assert.deepEqual(rowsOf(c), { x: [0, 1, 2], y: [[10, 11, 12], [20, 21, 22]] });
  c.append([3, 4, 5, 6], [[13, 14, 15, 16], 7], 4);
  assert.deepEqual(rowsOf(c), { x: [2, 3, 4, 5, 6], y: [[12, 13, 14, 15, 16], [22, 7, 7, 7, 7]] });
  assert.equal(c.dropped, 2);
  assert.equal(c.points, 10);
  // A batch larger than the window: only its last `window` rows survive.
  c.append(
    new Float64Array([7, 8, 9, 10, 11, 12, 13, 14]),
    [new Float64Array([17, 18, 19, 20, 21, 22, 23, 24]), [null, 1, 2, 3, 4, 5, 6, 7]],
    8,
  );
  assert.deepEqual(rowsOf(c), { x: [10, 11, 12, 13, 14], y: [[20, 21, 22, 23, 24], [3, 4, 5, 6, 7]] });
  assert.equal(c.firstX, 10);
  assert.equal(c.lastX, 14);
  assert.equal(c.points, 10);
  // Exactly `window` rows at once replace everything.
  c.append([20, 21, 22, 23, 24], [[1, 2, 3, 4, 5]], 5);
  assert.deepEqual(rowsOf(c), { x: [20, 21, 22, 23, 24], y: [[1, 2, 3, 4, 5], [NaN, NaN, NaN, NaN, NaN]] });
  assert.equal(c.points, 5);
  c.append([25], [], 0);
  c.append([25], [], -1);
  assert.equal(c.length, 5);
  // A window of one row.
  const one = new Columns(1, 1);
  for (let i = 0; i < 4; i++) one.append([i], [[i * 10]], 1);
  assert.deepEqual(rowsOf(one), { x: [3], y: [[30]] });
  one.append([7, 8, 9], [[70, NaN, 90]], 3);
  assert.deepEqual(rowsOf(one), { x: [9], y: [[90]] });
  assert.equal(one.points, 1);
});

test("points counts the y values that are not missing (NaN, null, short columns, later series)", () => {
  const c = new Columns(2, 6);
  // null and NaN are missing; a plain column shorter than n is missing past its end;
  // a number fills every row (NaN fills nothing); undefined/absent series are missing.
  c.append([0, 1, 2], [[1, null, NaN], NaN], 3);
  assert.equal(c.points, 1);
  assert.deepEqual(rowsOf(c).y, [[1, NaN, NaN], [NaN, NaN, NaN]]);
  c.append([3, 4], [[5], 2.5], 2);
  assert.equal(c.points, 1 + 1 + 2);
  assert.deepEqual(rowsOf(c).y, [[1, NaN, NaN, 5, NaN], [NaN, NaN, NaN, 2.5, 2.5]]);
  // A series added later is missing for the rows already there.
  c.addSeries();
  assert.equal(c.nSeries, 3);
  assert.equal(c.points, 4);
  assert.deepEqual(rowsOf(c).y[2], [NaN, NaN, NaN, NaN, NaN]);
  c.append([5, 6], [undefined, [0, 0], new Float64Array([-1, NaN])], 2);
  assert.deepEqual(rowsOf(c), {
    x: [1, 2, 3, 4, 5, 6],
    y: [
      [NaN, NaN, 5, NaN, NaN, NaN],
      [NaN, NaN, 2.5, 2.5, 0, 0],
      [NaN, NaN, NaN, NaN, -1, NaN],
    ],
  });
  // The dropped row 0 held the one value 1; the new rows bring 0, 0 and -1.
  assert.equal(c.points, 1 + 2 + 2 + 1);
  // Strings and booleans in a plain column (outside the JSDoc type) are numbers as JS reads them.
  c.append([7], /** @type {any} */ ([["3"], [true], [false]]), 1);
  // The row x=1 that leaves held nothing.
  assert.deepEqual(rowsOf(c), {
    x: [2, 3, 4, 5, 6, 7],
    y: [
      [NaN, 5, NaN, NaN, NaN, 3],
      [NaN, 2.5, 2.5, 0, 0, 1],
      [NaN, NaN, NaN, -1, NaN, 0],
    ],
  });
  assert.equal(c.points, 6 + 3);
  c.dropFront(1); // x=2 held nothing
  assert.equal(c.points, 9);
  c.dropFront(1); // x=3 held 5 and 2.5
  assert.equal(c.points, 7);
  c.dropFront(100);
  assert.equal(c.length, 0);
  assert.equal(c.points, 0);
});

test("dropFront, setWindow and clear keep rows and counts consistent", () => {
  const c = new Columns(1, 10);
  c.append([0, 1, 2, 3, 4, 5, 6, 7], [[0, 1, NaN, 3, 4, 5, 6, 7]], 8);
  c.dropFront(0);
  assert.equal(c.length, 8);
  c.dropFront(3);
  assert.deepEqual(rowsOf(c), { x: [3, 4, 5, 6, 7], y: [[3, 4, 5, 6, 7]] });
  assert.equal(c.points, 5);
  assert.equal(c.dropped, 3);
  c.setWindow(2);
  assert.equal(c.window, 2);
  assert.deepEqual(rowsOf(c), { x: [6, 7], y: [[6, 7]] });
  assert.equal(c.points, 2);
  c.append([8], [[8]], 1);
  assert.deepEqual(rowsOf(c), { x: [7, 8], y: [[7, 8]] });
  c.setWindow(4);
  c.append([9, 10], [[9, 10]], 2);
  assert.deepEqual(rowsOf(c), { x: [7, 8, 9, 10], y: [[7, 8, 9, 10]] });
  c.setWindow(NaN);
  assert.equal(c.window, MAX_POINTS);
  c.append([5], [[5]], 1);
  assert.ok(!c.sorted);
  c.clear();
  assert.deepEqual(rowsOf(c), { x: [], y: [[]] });
  assert.equal(c.points, 0);
  assert.equal(c.dropped, 0);
  assert.ok(c.sorted);
  // After clear, x given as null starts at 0 again and old values do not reappear.
  c.append(null, [undefined], 3);
  assert.deepEqual(rowsOf(c), { x: [0, 1, 2], y: [[NaN, NaN, NaN]] });
  assert.equal(c.points, 0);
});

test("x given as null continues 0, 1, 2… (also after explicit x)", () => {
  const c = new Columns(1, 10);
  c.append(null, [[5, 6]], 2);
  c.append(null, [[7]], 1);
  assert.deepEqual(rowsOf(c).x, [0, 1, 2]);
  c.append([10.5], [[0]], 1);
  c.append(null, [[0, 0]], 2);
  assert.deepEqual(rowsOf(c).x, [0, 1, 2, 10.5, 11, 12]);
  assert.ok(c.sorted);
  // Rolling: the count goes on while older rows leave.
  c.append(null, [1], 6);
  assert.deepEqual(rowsOf(c).x, [2, 10.5, 11, 12, 13, 14, 15, 16, 17, 18]);
  assert.equal(c.points, 10); // 7 (at x=2), 0, 0, 0 and six 1s; x=0 and x=1 left with 5 and 6
  assert.ok(c.sorted);
  // Into empty columns, a batch larger than the window keeps its own last rows' numbers.
  const fresh = new Columns(1, 3);
  fresh.append(null, [[1, 2, 3, 4, 5]], 5);
  assert.deepEqual(rowsOf(fresh), { x: [2, 3, 4], y: [[3, 4, 5]] });
});

test(
  "x given as null keeps counting when a batch of `window` rows or more arrives",
  () => {
    const full = new Columns(1, 3);
    full.append(null, [[1, 2]], 2); // x 0, 1
    full.append(null, [[3, 4, 5]], 3); // exactly `window` rows
    assert.deepEqual(rowsOf(full).x, [2, 3, 4]);
    const over = new Columns(1, 3);
    over.append(null, [[1, 2]], 2); // x 0, 1
    over.append(null, [[3, 4, 5, 6, 7]], 5); // more than `window` rows: x 2…6, the last 3 kept
    assert.deepEqual(rowsOf(over).x, [4, 5, 6]);
  },
);

test("a step back in x makes `sorted` false until that row leaves the window", () => {
  const c = new Columns(1, 4);
  const seen = [];
  const step = (xs) => {
    c.append(xs, [1], xs.length);
    seen.push(c.sorted);
  };
  step([0, 1, 2]); // 0 1 2
  step([1]); // 0 1 2 1        step back at a batch boundary
  step([5]); // 1 2 1 5
  step([6]); // 2 1 5 6
  step([7]); // 1 5 6 7        the row before the step back is gone
  step([7, 7]); // 6 7 7 7     equal x is sorted
  assert.deepEqual(seen, [true, false, false, false, true, true]);

  // A step back inside a batch, then the window rolls past it.
  const d = new Columns(1, 3);
  d.append([0, 5, 3, 4], [1], 4); // keeps 5 3 4
  assert.ok(!d.sorted);
  d.append([6], [1], 1); // 3 4 6
  assert.ok(d.sorted);
  // The newest of several steps back counts.
  d.append([1, 2, 0], [1], 3); // 1 2 0
  assert.ok(!d.sorted);
  d.append([1], [1], 1); // 2 0 1
  assert.ok(!d.sorted);
  d.append([2], [1], 1); // 0 1 2
  assert.ok(d.sorted);
  // A step back only in the skipped part of an oversized batch does not count.
  d.append([9, 1, 2, 3], [1], 4); // keeps 1 2 3
  assert.ok(d.sorted);

  // NaN x cannot be sorted; dropFront and trimBefore also move the window past the step back.
  const e = new Columns(1, 10);
  e.append([0, 1, NaN, 3], [1], 4);
  assert.ok(!e.sorted);
  e.dropFront(2); // NaN 3: still no order
  assert.ok(!e.sorted);
  e.dropFront(1); // 3
  assert.ok(e.sorted);
  e.append([4, 2, 6, 7, 8], [1], 5); // 3 4 2 6 7 8
  assert.ok(!e.sorted);
  e.dropFront(1); // 4 2 …
  assert.ok(!e.sorted);
  e.dropFront(1); // 2 6 7 8
  assert.ok(e.sorted);
  e.append([1], [1], 1);
  assert.ok(!e.sorted);
  e.setWindow(1);
  assert.ok(e.sorted);
  e.clear();
  e.setWindow(10);
  e.append([3, 2], [1], 2);
  assert.ok(!e.sorted);
  e.clear();
  assert.ok(e.sorted);
  e.append([3, 4], [1], 2);
  assert.ok(e.sorted, "a step back from before clear() does not linger");
});

test(
  "x given as null after x = +Infinity is a step back",
  () => {
    const c = new Columns(1, 10);
    c.append([0, Infinity], [1], 2);
    c.append(null, [1], 1);
    const { x } = rowsOf(c);
    const ordered = x.every((v, i) => i === 0 || v >= x[i - 1]);
    assert.equal(c.sorted, ordered, `x ${x}`);
  },
);

test("random appends, drops and trims match a plain-array model through growth and compaction", () => {
  const r = rng(20240611);
  const pick = (arr) => arr[Math.floor(r() * arr.length)];
  for (const window of [1, 3, 100, 1000, 5000]) {
    const c = new Columns(2, window);
    const m = new Model(2, window);
    let nextX = 0;
    let grows = 0;
    let xBuf = c.x;
    for (let step = 0; step < 1500; step++) {
      const roll = r();
      if (roll < 0.02) {
        const k = Math.floor(r() * (m.x.length + 2));
        c.dropFront(k);
        m.dropFront(k);
      } else if (roll < 0.03 && m.sorted && m.x.length) {
        const xmin = m.x[Math.floor(r() * m.x.length)] + pick([-0.5, 0, 0.5]);
        c.trimBefore(xmin);
        let i = m.x.findIndex((v) => v >= xmin);
        if (i < 0) i = m.x.length;
        m.dropFront(Math.max(0, i - 1));
      } else if (roll < 0.035 && c.nSeries < 4) {
        c.addSeries();
        m.y.push(m.x.map(() => NaN));
      } else if (roll < 0.037) {
        c.clear();
        m.x = [];
        m.y = m.y.map(() => []);
      } else {
        const size = pick(["small", "small", "small", "medium", "large"]);
        const n =
          size === "small" ? 1 + Math.floor(r() * 40)
          : size === "medium" ? 1 + Math.floor(r() * window)
          : window + 1 + Math.floor(r() * window * 1.5);
        const last = m.x.length ? m.x[m.x.length - 1] : NaN;
        /** @type {any} */
        let xs;
        // x null continues the count.
        if (r() < 0.2 && Number.isFinite(last)) {
          xs = null;
        } else {
          const vals = [];
          for (let i = 0; i < n; i++) {
            const u = r();
            nextX += u < 0.01 ? -3 : u < 0.2 ? 0 : Math.floor(r() * 4);
            vals.push(u > 0.999 ? NaN : nextX);
          }
          const kind = r();
          xs = kind < 0.4 ? new Float64Array(vals) : kind < 0.97 ? vals : vals.slice(0, n - 1);
        }
        const ys = [];
        for (let s = 0; s < c.nSeries; s++) {
          const kind = r();
          if (kind < 0.1) continue; // absent
          if (kind < 0.15) ys[s] = null;
          else if (kind < 0.2) ys[s] = pick([NaN, 0, -2.5]);
          else {
            const vals = [];
            for (let i = 0; i < n; i++) {
              const u = r();
              vals.push(u < 0.1 ? NaN : u < 0.15 ? null : Math.floor(r() * 1000) - 500);
            }
            ys[s] =
              kind < 0.6 ? vals
              : kind < 0.95 ? new Float64Array(vals.map(num))
              : vals.slice(0, Math.floor(r() * n)); // a short plain column: missing past its end
          }
        }
        c.append(xs, ys, n);
        m.append(xs, ys, n);
        if (xs === null) nextX = m.x[m.x.length - 1];
      }
      if (c.x !== xBuf) {
        grows++;
        xBuf = c.x;
      }
      assert.ok(c.capacity <= Math.max(1024, Math.ceil(window * 1.25) + 16), `capacity ${c.capacity}`);
      assert.ok(c.start >= 0 && c.start + c.length <= c.capacity);
      assert.ok(c.length <= window);
      if (window < 5000 || step % 10 === 0 || step > 1490) assertSame(c, m, `window ${window} step ${step}`);
    }
    // Growth doubles: a handful of reallocations, not one per append.
    assert.ok(grows <= 12, `window ${window}: ${grows} reallocations`);
    if (window === 5000) assert.ok(c.capacity > 1024, "the columns grew past their first size");
  }
});

test("reserve makes room without losing rows, by moving them back or growing", () => {
  const c = new Columns(1, 2000);
  assert.equal(c.capacity, 1024);
  const m = new Model(1, 2000);
  for (let i = 0; i < 1000; i++) {
    c.append([i], [[i * 2]], 1);
    m.append([i], [[i * 2]], 1);
  }
  c.dropFront(900);
  m.dropFront(900);
  // 100 live rows at 900…1000: 100 more do not fit behind them, so they move to the front.
  const before = c.x;
  c.reserve(100);
  assert.equal(c.x, before);
  assert.equal(c.start, 0);
  assertSame(c, m);
  // 2000 rows cannot fit in 1024: the columns grow, within 1.25 × window.
  c.reserve(1900);
  assert.ok(c.capacity >= 2000 && c.capacity <= Math.ceil(2000 * 1.25) + 16, `capacity ${c.capacity}`);
  assertSame(c, m);
  const vals = Array.from({ length: 1900 }, (_, i) => 1000 + i);
  c.append(vals, [vals], 1900);
  m.append(vals, [vals], 1900);
  assertSame(c, m);
  // Enough room already: nothing moves.
  const c2 = new Columns(1, 50);
  c2.append([1, 2, 3], [[1, 2, 3]], 3);
  c2.dropFront(1);
  const start = c2.start;
  c2.reserve(10);
  assert.equal(c2.start, start);
  assert.deepEqual(rowsOf(c2), { x: [2, 3], y: [[2, 3]] });
});

test(
  "a Float64Array y column shorter than n is missing past its end, like a short plain column",
  () => {
    const c = new Columns(1, 4);
    c.append([0, 1, 2, 3], [new Float64Array([10, 11, 12, 13])], 4);
    c.append([4, 5, 6, 7], [new Float64Array([20, 21, 22, 23])], 4);
    c.append([8, 9, 10, 11], [new Float64Array([30])], 4);
    assert.deepEqual(rowsOf(c).y[0], [30, NaN, NaN, NaN]);
    assert.equal(c.points, 1);
  },
);

test("trimBefore keeps the rows with x ≥ xmin and the one before", () => {
  const c = new Columns(2, 100);
  c.append([0, 1, 2, 2, 3, 5, 8], [[0, 1, 2, 3, 4, 5, 6], [NaN, 1, 1, 1, 1, 1, 1]], 7);
  c.trimBefore(-10);
  assert.equal(c.length, 7);
  c.trimBefore(0);
  assert.equal(c.length, 7);
  c.trimBefore(2); // keeps x 1 (the one before), 2, 2, 3, 5, 8
  assert.deepEqual(rowsOf(c).x, [1, 2, 2, 3, 5, 8]);
  assert.equal(c.points, 12);
  c.trimBefore(4); // 3, 5, 8
  assert.deepEqual(rowsOf(c), { x: [3, 5, 8], y: [[4, 5, 6], [1, 1, 1]] });
  assert.equal(c.points, 6);
  c.trimBefore(100); // nothing ≥ 100: the last row stays to enter from the left
  assert.deepEqual(rowsOf(c).x, [8]);
  assert.equal(c.points, 2);
  const e = new Columns(1, 10);
  e.trimBefore(5);
  assert.equal(e.length, 0);

  // Random sorted data against a scan.
  const r = rng(7);
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(r() * 60);
    const xs = [];
    let v = Math.floor(r() * 10);
    for (let i = 0; i < n; i++) xs.push((v += Math.floor(r() * 3)));
    const cc = new Columns(1, 1000);
    cc.append([-100, -99], [[1, 1]], 2);
    cc.dropFront(2); // start > 0
    cc.append(xs, [xs], n);
    const xmin = Math.floor(r() * (v + 4)) - 2 + pick2(r);
    cc.trimBefore(xmin);
    let i = xs.findIndex((x) => x >= xmin);
    if (i < 0) i = n;
    const want = xs.slice(Math.max(0, i - 1));
    assert.deepEqual(rowsOf(cc).x, want, `xs ${xs} xmin ${xmin}`);
    assert.equal(cc.points, want.length);
  }
});

/** 0 or 0.5, so trim bounds fall both on and between x values. */
const pick2 = (r) => (r() < 0.5 ? 0 : 0.5);

test("lowerBound and upperBound agree with a linear scan (absolute indices)", () => {
  const r = rng(99);
  for (let trial = 0; trial < 300; trial++) {
    const c = new Columns(1, 64);
    const lead = Math.floor(r() * 80);
    if (lead) c.append(Array.from({ length: lead }, (_, i) => i - 1000), [1], lead); // rolled out below
    const n = Math.floor(r() * 50);
    const xs = [];
    let v = Math.floor(r() * 5) - 2;
    for (let i = 0; i < n; i++) xs.push((v += r() < 0.4 ? 0 : Math.floor(r() * 3)));
    c.dropFront(c.length);
    c.append(xs, [1], n);
    const start = c.start;
    assert.deepEqual(rowsOf(c).x, xs);
    const queries = [...xs, ...xs.map((x) => x + 0.5), ...xs.map((x) => x - 0.5), -1e9, 1e9, -Infinity, Infinity];
    for (const q of queries) {
      let lo = xs.findIndex((x) => x >= q);
      if (lo < 0) lo = n;
      let hi = xs.findIndex((x) => x > q);
      if (hi < 0) hi = n;
      assert.equal(c.lowerBound(q), start + lo, `lowerBound(${q}) of ${xs}`);
      assert.equal(c.upperBound(q), start + hi, `upperBound(${q}) of ${xs}`);
    }
  }
});

test("DecimationBuffer grows to the points asked for and holds one column per series", () => {
  const b = new DecimationBuffer();
  assert.equal(b.x.length, 0);
  b.ensure(10, 2);
  assert.equal(b.x.length, 10);
  assert.deepEqual(b.y.map((c) => c.length), [10, 10]);
  const x = b.x;
  b.ensure(4, 3); // smaller: reused, one more series
  assert.equal(b.x, x);
  assert.deepEqual(b.y.map((c) => c.length), [10, 10, 10]);
  b.ensure(20, 1); // larger: every column as long as x
  assert.equal(b.x.length, 20);
  assert.ok(b.y.length >= 1 && b.y.every((c) => c.length === 20));
});

// ---------------------------------------------------------------------------------------
// decimate

/**
 * Random sorted x on a grid of 1/16 and y per series (some missing). x0 and x1 - x0 = buckets
 * × 2^k make the pixel column of every x exact: floor((x - x0) / width).
 */
function decimationCase(r, { buckets, width, x0, rows, outside }) {
  const x1 = x0 + buckets * width;
  const xs = [];
  for (let i = 0; i < rows; i++) {
    const lo = x0 - outside * width;
    const span = (buckets + 2 * outside) * width;
    xs.push(lo + Math.floor(r() * span * 16) / 16);
  }
  if (r() < 0.5) xs.push(x0, x1); // the range's own edges
  xs.sort((a, b) => a - b);
  const n = xs.length;
  const ys = [
    xs.map(() => (r() < 0.1 ? NaN : Math.floor(r() * 801) - 400) / 8),
    xs.map((_, i) => (Math.floor(i / 37) % 3 === 0 ? NaN : Math.floor(r() * 100))), // stretches all missing
    xs.map(() => Math.floor(r() * 1e6) + 1e6), // a large series, hidden in some calls
  ];
  // Padding around the rows, which decimate must not read.
  const pad = 3;
  const X = new Float64Array(n + 2 * pad).fill(-1e9);
  X.fill(1e9, n + pad);
  X.set(xs, pad);
  const Y = ys.map((col) => {
    const c = new Float64Array(n + 2 * pad).fill(-7e9);
    c.set(col, pad);
    return c;
  });
  return { X, Y, i0: pad, i1: pad + n, x0, x1, buckets, width };
}

/** The rows of [i0, i1) grouped by pixel column (-1 left of x0, `buckets` right of x1). */
function groupsOf({ X, i0, i1, x0, x1, buckets, width }) {
  const col = (v) => (v < x0 ? -1 : v > x1 ? buckets : Math.min(buckets - 1, Math.floor((v - x0) / width)));
  const groups = [];
  for (let i = i0; i < i1; i++) {
    const b = col(X[i]);
    if (groups.length && groups[groups.length - 1].b === b) groups[groups.length - 1].rows.push(i);
    else groups.push({ b, rows: [i] });
  }
  return groups;
}

/** Naive extent: shown series, rows with x in [x0, x1], missing values skipped. */
function naiveExtent(X, Y, i0, i1, x0, x1, shown) {
  const vals = [];
  Y.forEach((col, s) => {
    if (!shown[s]) return;
    for (let i = i0; i < i1; i++) if (X[i] >= x0 && X[i] <= x1 && !Number.isNaN(col[i])) vals.push(col[i]);
  });
  return { min: Math.min(...vals, Infinity), max: Math.max(...vals, -Infinity) };
}

/**
 * Check decimate's output against the groups: a single row passes as it is; a larger group
 * gives its first and last x and, per series, its true min and max in the order they occur.
 */
function checkDecimated(k, out, n) {
  const groups = groupsOf(k);
  let p = 0;
  for (const { b, rows } of groups) {
    const where = `pixel column ${b} (rows ${rows[0]}…${rows[rows.length - 1]})`;
    if (rows.length === 1) {
      const i = rows[0];
      assert.equal(out.x[p], k.X[i], where);
      k.Y.forEach((col, s) => assert.ok(Object.is(out.y[s][p], col[i]), `${where} series ${s}`));
      p += 1;
      continue;
    }
    assert.equal(out.x[p], k.X[rows[0]], where);
    assert.equal(out.x[p + 1], k.X[rows[rows.length - 1]], where);
    k.Y.forEach((col, s) => {
      const vals = rows.map((i) => col[i]);
      const present = vals.filter((v) => !Number.isNaN(v));
      const a = out.y[s][p];
      const c = out.y[s][p + 1];
      if (!present.length) {
        assert.ok(Number.isNaN(a) && Number.isNaN(c), `${where} series ${s}: all missing`);
        return;
      }
      const mn = Math.min(...present);
      const mx = Math.max(...present);
      assert.deepEqual([Math.min(a, c), Math.max(a, c)], [mn, mx], `${where} series ${s}`);
      // In occurrence order: some occurrence of the first value comes before one of the second.
      if (a !== c) assert.ok(vals.indexOf(a) < vals.lastIndexOf(c), `${where} series ${s}: order ${a}, ${c} of ${vals}`);
    });
    p += 2;
  }
  assert.equal(n, p, "output length");
  return groups;
}

test("decimate keeps each pixel column's true min and max in occurrence order", () => {
  const r = rng(31337);
  const configs = [
    { buckets: 64, width: 4, x0: -16 },
    { buckets: 1000, width: 0.5, x0: 100 },
    { buckets: 16, width: 1 / 16, x0: 0 },
    { buckets: 300, width: 2, x0: -1000 },
  ];
  const out = new DecimationBuffer();
  let singles = 0;
  let multis = 0;
  for (let trial = 0; trial < 120; trial++) {
    const cfg = configs[trial % configs.length];
    const rows = Math.floor(r() * (trial % 3 === 0 ? 200 : 5000));
    const k = decimationCase(r, { ...cfg, rows, outside: trial % 2 ? 0.25 : 3 });
    const shown = [true, true, r() < 0.5];
    const res = decimate(k.X, k.Y, k.i0, k.i1, k.x0, k.x1, k.buckets, out, shown);
    const groups = checkDecimated(k, out, res.n);
    singles += groups.filter((g) => g.rows.length === 1).length;
    multis += groups.filter((g) => g.rows.length > 1).length;
    assert.ok(res.n <= 2 * (k.buckets + 2), `n ${res.n} for ${k.buckets} pixel columns`);
    // The output x never decreases (uPlot needs sorted x).
    for (let i = 1; i < res.n; i++) assert.ok(out.x[i] >= out.x[i - 1]);
  }
  assert.ok(singles > 100 && multis > 100, `both kinds of pixel column were exercised (${singles}, ${multis})`);
});

test("decimate's extent equals extent() and a naive scan; hidden series do not count", () => {
  const r = rng(4242);
  const out = new DecimationBuffer();
  for (let trial = 0; trial < 100; trial++) {
    const k = decimationCase(r, { buckets: 128, width: 1, x0: 10, rows: Math.floor(r() * 3000), outside: 2 });
    for (const shown of [[true, true, false], [true, false, true], [false, true, false], [false, false, false]]) {
      const res = decimate(k.X, k.Y, k.i0, k.i1, k.x0, k.x1, k.buckets, out, shown);
      const ext = extent(k.X, k.Y, k.i0, k.i1, k.x0, k.x1, shown);
      const naive = naiveExtent(k.X, k.Y, k.i0, k.i1, k.x0, k.x1, shown);
      assert.deepEqual(ext, naive, `extent() shown ${shown}`);
      assert.deepEqual({ min: res.min, max: res.max }, naive, `decimate shown ${shown}`);
      // The decimated points inside [x0, x1] span the same y range as every row there.
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < res.n; i++) {
        if (out.x[i] < k.x0 || out.x[i] > k.x1) continue;
        for (let s = 0; s < 3; s++) {
          if (!shown[s]) continue;
          const v = out.y[s][i];
          if (v < min) min = v;
          if (v > max) max = v;
        }
      }
      assert.deepEqual({ min, max }, naive, `decimated points shown ${shown}`);
      if (shown[2] && naive.max !== -Infinity) assert.ok(naive.max >= 1e6);
      if (!shown[2]) assert.ok(!(res.max >= 1e6), "the hidden large series does not count");
    }
  }
  // Nothing inside [x0, x1]: empty extent.
  const X = new Float64Array([1, 2, 8, 9]);
  const Y = [new Float64Array([1, 2, 3, 4])];
  assert.deepEqual(extent(X, Y, 0, 4, 3, 7, [true]), { min: Infinity, max: -Infinity });
  const res = decimate(X, Y, 0, 4, 3, 7, 16, new DecimationBuffer(), [true]);
  assert.deepEqual({ min: res.min, max: res.max }, { min: Infinity, max: -Infinity });
  // The range is inclusive at both ends.
  assert.deepEqual(extent(X, Y, 0, 4, 2, 8, [true]), { min: 2, max: 3 });
  assert.deepEqual(extent(X, Y, 0, 4, 2, 8, [false]), { min: Infinity, max: -Infinity });
  const both = decimate(X, Y, 0, 4, 2, 8, 16, new DecimationBuffer(), [true]);
  assert.deepEqual({ min: both.min, max: both.max }, { min: 2, max: 3 });
});

test("decimate passes the neighbors outside [x0, x1] through and reads only rows [i0, i1)", () => {
  const r = rng(5);
  const out = new DecimationBuffer();
  for (let trial = 0; trial < 50; trial++) {
    // As the plot calls it: the rows in view plus one neighbor on each side, out of a larger
    // window of columns (absolute indices, start > 0).
    const c = new Columns(2, 20_000);
    c.append([-50], [[1], [1]], 1);
    c.dropFront(1);
    const n = 2000 + Math.floor(r() * 8000);
    const xs = [];
    let v = 0;
    for (let i = 0; i < n; i++) xs.push((v += r() * 0.01));
    c.append(xs, [xs.map(() => r() * 10 - 5), xs.map((_, i) => (r() < 0.05 ? NaN : i))], n);
    const x0 = xs[Math.floor(n * 0.2)] + 0.001;
    const x1 = xs[Math.floor(n * 0.8)] - 0.001;
    const buckets = 50 + Math.floor(r() * 500);
    const i0 = Math.max(c.start, c.lowerBound(x0) - 1);
    const i1 = Math.min(c.start + c.length, c.upperBound(x1) + 1);
    assert.ok(c.x[i0] < x0 && c.x[i0 + 1] >= x0 && c.x[i1 - 1] > x1 && c.x[i1 - 2] <= x1);
    const res = decimate(c.x, c.y, i0, i1, x0, x1, buckets, out, [true, true]);
    assert.ok(res.n <= 2 * (buckets + 2));
    assert.ok(res.n < i1 - i0, "fewer points than rows");
    // First and last points are the neighbors, exactly as they are.
    assert.equal(out.x[0], c.x[i0]);
    assert.equal(out.x[res.n - 1], c.x[i1 - 1]);
    for (let s = 0; s < 2; s++) {
      assert.ok(Object.is(out.y[s][0], c.y[s][i0]));
      assert.ok(Object.is(out.y[s][res.n - 1], c.y[s][i1 - 1]));
    }
    // The neighbors do not count for the extent; the rows in view do.
    assert.deepEqual(
      { min: res.min, max: res.max },
      naiveExtent(c.x, c.y, i0 + 1, i1 - 1, -Infinity, Infinity, [true, true]),
    );
    // Every decimated y is a value of the rows [i0, i1) of its series.
    for (let s = 0; s < 2; s++) {
      const held = new Set(Array.from(c.y[s].subarray(i0, i1)));
      for (let i = 0; i < res.n; i++) assert.ok(held.has(out.y[s][i]), `series ${s} point ${i}`);
    }
  }
});

test("decimate: a pixel column with one row gives one point; small cases by hand", () => {
  const out = new DecimationBuffer();
  const X = new Float64Array([0, 1.5, 2.1, 2.2, 2.3, 2.9, 7, 12]);
  const Y = [
    new Float64Array([5, 6, 3, 9, 1, 4, 8, 0]),
    new Float64Array([NaN, 1, NaN, NaN, 2, NaN, NaN, 3]),
    new Float64Array([1, 1, NaN, NaN, NaN, NaN, 2, 2]),
  ];
  // Pixel columns of width 1 over [1, 11]: x=0 left of it, 1.5 → 0, 2.1…2.9 → 1, 7 → 6, 12 right.
  const res = decimate(X, Y, 0, 8, 1, 11, 10, out, [true, true, true]);
  assert.equal(res.n, 1 + 1 + 2 + 1 + 1);
  assert.deepEqual(Array.from(out.x.subarray(0, res.n)), [0, 1.5, 2.1, 2.9, 7, 12]);
  // Column 1 holds 3, 9, 1, 4: max 9 comes before min 1.
  assert.deepEqual(Array.from(out.y[0].subarray(0, res.n)), [5, 6, 9, 1, 8, 0]);
  // Leading missing values skipped; the one value 2 is both min and max.
  assert.deepEqual(Array.from(out.y[1].subarray(0, res.n)), [NaN, 1, 2, 2, NaN, 3]);
  assert.deepEqual(Array.from(out.y[2].subarray(0, res.n)), [1, 1, NaN, NaN, 2, 2]);
  assert.deepEqual({ min: res.min, max: res.max }, { min: 1, max: 9 });
  // Min before max.
  const r2 = decimate(new Float64Array([0, 0.2, 0.4, 0.6]), [new Float64Array([2, -1, 7, 3])], 0, 4, 0, 1, 1, out, [true]);
  assert.equal(r2.n, 2);
  assert.deepEqual(Array.from(out.x.subarray(0, 2)), [0, 0.6]);
  assert.deepEqual(Array.from(out.y[0].subarray(0, 2)), [-1, 7]);
  // Constant values: both points equal.
  const r3 = decimate(new Float64Array([0, 0.5, 1]), [new Float64Array([4, 4, 4])], 0, 3, 0, 1, 1, out, [true]);
  assert.deepEqual(Array.from(out.y[0].subarray(0, r3.n)), [4, 4]);
  // An empty range of rows gives no points.
  const r4 = decimate(X, Y, 3, 3, 1, 11, 10, out, [true, true, true]);
  assert.deepEqual(r4, { n: 0, min: Infinity, max: -Infinity });
  // A zero-width range: the rows at x0 form one column, the others lie outside.
  const r5 = decimate(new Float64Array([1, 2, 2, 2, 3]), [new Float64Array([0, 5, -5, 6, 1])], 0, 5, 2, 2, 8, out, [true]);
  assert.deepEqual(Array.from(out.x.subarray(0, r5.n)), [1, 2, 2, 3]);
  assert.deepEqual(Array.from(out.y[0].subarray(0, r5.n)), [0, -5, 6, 1]);
  assert.deepEqual({ min: r5.min, max: r5.max }, { min: -5, max: 6 });
  // Many rows outside on each side still fit in 2 × (buckets + 2) points.
  const many = Float64Array.from({ length: 1000 }, (_, i) => i - 500);
  const r6 = decimate(many, [many], 0, 1000, -1, 1, 4, out, [true]);
  assert.ok(r6.n <= 2 * (4 + 2));
  assert.equal(out.x[0], -500);
  assert.equal(out.x[r6.n - 1], 499);
  assert.deepEqual({ min: r6.min, max: r6.max }, { min: -1, max: 1 });
});
