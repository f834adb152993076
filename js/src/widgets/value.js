// LiveValue: a big number, or a progress bar when the total is known.
//
// Channel: state `value` = {value, total?, label?, unit?} (a bare number works too). The
// page measures the rate itself — an exponential moving average of Δvalue/Δt over the
// arrival times, time constant ~2 s — and shows the ETA when the total is known. The
// display is refreshed once per animation frame however often the value changes.
//
// Config: label, unit, total (defaults for the state's fields), title.

import { ViewFrame, formatNumber, frameScheduler, h, injectStyle } from "./base.js";
import valueCss from "./value.css";

/** Time constant of the rate's moving average, in ms. */
const RATE_TAU = 2000;
/** Samples closer than this are merged (bursts of coalesced updates say little about rate). */
const RATE_MIN_DT = 50;

/**
 * "42s", "3:05", "1:02:03", "2d 3h".
 * @param {number} seconds
 */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86400);
  if (d > 0) return `${d}d ${Math.floor((s % 86400) / 3600)}h`;
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/**
 * "12.3/s", or per minute / hour when slow, or "s/it" style when very slow.
 * @param {number} rate per second
 * @param {string} unit
 */
function formatRate(rate, unit) {
  const u = unit ? ` ${unit}` : "";
  if (rate >= 1 || rate === 0) return `${formatNumber(rate >= 100 ? Math.round(rate) : Number(rate.toPrecision(3)), { group: true })}${u}/s`;
  if (rate * 60 >= 1) return `${Number((rate * 60).toPrecision(3))}${u}/min`;
  return `${Number((rate * 3600).toPrecision(3))}${u}/h`;
}

/** @type {import("./base.js").RenderView} */
export function render(ctx) {
  injectStyle("value", valueCss);
  const { config, signal } = ctx;
  const frame = new ViewFrame(ctx, "value", { title: config.title });
  const root = frame.root;

  const labelEl = h("span", { class: "nbc-value-label" });
  const numberEl = h("span", { class: "nbc-value-number" });
  const unitEl = h("span", { class: "nbc-value-unit" });
  const percentEl = h("span", { class: "nbc-value-percent" });
  const top = h("div", { class: "nbc-value-top" }, labelEl, h("span", { class: "nbc-value-reading" }, numberEl, unitEl), percentEl);
  const fill = h("div", { class: "nbc-value-fill" });
  // A progressbar needs a name for screen readers: the label, else the title.
  const bar = h("div", { class: "nbc-value-bar", role: "progressbar", "aria-valuemin": 0, "aria-label": config.title || "progress" }, fill);
  const statsEl = h("div", { class: "nbc-value-stats" });
  frame.body.append(top, bar, statsEl);

  /** @type {{value: unknown, total: number | null, label: string, unit: string} | null} */
  let current = null;
  let dirty = false;
  /** rate estimate (per second) and the sample it was last updated from */
  /** @type {number | null} */
  let rate = null;
  let lastT = 0;
  let lastV = NaN;
  let startT = 0;
  /** @type {number | null} */
  let doneAt = null;

  /**
   * @param {number} v
   * @param {number} now
   */
  const sample = (v, now) => {
    if (Number.isNaN(lastV) || v < lastV) {
      // First value, or the count went back (a new run): start measuring afresh.
      rate = null;
      lastT = now;
      lastV = v;
      startT = now;
      doneAt = null;
      return;
    }
    const dt = now - lastT;
    if (dt < RATE_MIN_DT) return;
    const inst = ((v - lastV) / dt) * 1000;
    const alpha = 1 - Math.exp(-dt / RATE_TAU);
    rate = rate == null ? inst : rate + alpha * (inst - rate);
    lastT = now;
    lastV = v;
  };

  const draw = () => {
    if (!dirty) return;
    dirty = false;
    if (!current) {
      numberEl.textContent = "–";
      unitEl.textContent = "";
      labelEl.textContent = config.label ?? "";
      labelEl.hidden = !labelEl.textContent;
      percentEl.textContent = "";
      bar.hidden = true;
      statsEl.textContent = "";
      root.dataset.value = "";
      root.classList.remove("nbc-value-progress", "nbc-value-done");
      return;
    }
    const { value, total, label, unit } = current;
    const num = typeof value === "number" ? value : null;
    labelEl.textContent = label;
    labelEl.hidden = !label;
    bar.setAttribute("aria-label", label || config.title || "progress");
    unitEl.textContent = unit ? ` ${unit}` : "";
    root.dataset.value = num != null ? String(num) : String(value ?? "");
    const progress = total != null && total > 0 && num != null;
    root.classList.toggle("nbc-value-progress", progress);
    bar.hidden = !progress;
    /** @type {string[]} */
    const stats = [];
    if (progress && num != null && total != null) {
      const frac = Math.max(0, Math.min(1, num / total));
      numberEl.textContent = `${formatNumber(num, { group: true })} / ${formatNumber(total, { group: true })}`;
      percentEl.textContent = `${Math.floor(frac * 1000) / 10}%`;
      fill.style.transform = `scaleX(${frac})`;
      bar.setAttribute("aria-valuemax", String(total));
      bar.setAttribute("aria-valuenow", String(num));
      root.dataset.total = String(total);
      root.dataset.percent = String(frac * 100);
      const done = num >= total;
      root.classList.toggle("nbc-value-done", done);
      if (done) {
        doneAt ??= performance.now();
        stats.push(`done in ${formatDuration((doneAt - startT) / 1000)}`);
      } else {
        doneAt = null;
      }
      if (rate != null && !done) {
        stats.push(formatRate(rate, unit));
        if (rate > 0) stats.push(`ETA ${formatDuration((total - num) / rate)}`);
      }
    } else {
      numberEl.textContent = num != null ? formatNumber(num, { group: true }) : String(value ?? "–");
      percentEl.textContent = "";
      delete root.dataset.total;
      delete root.dataset.percent;
      root.classList.remove("nbc-value-done");
      if (rate != null && rate !== 0) stats.push(formatRate(rate, unit));
    }
    if (rate != null) root.dataset.rate = String(rate);
    statsEl.textContent = stats.join(" · ");
  };
  const request = frameScheduler(draw, signal);

  /** @param {unknown} raw */
  const show = (raw) => {
    const o =
      raw != null && typeof raw === "object" && !Array.isArray(raw) && !ArrayBuffer.isView(raw)
        ? /** @type {Record<string, unknown>} */ (raw)
        : { value: raw };
    const totalRaw = o.total ?? config.total;
    const total = typeof totalRaw === "number" && Number.isFinite(totalRaw) ? totalRaw : null;
    const value = typeof o.value === "bigint" ? Number(o.value) : o.value;
    current = {
      value,
      total,
      label: String(o.label ?? config.label ?? ""),
      unit: String(o.unit ?? config.unit ?? ""),
    };
    if (typeof value === "number" && Number.isFinite(value)) sample(value, performance.now());
    dirty = true;
    request();
  };

  const clear = () => {
    current = null;
    rate = null;
    lastV = NaN;
    doneAt = null;
    dirty = true;
    request();
  };

  clear();
  frame.subscribe({
    onReset() {
      frame.resetGaps();
      clear();
    },
    onState(key, value) {
      if (key === "value") show(value);
    },
    onUnset(key) {
      if (key === "value") clear();
    },
  });
  return () => {
    current = null;
  };
}
