// LiveLog: a bounded, auto-scrolling log.
//
// Channel: append {lines: string[]}. Lines are queued and added to the DOM once per
// animation frame (one fragment, one trim of the oldest lines), so thousands of lines per
// second cost one layout per frame. The view follows the end unless the user scrolled up;
// scrolling back to the end (or the "latest" button) resumes following. Text only: lines
// are text nodes, never HTML; ANSI color codes are stripped.
//
// Config: max_lines (default 5000), height (CSS px, default 300), title.

import { ViewFrame, frameScheduler, h, injectStyle } from "./base.js";
import logCss from "./log.css";

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

/**
 * The lines of an append: {lines: [...]} (also a bare string or array, to be lenient).
 * @param {any} value
 * @returns {string[]}
 */
function linesOf(value) {
  let lines = value;
  if (value && typeof value === "object" && !Array.isArray(value)) lines = value.lines ?? value.line ?? value.text;
  if (lines == null) return [];
  if (typeof lines === "string") lines = lines.split("\n");
  if (!Array.isArray(lines)) lines = [lines];
  return lines.map((/** @type {unknown} */ l) => {
    let s = typeof l === "string" ? l : l == null ? "" : typeof l === "object" ? JSON.stringify(l) : String(l);
    if (s.includes("\x1b")) s = s.replace(ANSI, "");
    // A carriage return rewrites the line (progress bars): keep what a terminal would show.
    if (s.includes("\r")) s = s.slice(s.replace(/\r+$/, "").lastIndexOf("\r") + 1).replace(/\r+$/, "");
    return s;
  });
}

/** @type {import("./base.js").RenderView} */
export function render(ctx) {
  injectStyle("log", logCss);
  const { config, signal } = ctx;
  const maxLines = Number.isInteger(config.max_lines) && config.max_lines > 0 ? config.max_lines : 5000;
  const height = typeof config.height === "number" && config.height > 0 ? config.height : 300;
  const frame = new ViewFrame(ctx, "log", { title: config.title });
  const root = frame.root;
  const box = h("div", { class: "nbc-log-box", tabindex: 0, role: "log", "aria-live": "off" });
  box.style.maxHeight = `${height}px`;
  const jump = h("button", { class: "nbc-log-jump", type: "button", title: "Scroll to the latest line and follow" });
  jump.hidden = true;
  const empty = h("div", { class: "nbc-empty" }, "no output yet");
  frame.body.append(box, jump, empty);

  /** @type {{text: string, gap?: boolean}[]} */
  let pending = [];
  let lineCount = 0;
  let received = 0;
  let unseen = 0;
  let follow = true;
  root.dataset.lines = "0";
  root.dataset.received = "0";

  const atEnd = () => box.scrollHeight - box.scrollTop - box.clientHeight < 4;
  const showJump = () => {
    jump.hidden = follow;
    jump.textContent = unseen > 0 ? `↓ ${unseen.toLocaleString("en-US")} new` : "↓ latest";
  };

  const draw = () => {
    let items = pending;
    pending = [];
    if (!items.length) return;
    if (items.length > maxLines) items = items.slice(-maxLines);
    const frag = document.createDocumentFragment();
    let added = 0;
    for (const item of items) {
      const div = document.createElement("div");
      if (item.gap) div.className = "nbc-log-gap";
      else {
        div.className = "nbc-log-line";
        added += 1;
      }
      div.textContent = item.text;
      frag.append(div);
    }
    box.append(frag);
    lineCount += added;
    if (!follow) unseen += added;

    const excess = box.childElementCount - maxLines;
    if (excess > 0) {
      const firstKept = /** @type {HTMLElement} */ (box.children[excess]);
      // Keep the text the user is reading in place while the oldest lines go.
      const shift = follow ? 0 : firstKept.offsetTop - /** @type {HTMLElement} */ (box.firstElementChild).offsetTop;
      let removedLines = 0;
      for (let i = 0; i < excess; i++) if (box.children[i].className === "nbc-log-line") removedLines += 1;
      const range = document.createRange();
      range.setStartBefore(/** @type {Node} */ (box.firstChild));
      range.setEndBefore(firstKept);
      range.deleteContents();
      lineCount -= removedLines;
      if (shift) box.scrollTop -= shift;
    }
    if (follow) box.scrollTop = box.scrollHeight;
    empty.hidden = box.childElementCount > 0;
    root.dataset.lines = String(lineCount);
    root.dataset.received = String(received);
    showJump();
  };
  const request = frameScheduler(draw, signal);

  /** @param {{text: string, gap?: boolean}[]} items */
  const queue = (items) => {
    for (let i = Math.max(0, items.length - maxLines); i < items.length; i++) pending.push(items[i]);
    // Bounded while the page is hidden (no animation frames): only the tail can be shown.
    if (pending.length > 2 * maxLines) pending = pending.slice(-maxLines);
    request();
  };

  box.addEventListener(
    "scroll",
    () => {
      const end = atEnd();
      if (end !== follow) {
        follow = end;
        if (follow) unseen = 0;
        showJump();
      }
    },
    { signal, passive: true },
  );
  jump.addEventListener(
    "click",
    () => {
      follow = true;
      unseen = 0;
      box.scrollTop = box.scrollHeight;
      showJump();
    },
    { signal },
  );

  const clear = () => {
    pending = [];
    box.replaceChildren();
    lineCount = 0;
    received = 0;
    unseen = 0;
    follow = true;
    empty.hidden = false;
    root.dataset.lines = "0";
    root.dataset.received = "0";
    showJump();
  };

  frame.subscribe({
    onReset() {
      frame.resetGaps();
      clear();
    },
    onAppend(value) {
      const lines = linesOf(value);
      received += lines.length;
      queue(lines.map((text) => ({ text })));
    },
    onGap(info) {
      frame.gapNote(info, "updates");
      const n = Number(info?.count) || 0;
      queue([{ text: `… ${n ? n.toLocaleString("en-US") + " " : ""}update${n === 1 ? "" : "s"} skipped …`, gap: true }]);
    },
  });

  return () => {
    pending = [];
  };
}
