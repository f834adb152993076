// Controls: button, slider, toggle, text_input, dropdown — native elements in the
// notebook's widget style whose events reach the kernel while a cell is busy.
//
// Channel state (defaults from `_config` under the same names): label, value, options,
// disabled, min, max, step, placeholder. Config only: variant (button: primary, success,
// info, warning, danger), readout (slider, default true), multiline, rows, password,
// continuous, max_length (text input). Events: button → `click` {}; the others →
// `change` {value}. The control updates locally at once and then follows the kernel's
// state — except while the user is editing it and shortly after a local change, so a late
// echo of an older value does not yank the slider back under the user's hand.
//
// A slider sends on `input` at most once per animation frame, plus a final send on
// `change`; a text input likewise (or only on Enter / blur with config.continuous=false).
// Kernel values that arrive during an edit are dropped if the user changes the value
// again; the last one that arrives after the user's final change is applied once the
// user has been idle for QUIET_MS (so a kernel that clamps or rejects a value wins).

import { ViewFrame, dataValue, frameScheduler, h, injectStyle } from "./base.js";
import controlsCss from "./controls.css";

/** After a local change, ignore differing kernel values for this long (ms). */
const QUIET_MS = 400;

/** @type {Set<string>} */
const STATE_KEYS = new Set(["label", "value", "options", "disabled", "min", "max", "step", "placeholder"]);

let uid = 0;

/**
 * The frame and state shared by every control. `connect(apply)` subscribes; `apply` is
 * then called for every state key the channel sets (or unsets, with the default).
 * @param {import("./base.js").ViewContext} ctx
 * @param {string} kind
 */
function setup(ctx, kind) {
  injectStyle("controls", controlsCss);
  const frame = new ViewFrame(ctx, kind, { header: false, compactBadge: true });
  const row = h("div", { class: "nbc-control-row" });
  frame.body.append(row);
  /** @type {Map<string, any>} */
  const state = new Map();
  for (const k of STATE_KEYS) if (ctx.config[k] !== undefined) state.set(k, ctx.config[k]);
  /** @param {(key: string, value: any) => void} apply */
  const connect = (apply) =>
    frame.subscribe({
      onState(key, value) {
        if (!STATE_KEYS.has(key)) return;
        state.set(key, value);
        apply(key, value);
      },
      onUnset(key) {
        if (!STATE_KEYS.has(key)) return;
        const dflt = ctx.config[key];
        if (dflt === undefined) state.delete(key);
        else state.set(key, dflt);
        apply(key, dflt);
      },
    });
  return { frame, row, state, connect };
}

/**
 * Defers kernel values that arrive while the user edits (or just edited) the control.
 * @param {(value: any) => void} apply
 * @param {AbortSignal} signal
 */
function echoGuard(apply, signal) {
  let editing = false;
  let quietUntil = 0;
  let held = false;
  /** @type {any} */
  let heldValue;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const check = () => {
    timer = undefined;
    if (signal.aborted || editing || !held) return;
    const wait = quietUntil - performance.now();
    if (wait > 0) {
      timer = setTimeout(check, wait + 5);
      return;
    }
    held = false;
    apply(heldValue);
  };
  signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  return {
    /**
     * A local change was just sent: kernel values received before it are stale (they
     * answer older sends, or were overruled by the user), so forget them.
     */
    sent() {
      quietUntil = performance.now() + QUIET_MS;
      held = false;
    },
    /** @param {boolean} on the user is (no longer) editing */
    editing(on) {
      editing = on;
      if (!on) {
        quietUntil = performance.now() + QUIET_MS;
        if (held && timer === undefined) timer = setTimeout(check, QUIET_MS + 5);
      }
    },
    /** @param {any} value from the kernel */
    incoming(value) {
      if (editing || performance.now() < quietUntil) {
        held = true;
        heldValue = value;
        if (!editing && timer === undefined) timer = setTimeout(check, Math.max(0, quietUntil - performance.now()) + 5);
      } else {
        held = false;
        apply(value);
      }
    },
  };
}

/**
 * @param {HTMLElement} root
 * @param {unknown} value
 */
function showValue(root, value) {
  root.dataset.value = dataValue(value);
}

/**
 * @param {unknown} v
 * @param {number} fallback
 */
const num = (v, fallback) => (typeof v === "number" && Number.isFinite(v) ? v : fallback);

// ---- button ---------------------------------------------------------------------------

/** @type {import("./base.js").RenderView} */
export function renderButton(ctx) {
  const { frame, row, state, connect } = setup(ctx, "button");
  const button = h("button", { class: "nbc-btn", type: "button" });
  let clicks = 0;
  /** @param {string} key @param {any} value */
  const apply = (key, value) => {
    if (key === "label") button.textContent = value == null || value === "" ? "Button" : String(value);
    else if (key === "disabled") {
      button.disabled = !!value;
      frame.root.toggleAttribute("data-disabled", !!value);
    }
  };
  const variant = ctx.config.variant ?? ctx.config.style;
  if (typeof variant === "string" && /^(primary|success|info|warning|danger)$/.test(variant)) {
    button.classList.add(`nbc-btn-${variant}`);
  }
  if (ctx.config.tooltip) button.title = String(ctx.config.tooltip);
  apply("label", state.get("label"));
  apply("disabled", state.get("disabled"));
  const sub = connect(apply);
  frame.root.dataset.clicks = "0";
  button.addEventListener(
    "click",
    () => {
      clicks += 1;
      frame.root.dataset.clicks = String(clicks);
      sub.send("click", {});
    },
    { signal: ctx.signal },
  );
  row.append(button, frame.badge.el);
  return () => {};
}

// ---- slider ---------------------------------------------------------------------------

/** @type {import("./base.js").RenderView} */
export function renderSlider(ctx) {
  const { signal, config } = ctx;
  const { frame, row, state, connect } = setup(ctx, "slider");
  const id = `nbc-slider-${++uid}`;
  const labelEl = h("label", { class: "nbc-control-label", for: id });
  const input = h("input", { class: "nbc-slider-input", type: "range", id });
  const readout = h("output", { class: "nbc-slider-readout", for: id });
  const decimals = () => {
    const step = String(input.step || "1");
    return step === "any" ? 3 : step.includes(".") ? step.length - step.indexOf(".") - 1 : 0;
  };
  const fmt = (/** @type {number} */ v) => (Number.isFinite(v) ? v.toFixed(decimals()) : "");
  /** the value to show, unclamped: re-applied when min/max change after it */
  let wanted = NaN;
  /** @param {any} v */
  const setValue = (v) => {
    const n = num(typeof v === "string" ? Number(v) : v, Number(input.min || 0));
    wanted = n;
    input.value = String(n);
    readout.textContent = config.readout === false ? "" : fmt(Number(input.value));
    showValue(frame.root, Number(input.value));
  };
  const guard = echoGuard(setValue, signal);
  /** @param {string} key @param {any} value */
  const apply = (key, value) => {
    if (key === "label") {
      labelEl.textContent = value == null ? "" : String(value);
      labelEl.hidden = !labelEl.textContent;
    } else if (key === "min" || key === "max" || key === "step") {
      const dflt = key === "min" ? 0 : key === "max" ? 100 : 1;
      input[key] = value === "any" && key === "step" ? "any" : String(num(value, dflt));
      setValue(wanted);
    } else if (key === "value") guard.incoming(value);
    else if (key === "disabled") {
      input.disabled = !!value;
      frame.root.toggleAttribute("data-disabled", !!value);
    }
  };
  for (const k of ["min", "max", "step"]) input[/** @type {"min"} */ (k)] = String(num(state.get(k), k === "max" ? 100 : k === "step" ? 1 : 0));
  apply("label", state.get("label"));
  apply("disabled", state.get("disabled"));
  setValue(state.get("value") ?? input.min);
  const sub = connect(apply);

  let lastSent = NaN;
  const sendNow = () => {
    const v = Number(input.value);
    guard.sent();
    if (v === lastSent) return;
    lastSent = v;
    sub.send("change", { value: v });
  };
  const sendSoon = frameScheduler(sendNow, signal);
  const opts = { signal };
  input.addEventListener(
    "input",
    () => {
      wanted = Number(input.value);
      readout.textContent = config.readout === false ? "" : fmt(wanted);
      showValue(frame.root, wanted);
      guard.sent();
      sendSoon();
    },
    opts,
  );
  input.addEventListener("change", () => sendNow(), opts);
  input.addEventListener("pointerdown", () => guard.editing(true), opts);
  // pointerup may land outside the input; listen on the window for the release.
  window.addEventListener("pointerup", () => guard.editing(false), opts);
  window.addEventListener("pointercancel", () => guard.editing(false), opts);
  row.append(labelEl, input, readout, frame.badge.el);
  return () => {};
}

// ---- toggle ---------------------------------------------------------------------------

/** @type {import("./base.js").RenderView} */
export function renderToggle(ctx) {
  const { frame, row, state, connect } = setup(ctx, "toggle");
  const input = h("input", { class: "nbc-toggle-input", type: "checkbox", role: "switch" });
  const text = h("span", { class: "nbc-toggle-text" });
  const wrapper = h("label", { class: "nbc-toggle-switch" }, input, h("span", { class: "nbc-toggle-track", "aria-hidden": "true" }), text);
  /** @param {any} v */
  const setValue = (v) => {
    input.checked = !!v;
    showValue(frame.root, input.checked);
  };
  const guard = echoGuard(setValue, ctx.signal);
  /** @param {string} key @param {any} value */
  const apply = (key, value) => {
    if (key === "label") text.textContent = value == null ? "" : String(value);
    else if (key === "value") guard.incoming(value);
    else if (key === "disabled") {
      input.disabled = !!value;
      frame.root.toggleAttribute("data-disabled", !!value);
    }
  };
  apply("label", state.get("label"));
  apply("disabled", state.get("disabled"));
  setValue(state.get("value"));
  const sub = connect(apply);
  input.addEventListener(
    "change",
    () => {
      showValue(frame.root, input.checked);
      guard.sent();
      sub.send("change", { value: input.checked });
    },
    { signal: ctx.signal },
  );
  row.append(wrapper, frame.badge.el);
  return () => {};
}

// ---- text input -----------------------------------------------------------------------

/** @type {import("./base.js").RenderView} */
export function renderTextInput(ctx) {
  const { signal, config } = ctx;
  const { frame, row, state, connect } = setup(ctx, "text_input");
  const id = `nbc-text-${++uid}`;
  const multiline = !!config.multiline;
  const labelEl = h("label", { class: "nbc-control-label", for: id });
  const input = multiline
    ? h("textarea", { class: "nbc-text-input", id, rows: num(config.rows, 3) })
    : h("input", { class: "nbc-text-input", type: config.password ? "password" : "text", id, autocomplete: "off", spellcheck: "false" });
  if (Number.isInteger(config.max_length) && config.max_length > 0) input.maxLength = config.max_length;
  /** @param {any} v */
  const setValue = (v) => {
    const s = v == null ? "" : String(v);
    if (input.value !== s) input.value = s;
    showValue(frame.root, s);
  };
  const guard = echoGuard(setValue, signal);
  /** @param {string} key @param {any} value */
  const apply = (key, value) => {
    if (key === "label") {
      labelEl.textContent = value == null ? "" : String(value);
      labelEl.hidden = !labelEl.textContent;
    } else if (key === "placeholder") input.placeholder = value == null ? "" : String(value);
    else if (key === "value") guard.incoming(value);
    else if (key === "disabled") {
      input.disabled = !!value;
      frame.root.toggleAttribute("data-disabled", !!value);
    }
  };
  apply("label", state.get("label"));
  apply("placeholder", state.get("placeholder"));
  apply("disabled", state.get("disabled"));
  setValue(state.get("value"));
  const sub = connect(apply);

  const continuous = config.continuous !== false;
  /** @type {string | null} */
  let lastSent = input.value;
  const sendNow = () => {
    guard.sent();
    if (input.value === lastSent) return;
    lastSent = input.value;
    sub.send("change", { value: input.value });
  };
  const sendSoon = frameScheduler(sendNow, signal);
  const opts = { signal };
  input.addEventListener(
    "input",
    () => {
      showValue(frame.root, input.value);
      guard.sent();
      if (continuous) sendSoon();
    },
    opts,
  );
  input.addEventListener("change", sendNow, opts);
  input.addEventListener(
    "keydown",
    (e) => {
      const ke = /** @type {KeyboardEvent} */ (e);
      if (ke.key === "Enter" && (!multiline || ke.ctrlKey || ke.metaKey)) sendNow();
    },
    opts,
  );
  input.addEventListener("focus", () => guard.editing(true), opts);
  input.addEventListener("blur", () => guard.editing(false), opts);
  row.append(labelEl, input, frame.badge.el);
  return () => {};
}

// ---- dropdown -------------------------------------------------------------------------

/**
 * Options as {label, value}: strings and numbers, [label, value] pairs, or objects.
 * @param {unknown} raw
 * @returns {{label: string, value: unknown}[]}
 */
function normalizeOptions(raw) {
  if (!Array.isArray(raw)) {
    if (raw && typeof raw === "object") return Object.entries(raw).map(([label, value]) => ({ label, value }));
    return [];
  }
  return raw.map((o) => {
    if (Array.isArray(o) && o.length === 2) return { label: String(o[0]), value: o[1] };
    if (o && typeof o === "object" && "value" in o) return { label: String(o.label ?? o.value), value: o.value };
    return { label: String(o), value: o };
  });
}

/** @type {import("./base.js").RenderView} */
export function renderDropdown(ctx) {
  const { frame, row, state, connect } = setup(ctx, "dropdown");
  const id = `nbc-dropdown-${++uid}`;
  const labelEl = h("label", { class: "nbc-control-label", for: id });
  const select = h("select", { class: "nbc-dropdown-select", id });
  /** @type {{label: string, value: unknown}[]} */
  let options = [];
  /** @type {unknown} */
  let current;
  /** @param {any} v */
  const setValue = (v) => {
    current = v;
    const key = dataValue(v);
    select.selectedIndex = options.findIndex((o) => dataValue(o.value) === key);
    showValue(frame.root, v);
  };
  const guard = echoGuard(setValue, ctx.signal);
  /** @param {string} key @param {any} value */
  const apply = (key, value) => {
    if (key === "label") {
      labelEl.textContent = value == null ? "" : String(value);
      labelEl.hidden = !labelEl.textContent;
    } else if (key === "options") {
      options = normalizeOptions(value);
      // The option's DOM value is the value's text; the value itself is looked up by index.
      select.replaceChildren(...options.map((o) => h("option", { value: dataValue(o.value) }, o.label)));
      setValue(current);
    } else if (key === "value") guard.incoming(value);
    else if (key === "disabled") {
      select.disabled = !!value;
      frame.root.toggleAttribute("data-disabled", !!value);
    }
  };
  apply("label", state.get("label"));
  apply("options", state.get("options"));
  apply("disabled", state.get("disabled"));
  setValue(state.get("value"));
  const sub = connect(apply);
  select.addEventListener(
    "change",
    () => {
      const o = options[select.selectedIndex];
      if (!o) return;
      current = o.value;
      showValue(frame.root, o.value);
      guard.sent();
      sub.send("change", { value: o.value });
    },
    { signal: ctx.signal },
  );
  row.append(labelEl, select, frame.badge.el);
  return () => {};
}
