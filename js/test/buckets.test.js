// Incremental min/max decimation (js/src/widgets/buckets.js) against a reference that
// groups the visible rows from scratch on the same bucket grid, while data streams into a
// rolling window: the same points, the true y extent, a bucket width that keeps 1–2 buckets
// per pixel column, and no rebuild while a full window slides.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Buckets } from "../src/widgets/buckets.js";
import { Columns, DecimationBuffer } from "../src/widgets/columns.js";
import { rng } from "../test-helpers/rng.js";

/**
 * What the plot should draw for rows [i0, end) of `c`, view [x0, x1], bucket width w, built
 * from plain arrays: rows left of x0 as they are; the rows before the first bucket wholly
 * inside the view as one group; then one group per bucket floor(x / w). A group of one row
 * passes as it is, a larger one gives its first and last x with each series' min and max
 * in the order they occurred.
 */
function reference(c, i0, x0, x1, w, shown) {
  const end = c.start + c.length;
  const X = Array.from(c.x.subarray(i0, end));
  const Y = c.y.map((col) => Array.from(col.subarray(i0, end)));
  const groups = [];
  let r = 0;
  for (; r < X.length && X[r] < x0; r++) groups.push([r]);
  const kFirst = Math.floor(Math.max(x0, X[0]) / w) + 1;
  let prefix = [];
  for (; r < X.length && X[r] < kFirst * w; r++) prefix.push(r);
  if (prefix.length) groups.push(prefix);
  let current = null;
  for (; r < X.length; r++) {
    const k = Math.floor(X[r] / w);
    if (!current || current.k !== k) groups.push((current = Object.assign([], { k })));
    current.push(r);
  }
  const x = [];
  const y = Y.map(() => []);
  for (const g of groups) {
    if (g.length === 1) {
      x.push(X[g[0]]);
      Y.forEach((col, s) => y[s].push(col[g[0]]));
      continue;
    }
    x.push(X[g[0]], X[g[g.length - 1]]);
    Y.forEach((col, s) => {
      const vals = g.map((i) => col[i]).filter((v) => !Number.isNaN(v));
      if (!vals.length) return y[s].push(NaN, NaN);
      const mn = Math.min(...vals);
      const mx = Math.max(...vals);
      const imn = g.find((i) => col[i] === mn);
      const imx = g.find((i) => col[i] === mx);
      if (imn <= imx) y[s].push(mn, mx);
      else y[s].push(mx, mn);
    });
  }
  let min = Infinity;
  let max = -Infinity;
  X.forEach((xi, i) => {
    if (xi < x0 || xi > x1) return;
    Y.forEach((col, s) => {
      if (!shown[s] || Number.isNaN(col[i])) return;
      min = Math.min(min, col[i]);
      max = Math.max(max, col[i]);
    });
  });
  return { x, y, min, max };
}

/** The plot's view while it follows the data: all rows held, or the last `xrange`. */
function view(c, xrange) {
  const x1 = c.lastX;
  const x0 = xrange ? x1 - xrange : c.firstX;
  const i0 = Math.max(c.start, c.lowerBound(x0) - 1);
  return { x0, x1, i0 };
}

function check(b, c, out, columns, xrange, shown, what) {
  const { x0, x1, i0 } = view(c, xrange);
  const got = b.decimate(c, i0, x0, x1, columns, out, shown);
  const perColumn = (x1 - x0) / (b.w * columns);
  assert.ok(perColumn >= 1 && perColumn <= 2, `${perColumn} buckets per column ${what}`);
  const want = reference(c, i0, x0, x1, b.w, shown);
  assert.deepEqual(Array.from(out.x.subarray(0, got.n)), want.x, `x ${what}`);
  want.y.forEach((col, s) => assert.deepEqual(Array.from(out.y[s].subarray(0, got.n)), col, `series ${s} ${what}`));
  assert.equal(got.min, want.min, `min ${what}`);
  assert.equal(got.max, want.max, `max ${what}`);
  return got;
}

test("a sliding window: the same points as grouping from scratch, and no rebuild", () => {
  const rand = rng(11);
  const c = new Columns(2, 5000);
  const b = new Buckets();
  const out = new DecimationBuffer();
  let x = 0;
  let rebuildsWhenFull = -1;
  for (let step = 0; step < 300; step++) {
    const n = 1 + Math.floor(rand() * 120);
    const xs = [];
    const y0 = [];
    const y1 = [];
    for (let i = 0; i < n; i++) {
      xs.push((x += 1));
      y0.push(Math.sin(x / 300) + rand() - 0.5);
      // a second series with missing values and a long missing stretch
      y1.push(rand() < 0.2 || (x > 9000 && x < 9400) ? NaN : rand() * 10);
    }
    c.append(xs, [y0, y1], n);
    const got = check(b, c, out, 300, null, [true, true], `step ${step}`);
    assert.ok(got.n <= 2 * 2 * 300 + 4, `${got.n} points for 300 columns`);
    if (c.length === 5000 && rebuildsWhenFull < 0) rebuildsWhenFull = b.rebuilds;
  }
  assert.ok(rebuildsWhenFull > 0);
  assert.equal(b.rebuilds, rebuildsWhenFull, "the full window slid without a rebuild");
});

test("uneven x with gaps, an x range, hidden series, ties and equal x", () => {
  const rand = rng(5);
  const c = new Columns(3, 100_000);
  const b = new Buckets();
  const out = new DecimationBuffer();
  let x = 1e9; // large x (timestamps) with fine buckets
  for (let step = 0; step < 200; step++) {
    const n = 1 + Math.floor(rand() * 200);
    const xs = [];
    const ys = [[], [], []];
    for (let i = 0; i < n; i++) {
      // repeated x, small steps, and now and then a gap of many buckets
      x += rand() < 0.1 ? 0 : rand() < 0.01 ? 500 + rand() * 2000 : rand();
      xs.push(x);
      ys[0].push(Math.round(rand() * 4)); // many ties
      ys[1].push(rand() < 0.5 ? NaN : -rand());
      ys[2].push(rand() * 1e6);
    }
    c.append(xs, ys, n);
    if (c.length < 20) continue;
    check(b, c, out, 200, 3000, [true, false, step % 2 === 0], `step ${step}`);
  }
  // The window trimmed by x range (as the plot does): the row before x0 is kept.
  c.trimBefore(c.lastX - 3000);
  check(b, c, out, 200, 3000, [true, true, true], "trimmed");
});

test("a batch larger than the window, a cleared plot, a resize and a step back in x", () => {
  const c = new Columns(1, 4000);
  const b = new Buckets();
  const out = new DecimationBuffer();
  const ramp = (from, n) => Array.from({ length: n }, (_, i) => from + i);
  c.append(ramp(0, 3000), [ramp(0, 3000).map((v) => v % 7)], 3000);
  check(b, c, out, 100, null, [true], "first");
  // A batch larger than the window: the rows folded so far are all gone.
  c.append(ramp(3000, 5000), [ramp(3000, 5000).map((v) => -(v % 11))], 5000);
  check(b, c, out, 100, null, [true], "replaced");
  // Cleared, then the same number of rows again (with reset(), as the plot does).
  c.clear();
  b.reset();
  c.append(ramp(0, 3000), [ramp(0, 3000).map((v) => v % 5)], 3000);
  check(b, c, out, 100, null, [true], "after clear");
  // Four times wider: a finer grid.
  const w = b.w;
  check(b, c, out, 400, null, [true], "resized");
  assert.ok(b.w < w);
  // A step back in x: the plot draws raw rows until it leaves the window, then rebuilds.
  const before = b.rebuilds;
  c.append([10], [[1]], 1);
  assert.equal(c.sorted, false);
  c.append(ramp(4000, 4000), [ramp(4000, 4000).map((v) => v % 3)], 4000);
  assert.equal(c.sorted, true);
  check(b, c, out, 100, null, [true], "sorted again");
  assert.ok(b.rebuilds > before);
});
