// The anywidget entry point: every nbchannel widget model renders through here.
//
// The model's synced traits say what to show — `_kind` (which view), `_channel` and
// `_scope` (which channel), `_config` (the view's options) — and the data itself travels
// on the channel, through the page's shared ChannelClient, never through the comm.
// render() mounts the view for `_kind` and returns a cleanup that unmounts it; a change
// of any of those traits re-mounts the view.

import { getClient } from "./client.js";
import { describe, errorBox, h, injectStyle } from "./widgets/base.js";
import baseCss from "./widgets/base.css";
import { renderButton, renderDropdown, renderSlider, renderTextInput, renderToggle } from "./widgets/controls.js";
import { render as renderCustom } from "./widgets/custom.js";
import { render as renderImage } from "./widgets/image.js";
import { render as renderLog } from "./widgets/log.js";
import { render as renderPlot } from "./widgets/plot.js";
import { render as renderTable } from "./widgets/table.js";
import { render as renderText } from "./widgets/text.js";
import { render as renderValue } from "./widgets/value.js";

/**
 * @typedef {import("./widgets/base.js").AnyModel} AnyModel
 * @typedef {import("./widgets/base.js").RenderView} RenderView
 * @typedef {import("./widgets/base.js").ViewClient} ViewClient
 */

/** Views by `_kind`. */
/** @type {Record<string, RenderView>} */
export const VIEWS = {
  plot: renderPlot,
  image: renderImage,
  log: renderLog,
  text: renderText,
  table: renderTable,
  value: renderValue,
  button: renderButton,
  slider: renderSlider,
  toggle: renderToggle,
  text_input: renderTextInput,
  dropdown: renderDropdown,
  custom: renderCustom,
};

/** Traits whose change re-mounts the view. */
const TRAITS = ["_kind", "_channel", "_scope", "_config"];

/**
 * Mount the view the model asks for into `el`; returns its cleanup.
 * @param {AnyModel} model
 * @param {HTMLElement} el
 * @returns {() => void}
 */
function mount(model, el) {
  const kind = String(model.get("_kind") ?? "");
  const channel = String(model.get("_channel") ?? "");
  const scope = String(model.get("_scope") ?? "");
  const config = model.get("_config") ?? {};
  const controller = new AbortController();
  const { signal } = controller;
  /** @type {(() => void) | undefined} */
  let cleanup;
  const view = Object.hasOwn(VIEWS, kind) ? VIEWS[kind] : undefined;
  /** @param {unknown} err an Error (a bug: shown with its stack) or a sentence */
  const fail = (err) => {
    console.error("nbchannel: could not render the widget:", err);
    injectStyle("base", baseCss);
    const box = h("div", { class: "nbc-widget nbc-failed", "data-kind": kind, "data-error": describe(err) });
    box.append(errorBox(`nbchannel ${kind || "widget"}: could not render`, err));
    el.append(box);
    signal.addEventListener("abort", () => box.remove(), { once: true });
  };
  if (!view) {
    fail(`This version of nbchannel's JavaScript has no "${kind}" view (it knows ${Object.keys(VIEWS).join(", ")}). Are the Python package and the page's widget bundle from the same version? Reload the page after upgrading.`);
  } else if (!channel || !scope) {
    fail("The widget has no channel (_channel and _scope are empty).");
  } else {
    try {
      const client = /** @type {ViewClient} */ (/** @type {unknown} */ (getClient()));
      cleanup = view({ el, model, client, scope, channel, config: typeof config === "object" && config ? config : {}, signal });
    } catch (err) {
      fail(err);
    }
  }
  return () => {
    try {
      cleanup?.();
    } catch (err) {
      console.error("nbchannel: view cleanup failed", err);
    }
    controller.abort();
  };
}

export default {
  /**
   * @param {{model: AnyModel, el: HTMLElement}} props
   * @returns {() => void}
   */
  render({ model, el }) {
    let unmount = mount(model, el);
    let queued = false;
    // Several traits usually change in one sync: re-mount once, after all of them.
    const remount = () => {
      if (queued) return;
      queued = true;
      queueMicrotask(() => {
        queued = false;
        if (!unmount) return;
        unmount();
        unmount = mount(model, el);
      });
    };
    for (const name of TRAITS) model.on(`change:${name}`, remount);
    return () => {
      for (const name of TRAITS) model.off(`change:${name}`, remount);
      const u = unmount;
      unmount = /** @type {any} */ (null);
      u?.();
    };
  },
};
