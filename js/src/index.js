// The anywidget entry point: every nbchannel widget model renders through here.
//
// The model's synced traits say what to show — `_kind` (which view), `_channel` and
// `_scope` (which channel), `_config` (the view's options) — and the data itself travels
// on the channel, through the page's shared ChannelClient, never through the comm.
// render() mounts the view for `_kind` and returns a cleanup that unmounts it; a change
// of any of those traits re-mounts the view. `_transport` says where the data can come
// from (./choose.js): the server's hub through the page's client, or the widget's comm
// where no hub is reachable; a view that started on the hub moves to the comm as soon as
// the page learns there is no hub.

import { getClient } from "./client.js";
import { adoptModel, leaseClient } from "./choose.js";
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
const TRAITS = ["_kind", "_channel", "_scope", "_config", "_transport"];

/**
 * Mount the view the model asks for into `el`; returns its cleanup.
 * @param {AnyModel} model
 * @param {HTMLElement} el
 * @param {() => void} remount call to mount the view anew (its client changed)
 * @returns {() => void}
 */
function mount(model, el, remount) {
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
      const lease = leaseClient(/** @type {any} */ (model));
      signal.addEventListener("abort", () => lease.release(), { once: true });
      if (lease.via === "hub" && model.get("_transport") === "hub+comm") {
        // The page may learn only now (api/info answered 404) that no hub is here.
        const page = getClient();
        const off = page.onStatus(() => {
          if (page.hubAbsent) remount();
        });
        signal.addEventListener("abort", off, { once: true });
      }
      const client = /** @type {ViewClient} */ (/** @type {unknown} */ (lease.client));
      el.dataset.nbchannelVia = lease.via;
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
   * Once per model: keep the wrapper whose listeners last as long as the model (the views'
   * connection over the comm listens through it).
   * @param {{model: AnyModel}} props
   * @returns {() => void}
   */
  initialize({ model }) {
    return adoptModel(/** @type {any} */ (model));
  },
  /**
   * @param {{model: AnyModel, el: HTMLElement}} props
   * @returns {() => void}
   */
  render({ model, el }) {
    let queued = false;
    /** @type {() => void} */
    let unmount;
    // Several traits usually change in one sync: re-mount once, after all of them.
    const remount = () => {
      if (queued) return;
      queued = true;
      queueMicrotask(() => {
        queued = false;
        if (!unmount) return;
        unmount();
        unmount = mount(model, el, remount);
      });
    };
    unmount = mount(model, el, remount);
    for (const name of TRAITS) model.on(`change:${name}`, remount);
    return () => {
      for (const name of TRAITS) model.off(`change:${name}`, remount);
      const u = unmount;
      unmount = /** @type {any} */ (null);
      u?.();
    };
  },
};
