// The status page's number formatting and byte-rate tracking (js/src/status-format.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { RateTracker, formatBytes, formatCount, formatExact, formatRate } from "../src/status-format.js";

test("counts are compact with at most three significant digits", () => {
  const cases = [
    [0, "0"],
    [7, "7"],
    [999, "999"],
    [1000, "1k"],
    [1234, "1.23k"],
    [12_345, "12.3k"],
    [123_456, "123k"],
    [999_499, "999k"],
    [999_500, "1M"],
    [2_500_000, "2.5M"],
    [3.2e9, "3.2G"],
    [-1500, "-1.5k"],
    [NaN, "—"],
  ];
  for (const [n, text] of cases) assert.equal(formatCount(n), text, `formatCount(${n})`);
});

test("rates keep one decimal below ten", () => {
  assert.equal(formatRate(0), "0");
  assert.equal(formatRate(0.34), "0.3");
  assert.equal(formatRate(9.44), "9.4");
  assert.equal(formatRate(12.4), "12");
  assert.equal(formatRate(168.9), "169");
  assert.equal(formatRate(15_500), "15.5k");
});

test("bytes use binary units", () => {
  const cases = [
    [0, "0 B"],
    [512, "512 B"],
    [1023, "1023 B"],
    [1024, "1 KiB"],
    [1536, "1.5 KiB"],
    [12.3 * 2 ** 20, "12.3 MiB"],
    [2 ** 20 - 1, "1 MiB"],
    [1.21 * 2 ** 30, "1.21 GiB"],
  ];
  for (const [n, text] of cases) assert.equal(formatBytes(n), text, `formatBytes(${n})`);
  assert.equal(formatExact(1234567.4), "1,234,567");
});

test("rate tracker: slope over the window, restarts when a counter goes down", () => {
  const r = new RateTracker(10_000);
  assert.equal(r.update("a", 0, [0, 0]), null);
  assert.equal(r.update("a", 500, [50, 5]), null, "less than a second of samples");
  assert.deepEqual(r.update("a", 1000, [100, 10]), [100, 10]);
  for (let t = 2000; t <= 30_000; t += 1000) r.update("a", t, [t / 10, t / 100]);
  // a steady 100/s and 10/s, whatever the window holds
  assert.deepEqual(r.update("a", 31_000, [3100, 310]), [100, 10]);
  const kept = r.samples.get("a") ?? [];
  assert.ok(31_000 - kept[0].t <= 11_000 && 31_000 - kept[0].t >= 10_000, "about ten seconds kept");
  // the channel was made anew: its counters start from zero
  assert.equal(r.update("a", 32_000, [5, 1]), null);
  assert.deepEqual(r.update("a", 33_000, [205, 1]), [200, 0]);
  r.retain(new Set(["b"]));
  assert.equal(r.samples.size, 0);
});
