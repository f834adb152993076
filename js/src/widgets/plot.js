// LivePlot: a streaming line plot drawn by uPlot.
//
// Appends land in typed-array columns (./columns.js) and only mark the plot dirty; one
// animation frame per display refresh turns the visible range into uPlot data — zero-copy
// views when there are few points, min/max decimation to a few points per device pixel
// column when there are many — so the plot keeps the display's rate however fast data
// arrives. While the plot follows its data the min/max buckets are kept from frame to frame
// (./buckets.js), so a frame scans only the rows appended since the last one: eight plots
// of 250,000 points cost about what one plot of a few thousand did.
//
// Channel: append {x, y: {series: values}} (numbers, arrays or NDArrays); state `config`
// overrides `_config` at run time. Config: series, window (points), xrange (x units),
// title, xlabel, ylabel, autoscale (default true), ylim [lo, hi], height (default 300),
// colors (CSS colors per series).
//
// Drag to zoom on x (the plot stops following new data); double-click to follow again.

import uPlot from "uplot";
import uplotCss from "uplot/dist/uPlot.min.css";
import { toNumberArray } from "../ndarray.js";
import {
  ViewFrame,
  every,
  formatNumber,
  frameScheduler,
  h,
  injectStyle,
  observeResize,
  onThemeChange,
  readTheme,
} from "./base.js";
import { Buckets } from "./buckets.js";
import { Columns, DecimationBuffer, MAX_POINTS, decimate, extent } from "./columns.js";
import plotCss from "./plot.css";

/** Series colors that read well on a light background (matplotlib's tab10). */
const PALETTE_LIGHT = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
/** The same hues, lighter, for dark backgrounds. */
const PALETTE_DARK = ["#5aa9e6", "#ffa552", "#5fd35f", "#ff6b6b", "#c39bf0", "#c8a08f", "#f7a1d8", "#bdbdbd", "#e0e05a", "#4fd9e8"];

/** Decimate once the visible rows exceed this many per device pixel column. */
const DECIMATE_ABOVE = 4;

/** How often (ms) the legend's latest values change while data streams and no point is hovered. */
const LEGEND_MS = 250;

/** Series line width in CSS pixels while the plot draws at most one point per pixel column. */
const LINE_WIDTH = 1.5;

/**
 * @typedef {object} PlotConfig
 * @property {string[]} series
 * @property {number} window
 * @property {number | null} xrange
 * @property {string} title
 * @property {string} xlabel
 * @property {string} ylabel
 * @property {boolean} autoscale
 * @property {[number, number] | null} ylim
 * @property {number} height
 * @property {string[] | null} colors
 */

/**
 * @param {Record<string, any>} raw
 * @returns {PlotConfig}
 */
function normalize(raw) {
  const num = (/** @type {unknown} */ v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : null);
  const ylim = Array.isArray(raw.ylim) && raw.ylim.length === 2 && raw.ylim.every((v) => typeof v === "number") ? raw.ylim : null;
  return {
    series: Array.isArray(raw.series) ? raw.series.map(String) : [],
    window: num(raw.window) ?? MAX_POINTS,
    xrange: num(raw.xrange),
    title: raw.title ? String(raw.title) : "",
    xlabel: raw.xlabel ? String(raw.xlabel) : "",
    ylabel: raw.ylabel ? String(raw.ylabel) : "",
    autoscale: raw.autoscale !== false,
    ylim: ylim ? [Math.min(ylim[0], ylim[1]), Math.max(ylim[0], ylim[1])] : null,
    height: num(raw.height) ?? 300,
    colors: Array.isArray(raw.colors) && raw.colors.length ? raw.colors.map(String) : null,
  };
}

/**
 * Values of an append as a column: numbers, arrays, typed arrays and NDArrays.
 * @param {unknown} v
 * @returns {import("./columns.js").NumberColumn | number | null}
 */
function asColumn(v) {
  if (v == null) return null;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return toNumberArray(/** @type {any} */ (v));
}

/** @type {import("./base.js").RenderView} */
export function render(ctx) {
  injectStyle("uplot", uplotCss);
  injectStyle("plot", plotCss);
  const { signal } = ctx;
  const frame = new ViewFrame(ctx, "plot");
  const root = frame.root;
  const area = h("div", { class: "nbc-plot-area" });
  const empty = h("div", { class: "nbc-empty nbc-plot-empty" }, "waiting for data…");
  frame.body.append(area, empty);

  let cfg = normalize(ctx.config);
  frame.setTitle(cfg.title);
  /** @type {string[]} */
  const names = [...cfg.series];
  /** @type {Map<string, number>} */
  const index = new Map(names.map((n, i) => [n, i]));
  const cols = new Columns(names.length, cfg.window);
  const dec = new DecimationBuffer();
  /** min/max per bucket, kept from frame to frame while the plot follows the data */
  const buckets = new Buckets();

  /** @type {uPlot | null} */
  let u = null;
  let needsBuild = true;
  let dirty = true;
  let zoomed = false;
  let width = 0;
  /** x range shown while following the data */
  let follow = { x0: 0, x1: 1 };
  /** y range shown */
  let yRange = [0, 1];
  /** raw data extent seen since the last reset (autoscale off) */
  let sticky = { min: Infinity, max: -Infinity };
  let framesDrawn = 0;
  /** @type {number[]} */
  const frameTimes = [];

  root.dataset.points = "0";
  root.dataset.frames = "0";
  root.dataset.fps = "0";
  root.dataset.series = JSON.stringify(names);

  /** @param {string} name */
  const addSeries = (name) => {
    const i = names.length;
    names.push(name);
    index.set(name, i);
    cols.addSeries();
    root.dataset.series = JSON.stringify(names);
    needsBuild = true;
    return i;
  };

  /** @type {Map<number, {text: string, at: number}>} the latest values shown, by series */
  const latestShown = new Map();

  /**
   * Legend text for series `sidx` (0 = x): the hovered value, or the latest one when the
   * cursor is elsewhere (uPlot passes idx null then). The latest value changes with every
   * frame while data streams; new text makes the page lay out again, so it is refreshed at
   * most every LEGEND_MS (uPlot rewrites the same text, which needs no layout).
   * @param {number} sidx
   */
  const legendValue = (sidx) => (/** @type {uPlot} */ _u, /** @type {number | null} */ v, /** @type {number} */ _s, /** @type {number | null} */ idx) => {
    if (idx == null) {
      if (!cols.length) {
        latestShown.delete(sidx);
        return "–";
      }
      const now = performance.now();
      const shown = latestShown.get(sidx);
      if (shown && now - shown.at < LEGEND_MS) return shown.text;
      const last = cols.start + cols.length - 1;
      v = sidx === 0 ? cols.x[last] : cols.y[sidx - 1][last];
      const text = v == null || Number.isNaN(v) ? "–" : formatNumber(v);
      latestShown.set(sidx, { text, at: now });
      return text;
    }
    return v == null || Number.isNaN(v) ? "–" : formatNumber(v);
  };

  /** @type {Map<string, number>} width of a tick label in canvas pixels, by font and text */
  const labelWidths = new Map();

  /**
   * Y axis width that fits its longest tick label (uPlot's default is fixed).
   * @param {uPlot} self
   * @param {string[] | null} values
   * @param {number} axisIdx
   * @param {number} cycleNum
   */
  const axisSize = (self, values, axisIdx, cycleNum) => {
    const axis = self.axes[axisIdx];
    if (cycleNum > 1) return /** @type {any} */ (axis)._size;
    let size = (axis.ticks?.size ?? 4) + (axis.gap ?? 5) + 4;
    let longest = "";
    for (const v of values ?? []) if (v != null && String(v).length > longest.length) longest = String(v);
    if (longest) {
      // Called on every redraw: setting ctx.font parses the font, so measure a label only
      // when it is new (the labels change rarely, the redraws many times a second).
      const font = /** @type {any} */ (axis.font)?.[0] ?? self.ctx.font;
      const key = `${font}\n${longest}`;
      let w = labelWidths.get(key);
      if (w === undefined) {
        if (labelWidths.size > 256) labelWidths.clear();
        self.ctx.font = font;
        w = self.ctx.measureText(longest).width;
        labelWidths.set(key, w);
      }
      size += w / (globalThis.devicePixelRatio || 1);
    }
    return Math.ceil(size);
  };

  const build = () => {
    needsBuild = false;
    u?.destroy();
    u = null;
    zoomed = false;
    frame.clearNote("zoom");
    const theme = readTheme(root);
    const palette = cfg.colors ?? (theme.dark ? PALETTE_DARK : PALETTE_LIGHT);
    const font = `11px ${theme.font}`;
    const labelFont = `12px ${theme.font}`;
    /** @param {string} label @returns {uPlot.Axis} */
    const axis = (label) => ({
      stroke: theme.fg,
      font,
      labelFont,
      label: label || undefined,
      labelSize: 16,
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1, size: 4 },
    });
    /** @type {uPlot.Options} */
    const opts = {
      width: Math.max(100, Math.floor(width)),
      height: cfg.height,
      scales: {
        x: { time: false, range: (_u, min, max) => (zoomed && min != null && max != null ? [min, max] : [follow.x0, follow.x1]) },
        y: { range: () => /** @type {uPlot.Range.MinMax} */ ([yRange[0], yRange[1]]) },
      },
      series: [
        { label: cfg.xlabel || "x", value: legendValue(0) },
        ...names.map((name, i) => ({
          label: name,
          stroke: palette[i % palette.length],
          width: LINE_WIDTH,
          value: legendValue(i + 1),
        })),
      ],
      axes: [{ ...axis(cfg.xlabel), size: 28 }, { ...axis(cfg.ylabel), size: axisSize }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false, setScale: true }, points: { size: 6 } },
      hooks: {
        setSelect: [
          (self) => {
            if (self.select.width > 0) {
              zoomed = true;
              frame.note("zoom", "zoomed · double-click to follow", "Drag selected an x range; the plot no longer follows new data.");
              invalidate();
            }
          },
        ],
        setSeries: [() => invalidate()],
      },
    };
    const empties = [new Float64Array(0), ...names.map(() => new Float64Array(0))];
    u = new uPlot(opts, /** @type {uPlot.AlignedData} */ (empties), area);
    dirty = true;
  };

  /**
   * The uPlot data for the visible x range, decimated when it holds many more rows than the
   * plot has pixel columns; updates `follow` and `yRange`. Also returns the number of points
   * drawn and of device pixel columns.
   * @returns {[uPlot.AlignedData, number, number]}
   */
  const visibleData = () => {
    const n = cols.length;
    const end = cols.start + n;
    const shown = names.map((_, i) => u?.series[i + 1]?.show !== false);
    let x0;
    let x1;
    if (zoomed && u && u.scales.x.min != null && u.scales.x.max != null) {
      x0 = u.scales.x.min;
      x1 = u.scales.x.max;
    } else {
      if (n === 0) {
        x0 = 0;
        x1 = 1;
      } else if (cols.sorted) {
        x1 = cols.lastX;
        x0 = cfg.xrange ? x1 - cfg.xrange : cols.firstX;
      } else {
        x0 = Infinity;
        x1 = -Infinity;
        for (let i = cols.start; i < end; i++) {
          const v = cols.x[i];
          if (v < x0) x0 = v;
          if (v > x1) x1 = v;
        }
      }
      if (!(x1 > x0)) {
        x0 = Number.isFinite(x0) ? x0 - 0.5 : 0;
        x1 = x0 + 1;
      }
      follow = { x0, x1 };
    }
    let i0 = cols.start;
    let i1 = end;
    if (cols.sorted && n) {
      // The rows in view plus one neighbor on each side, so lines reach the edges.
      i0 = Math.max(cols.start, cols.lowerBound(x0) - 1);
      i1 = Math.min(end, cols.upperBound(x1) + 1);
    }
    const columns = Math.max(16, Math.round(u ? u.bbox.width : width * (globalThis.devicePixelRatio || 1)));
    /** @type {uPlot.AlignedData} */
    let data;
    let drawn;
    let ext;
    if (cols.sorted && i1 - i0 > DECIMATE_ABOVE * columns) {
      // Following the data, the buckets of the last frame are reused (only new rows are
      // scanned); a zoomed view is decimated from scratch per pixel column.
      const r = zoomed
        ? decimate(cols.x, cols.y, i0, i1, x0, x1, columns, dec, shown)
        : buckets.decimate(cols, i0, x0, x1, columns, dec, shown);
      data = [dec.x.subarray(0, r.n), ...names.map((_, s) => dec.y[s].subarray(0, r.n))];
      drawn = r.n;
      ext = r;
    } else {
      data = [cols.x.subarray(i0, i1), ...cols.y.map((c) => c.subarray(i0, i1))];
      drawn = i1 - i0;
      ext = extent(cols.x, cols.y, i0, i1, x0, x1, shown);
    }
    updateYRange(ext.min, ext.max);
    return [data, drawn, columns];
  };

  /**
   * @param {number} min
   * @param {number} max
   */
  const updateYRange = (min, max) => {
    if (cfg.ylim) {
      yRange = cfg.ylim;
      return;
    }
    if (!(min <= max)) return; // nothing shown: keep the current range
    if (!cfg.autoscale && !zoomed) {
      // Only ever grow, so the axis does not jitter as the window slides.
      sticky = { min: Math.min(sticky.min, min), max: Math.max(sticky.max, max) };
      min = sticky.min;
      max = sticky.max;
    }
    const r = uPlot.rangeNum(min, max, 0.05, true);
    yRange = [r[0] ?? min, r[1] ?? max];
  };

  const draw = () => {
    if (width <= 0) return;
    if (needsBuild || !u) build();
    if (!dirty || !u) return;
    dirty = false;
    const plot = u;
    const [data, drawn, columns] = visibleData();
    // More points than pixel columns make a jagged path; stroked wider than one device pixel
    // it costs the rasterizer 5–15 ms a frame (software canvas, 1M points), while a
    // one-device-pixel line takes the hairline path (~1 ms). Dense data looks the same.
    const dense = drawn > columns;
    const lineWidth = dense ? 1 / (globalThis.devicePixelRatio || 1) : LINE_WIDTH;
    for (let i = 1; i < plot.series.length; i++) plot.series[i].width = lineWidth;
    if (zoomed) {
      const { min, max } = plot.scales.x;
      plot.batch(() => {
        plot.setData(data, false);
        if (min != null && max != null) plot.setScale("x", { min, max });
      });
    } else {
      plot.setData(data);
    }
    empty.hidden = cols.length > 0;
    framesDrawn += 1;
    const now = performance.now();
    frameTimes.push(now);
    updateFps(now);
    root.dataset.frames = String(framesDrawn);
    // (an attribute written invalidates style even when unchanged: skip the steady ones)
    setData("points", String(cols.points));
    setData("rows", String(cols.length));
    setData("drawn", String(drawn));
    setData("dense", String(dense));
  };

  /**
   * @param {string} key
   * @param {string} value
   */
  const setData = (key, value) => {
    if (root.dataset[key] !== value) root.dataset[key] = value;
  };

  /** @param {number} now */
  const updateFps = (now) => {
    while (frameTimes.length && frameTimes[0] < now - 1000) frameTimes.shift();
    setData("fps", String(frameTimes.length));
  };

  const request = frameScheduler(draw, signal);
  const invalidate = () => {
    dirty = true;
    request();
  };
  every(() => updateFps(performance.now()), 500, signal);

  /** @param {Record<string, any>} raw */
  const applyConfig = (raw) => {
    const prev = cfg;
    cfg = normalize(raw);
    frame.setTitle(cfg.title);
    for (const name of cfg.series) if (!index.has(name)) addSeries(name);
    if (cfg.window !== prev.window) cols.setWindow(cfg.window);
    if (cfg.xrange && cols.sorted && cols.length) cols.trimBefore(cols.lastX - cfg.xrange);
    if (
      cfg.height !== prev.height ||
      cfg.xlabel !== prev.xlabel ||
      cfg.ylabel !== prev.ylabel ||
      JSON.stringify(cfg.colors) !== JSON.stringify(prev.colors)
    ) {
      needsBuild = true;
    }
    sticky = { min: Infinity, max: -Infinity };
    invalidate();
  };

  /** @param {any} value */
  const onAppend = (value) => {
    if (value == null || typeof value !== "object") return;
    const xs = asColumn(value.x);
    /** @type {(import("./columns.js").NumberColumn | number | null | undefined)[]} */
    const ys = [];
    let n = typeof xs === "number" ? 1 : xs ? xs.length : -1;
    let y = value.y;
    if (y != null && (typeof y !== "object" || Array.isArray(y) || ArrayBuffer.isView(y) || "dtype" in y)) {
      // A bare value: the first (or only) series.
      y = { [names[0] ?? "y"]: y };
    }
    for (const [name, v] of Object.entries(y ?? {})) {
      const i = index.get(name) ?? addSeries(name);
      const col = asColumn(v);
      ys[i] = col;
      if (n < 0 && col != null && typeof col !== "number") n = col.length;
    }
    if (n < 0) n = 1;
    cols.append(typeof xs === "number" ? [xs] : xs, ys, n);
    if (cfg.xrange && cols.sorted) cols.trimBefore(cols.lastX - cfg.xrange);
    invalidate();
  };

  frame.subscribe({
    onReset() {
      cols.clear();
      buckets.reset();
      sticky = { min: Infinity, max: -Infinity };
      frame.resetGaps();
      if (zoomed) {
        zoomed = false;
        frame.clearNote("zoom");
      }
      invalidate();
    },
    onState(key, value) {
      if (key === "config" && value && typeof value === "object") applyConfig({ ...ctx.config, ...value });
    },
    onUnset(key) {
      if (key === "config") applyConfig(ctx.config);
    },
    onAppend,
    onGap(info) {
      frame.gapNote(info, "updates");
    },
  });

  // Double-click returns to following the data (capture: before uPlot's own handler).
  area.addEventListener(
    "dblclick",
    () => {
      if (!zoomed) return;
      zoomed = false;
      frame.clearNote("zoom");
      invalidate();
    },
    { capture: true, signal },
  );

  observeResize(
    frame.body,
    (w) => {
      const next = Math.floor(w);
      if (next === Math.floor(width) || next <= 0) return;
      width = next;
      if (u) u.setSize({ width: Math.max(100, width), height: cfg.height });
      invalidate();
    },
    signal,
  );
  if (typeof ResizeObserver === "undefined") width = 600;

  onThemeChange(
    root,
    () => {
      needsBuild = true;
      invalidate();
    },
    signal,
  );

  request();
  return () => {
    u?.destroy();
    u = null;
  };
}
