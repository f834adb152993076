// LiveImage: the latest frame on a canvas, and pointer events back to the kernel.
//
// Channel: state `frame` = {image: NDArray H×W, H×W×1, H×W×3 or H×W×4} (uint8; bool and
// floats in [0, 1] also work) or {png: bytes} / {jpeg: bytes}. Only the newest frame is
// drawn, once per animation frame. Encoded frames are decoded off the main thread
// (createImageBitmap), up to MAX_DECODING at a time so that large frames decode in
// parallel; a decode that finishes after a newer frame was drawn is dropped, and every
// bitmap is closed once drawn or dropped. Events: `pointer` {type: "down" |
// "move" | "up" | "wheel", x, y (image pixels), button, buttons, dx, dy, shift, ctrl, alt};
// moves and wheel turns are coalesced to one per animation frame.
//
// Config: width (displayed width: CSS px, or "100%" to fill the cell; default: the image's
// own size), pixelated (nearest-neighbor scaling, for small frames shown large). The image
// always keeps its aspect ratio and is scaled down to fit the cell.

import { ViewFrame, describe, frameScheduler, h, injectStyle } from "./base.js";
import imageCss from "./image.css";

/** Encoded frames decoding at once: with a core to spare, two 1080p JPEGs decoding at a
 * time draw 5 to 20% more frames per second than one (headless Chromium, 2 cores). */
const MAX_DECODING = 2;

/**
 * @typedef {object} RawImage
 * @property {number} width
 * @property {number} height
 * @property {number} channels 1, 3 or 4
 * @property {ArrayLike<number>} data H×W×C values
 * @property {number} scale multiplier to 0..255 (255 for floats in [0, 1], 1 for uint8)
 */

/**
 * Check an `image` payload and describe it, or explain what is wrong.
 * @param {any} a
 * @returns {RawImage}
 */
function rawImage(a) {
  if (!a || typeof a !== "object" || !Array.isArray(a.shape) || !a.data || !ArrayBuffer.isView(a.data)) {
    throw new TypeError("frame.image must be a numpy array");
  }
  const shape = /** @type {number[]} */ (a.shape);
  const [height, width, channels = 1] = shape;
  if ((shape.length !== 2 && shape.length !== 3) || ![1, 3, 4].includes(channels)) {
    throw new TypeError(`frame.image must be H×W, H×W×1, H×W×3 or H×W×4; got shape (${shape.join(", ")})`);
  }
  const kind = String(a.dtype ?? "").slice(1);
  let scale;
  if (kind === "u1") scale = 1;
  else if (kind === "b1") scale = 255;
  else if (kind === "f4" || kind === "f8") scale = 255;
  else throw new TypeError(`frame.image must be uint8 (or bool, or float in [0, 1]); got dtype ${a.dtype}`);
  return { width, height, channels, data: /** @type {ArrayLike<number>} */ (a.data), scale };
}

/** Whether a Uint32Array stores its bytes least significant first (every browser does). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Fill `out` (RGBA) from an image of 1, 3 or 4 channels.
 * @param {RawImage} img
 * @param {Uint8ClampedArray} out
 */
function toRGBA(img, out) {
  const { data, channels, scale } = img;
  const n = img.width * img.height;
  if (channels === 4 && scale === 1) {
    out.set(/** @type {Uint8Array} */ (data));
    return;
  }
  if (scale === 1 && LITTLE_ENDIAN && out.byteOffset % 4 === 0) {
    // uint8 gray or RGB: one 32-bit store per pixel, about 3 times as fast as four
    // clamped byte stores
    const px = new Uint32Array(out.buffer, out.byteOffset, n);
    if (channels === 3) {
      for (let i = 0, j = 0; i < n; i++, j += 3) {
        px[i] = 0xff000000 | (data[j + 2] << 16) | (data[j + 1] << 8) | data[j];
      }
    } else {
      for (let i = 0; i < n; i++) px[i] = 0xff000000 | (data[i] * 0x010101);
    }
    return;
  }
  // Uint8ClampedArray clamps and rounds floats for us.
  if (channels === 3) {
    for (let i = 0, j = 0, k = 0; i < n; i++, j += 3, k += 4) {
      out[k] = data[j] * scale;
      out[k + 1] = data[j + 1] * scale;
      out[k + 2] = data[j + 2] * scale;
      out[k + 3] = 255;
    }
  } else if (channels === 1) {
    for (let i = 0, k = 0; i < n; i++, k += 4) {
      const v = data[i] * scale;
      out[k] = v;
      out[k + 1] = v;
      out[k + 2] = v;
      out[k + 3] = 255;
    }
  } else {
    for (let i = 0; i < 4 * n; i++) out[i] = data[i] * scale;
  }
}

/**
 * The frame payload, accepting also a bare array ({image}) or bare PNG/JPEG bytes (told
 * apart by their signatures).
 * @param {any} v
 * @returns {any}
 */
function asFrame(v) {
  if (v == null) return null;
  if (v instanceof Uint8Array) {
    if (v[0] === 0x89 && v[1] === 0x50) return { png: v };
    if (v[0] === 0xff && v[1] === 0xd8) return { jpeg: v };
    return { image: v };
  }
  if (typeof v === "object" && "dtype" in v && "shape" in v) return { image: v };
  return v;
}

/** @type {import("./base.js").RenderView} */
export function render(ctx) {
  injectStyle("image", imageCss);
  const { config, signal } = ctx;
  const frame = new ViewFrame(ctx, "image", { title: config.title });
  const root = frame.root;
  const canvas = h("canvas", { class: "nbc-image-canvas", tabindex: 0 });
  const empty = h("div", { class: "nbc-empty" }, "waiting for a frame…");
  frame.body.append(canvas, empty);
  canvas.hidden = true;
  // Natural size by default, never wider than the cell (CSS max-width); `width` sets the
  // displayed width in CSS px, or "100%" to fill the cell.
  if (typeof config.width === "number" && config.width > 0) canvas.style.width = `${config.width}px`;
  else if (typeof config.width === "string" && /^\d+(\.\d+)?(px|%)$/.test(config.width)) canvas.style.width = config.width;
  if (config.pixelated) canvas.classList.add("nbc-pixelated");
  const g = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));

  /** @type {ImageData | null} */
  let imageData = null;
  /** newest frame not drawn yet, and its sequence number */
  /** @type {any} */
  let pending = null;
  let seq = 0;
  let drawnSeq = 0;
  let framesDrawn = 0;
  /** the newest encoded frame waiting for a decoder, and how many decodes are under way */
  /** @type {{bytes: Uint8Array, type: string, seq: number} | null} */
  let encoded = null;
  let decoding = 0;
  root.dataset.frames = "0";

  /**
   * @param {number} w
   * @param {number} h
   */
  const resize = (w, h) => {
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    root.dataset.width = String(w);
    root.dataset.height = String(h);
  };

  /** @param {number} s */
  const shown = (s) => {
    drawnSeq = s;
    framesDrawn += 1;
    canvas.hidden = false;
    empty.hidden = true;
    frame.clearNote("frame");
    root.dataset.frames = String(framesDrawn);
  };

  /** @param {{bytes: Uint8Array, type: string, seq: number}} job */
  const decode = async (job) => {
    /** @type {ImageBitmap | null} */
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(new Blob([/** @type {BlobPart} */ (job.bytes)], { type: job.type }));
      if (signal.aborted || job.seq < drawnSeq) return; // a newer frame is on the canvas
      resize(bitmap.width, bitmap.height);
      g.drawImage(bitmap, 0, 0);
      shown(job.seq);
    } catch (err) {
      if (!signal.aborted) frame.note("frame", "⚠ could not decode frame", describe(err));
    } finally {
      bitmap?.close();
    }
  };

  const decodeNext = () => {
    while (encoded && decoding < MAX_DECODING && !signal.aborted) {
      const job = encoded;
      encoded = null;
      decoding += 1;
      void decode(job).finally(() => {
        decoding -= 1;
        decodeNext();
      });
    }
  };

  const draw = () => {
    const s = seq;
    const f = asFrame(pending);
    pending = null;
    if (!f) return;
    try {
      if (f.image) {
        const img = rawImage(f.image);
        if (!imageData || imageData.width !== img.width || imageData.height !== img.height) {
          imageData = img.width && img.height ? new ImageData(img.width, img.height) : null;
        }
        resize(img.width, img.height);
        if (imageData) {
          toRGBA(img, imageData.data);
          g.putImageData(imageData, 0, 0);
        }
        shown(s);
      } else if (f.png || f.jpeg) {
        const bytes = f.png ?? f.jpeg;
        if (!(bytes instanceof Uint8Array)) throw new TypeError("frame.png / frame.jpeg must be bytes");
        encoded = { bytes, type: f.png ? "image/png" : "image/jpeg", seq: s };
        decodeNext();
      } else {
        throw new TypeError("frame must have `image`, `png` or `jpeg`");
      }
    } catch (err) {
      frame.note("frame", "⚠ bad frame", describe(err));
    }
  };
  const request = frameScheduler(draw, signal);

  const clear = () => {
    pending = null;
    encoded = null;
    drawnSeq = ++seq;
    canvas.hidden = true;
    empty.hidden = false;
    g.clearRect(0, 0, canvas.width, canvas.height);
  };

  const sub = frame.subscribe({
    onReset() {
      frame.resetGaps();
      clear();
    },
    onState(key, value) {
      if (key !== "frame") return;
      pending = value;
      seq += 1;
      request();
    },
    onUnset(key) {
      if (key === "frame") clear();
    },
  });

  // ---- pointer events, in image pixels -------------------------------------------------

  let lastX = NaN;
  let lastY = NaN;
  /** @type {PointerEvent | null} */
  let pendingMove = null;
  /** @type {WheelEvent | null} */
  let pendingWheel = null;
  let wheelDx = 0;
  let wheelDy = 0;
  /** whether wheel turns over the image belong to it (after a press, until the pointer leaves) */
  let armed = false;

  /**
   * @param {string} type
   * @param {MouseEvent} e
   * @param {number} [dx]
   * @param {number} [dy]
   */
  const send = (type, e, dx, dy) => {
    const rect = canvas.getBoundingClientRect();
    if (!rect.width || !rect.height) return;
    const x = ((e.clientX - rect.left) * canvas.width) / rect.width;
    const y = ((e.clientY - rect.top) * canvas.height) / rect.height;
    const mdx = dx ?? (Number.isNaN(lastX) ? 0 : x - lastX);
    const mdy = dy ?? (Number.isNaN(lastY) ? 0 : y - lastY);
    lastX = x;
    lastY = y;
    sub.send("pointer", {
      type,
      x,
      y,
      button: e.button,
      buttons: e.buttons,
      dx: mdx,
      dy: mdy,
      shift: e.shiftKey,
      ctrl: e.ctrlKey || e.metaKey,
      alt: e.altKey,
    });
  };

  const flushMove = () => {
    if (pendingMove) {
      const e = pendingMove;
      pendingMove = null;
      send("move", e);
    }
    if (pendingWheel) {
      const e = pendingWheel;
      pendingWheel = null;
      send("wheel", e, wheelDx, wheelDy);
      wheelDx = 0;
      wheelDy = 0;
    }
  };
  const requestFlush = frameScheduler(flushMove, signal);
  const opts = { signal };

  canvas.addEventListener(
    "pointerdown",
    (e) => {
      armed = true;
      flushMove();
      try {
        canvas.setPointerCapture(e.pointerId);
      } catch {
        // synthetic events have no active pointer to capture
      }
      send("down", e);
    },
    opts,
  );
  canvas.addEventListener(
    "pointermove",
    (e) => {
      pendingMove = e;
      requestFlush();
    },
    opts,
  );
  /** @param {PointerEvent} e */
  const up = (e) => {
    flushMove();
    send("up", e);
  };
  canvas.addEventListener("pointerup", up, opts);
  canvas.addEventListener("pointercancel", up, opts);
  canvas.addEventListener("pointerleave", () => (armed = false), opts);
  canvas.addEventListener(
    "wheel",
    (e) => {
      // Only take the wheel from the page once the user has pressed on the image, so
      // scrolling the notebook past it still works.
      if (!armed) return;
      e.preventDefault();
      const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
      wheelDx += e.deltaX * unit;
      wheelDy += e.deltaY * unit;
      pendingWheel = e;
      requestFlush();
    },
    { signal, passive: false },
  );
  canvas.addEventListener("contextmenu", (e) => armed && e.preventDefault(), opts);

  return () => {
    imageData = null;
  };
}
