// The widget's `_esm`: a few hundred bytes that load the real widget code (./index.js,
// bundled as nbchannel/static/widgets.js) once per page, so the bundle does not cross the
// comm with every widget nor sit in every saved notebook. Kept small on purpose: it is
// saved with every widget's state.
//
// Where from: the Jupyter server's nbchannel extension serves it at
// `{baseUrl}nbchannel/widgets.js?h=HASH` (same origin, the page's login); it answers 404
// when its bundle differs from the kernel's (HASH is the kernel's bundle's hash). Without
// a server that has it (VS Code, Colab, standalone Voilà, no extension) the kernel sends it
// once over this widget's comm: `{"nbc": 1, "code": HASH}` asks, the reply carries the
// bundle as a binary buffer. The Python side replaces HASH when it reads this file.

const HASH = "__NBCHANNEL_BUNDLE_HASH__";
const KEY = `__nbc_${HASH}`;

/**
 * @typedef {{render: (ctx: any) => any, initialize?: (ctx: any) => any}} Widget
 * @typedef {{on: (name: string, cb: (...args: any[]) => void) => void, off: (name: string, cb: (...args: any[]) => void) => void, send: (content: any, callbacks?: any, buffers?: any[]) => void}} Model
 */

/** @returns {Promise<Widget | null>} the server's copy, or null where there is none */
async function fromServer() {
  try {
    const base = JSON.parse(/** @type {HTMLElement} */ (document.getElementById("jupyter-config-data")).textContent || "").baseUrl;
    return (await import(new URL(`${base}nbchannel/widgets.js?h=${HASH}`, document.baseURI).href)).default;
  } catch {
    return null;
  }
}

/**
 * @param {Model} model
 * @returns {Promise<Widget>} the kernel's copy, sent over this widget's comm
 */
function fromKernel(model) {
  return new Promise((resolve, reject) => {
    /** @param {any} msg @param {any[]} [buffers] */
    const on = (msg, buffers) => {
      if (msg?.code !== HASH || !buffers?.length) return;
      model.off("msg:custom", on);
      const url = URL.createObjectURL(new Blob([buffers[0]], { type: "text/javascript" }));
      import(url).then((m) => resolve(m.default), reject);
    };
    model.on("msg:custom", on);
    model.send({ nbc: 1, code: HASH });
  });
}

/**
 * The widget code, loaded once per page (per frame, where each output is its own frame).
 * @param {Model} model
 * @returns {Promise<Widget>}
 */
function load(model) {
  const g = /** @type {Record<string, Promise<any>>} */ (/** @type {unknown} */ (globalThis));
  return (g[KEY] ??= fromServer()).then((w) => w || (g[`${KEY}k`] ??= fromKernel(model)));
}

export default {
  /**
   * Not awaited: front ends hold the model's messages until `initialize` returns, and the
   * code may have to come as one of them. The widget's own initialize runs once it is
   * loaded (before any view renders: they wait for the same load).
   * @param {{model: Model}} ctx
   */
  initialize(ctx) {
    const done = load(ctx.model).then((w) => w.initialize?.(ctx));
    return () => done.then((cleanup) => cleanup?.());
  },
  /** @param {{model: Model}} ctx */
  render: async (ctx) => (await load(ctx.model)).render(ctx),
};
