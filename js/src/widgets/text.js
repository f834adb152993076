// LiveText: a text or Markdown block that the kernel replaces at will.
//
// Channel: state `text` = {value: str, format: "text" | "markdown"} (a bare string is plain
// text). Updates are applied once per animation frame (the newest wins). Plain text keeps
// its line breaks; Markdown is rendered by ./markdown.js (markdown-it, raw HTML escaped,
// links limited to http(s), mailto and relative URLs).
//
// Config: format (default format when the state has none), title, height (max CSS px,
// scrolls beyond).

import { ViewFrame, frameScheduler, h, injectStyle } from "./base.js";
import { renderMarkdown } from "./markdown.js";
import textCss from "./text.css";

/** @type {import("./base.js").RenderView} */
export function render(ctx) {
  injectStyle("text", textCss);
  const { config, signal } = ctx;
  const frame = new ViewFrame(ctx, "text", { title: config.title });
  const root = frame.root;
  const content = h("div", { class: "nbc-text-content" });
  if (typeof config.height === "number" && config.height > 0) {
    content.style.maxHeight = `${config.height}px`;
    content.style.overflow = "auto";
  }
  frame.body.append(content);
  const defaultFormat = config.format === "markdown" ? "markdown" : "text";

  /** @type {{value: string, format: string} | null} */
  let pending = null;

  const draw = () => {
    if (!pending) return;
    const { value, format } = pending;
    pending = null;
    const markdown = format === "markdown";
    content.classList.toggle("nbc-markdown", markdown);
    // renderMarkdown escapes all HTML in the source and keeps only safe link URLs.
    if (markdown) content.innerHTML = renderMarkdown(value);
    else content.textContent = value;
    root.dataset.format = markdown ? "markdown" : "text";
    root.dataset.value = value;
  };
  const request = frameScheduler(draw, signal);

  /** @param {unknown} v */
  const show = (v) => {
    if (v != null && typeof v === "object" && !Array.isArray(v)) {
      const o = /** @type {{value?: unknown, format?: unknown}} */ (v);
      pending = { value: o.value == null ? "" : String(o.value), format: o.format === "markdown" || o.format === "text" ? o.format : defaultFormat };
    } else {
      pending = { value: v == null ? "" : String(v), format: defaultFormat };
    }
    request();
  };

  frame.subscribe({
    onReset() {
      frame.resetGaps();
      show("");
    },
    onState(key, value) {
      if (key === "text") show(value);
    },
    onUnset(key) {
      if (key === "text") show("");
    },
  });
  return () => {
    pending = null;
  };
}
