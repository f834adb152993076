// Markdown for LiveText, rendered by markdown-it (CommonMark plus tables and strikethrough;
// bundled into the widget bundle at build time). Its parser does a bounded amount of work
// per character (with the settings below), so text a kernel streams in cannot stall the page
// however it is written: js/test/markdown.test.js times pathological input.
//
// markdown-it 14.x rather than 15.x: 15's build compiles class fields into a helper call per
// field of every token, which makes emphasis-heavy text about twice as slow in V8.
//
// Safety: the output is inserted into the page as HTML, so
// - raw HTML in the source is never passed through (`html: false`): "<script>" or
//   "<img onerror=…>" come out escaped, as visible text;
// - a link or image is kept only when its URL is http(s), mailto or relative (`isSafeUrl`);
//   any other (javascript:, data:, vbscript:, file:, …) stays plain text;
// - links open in a new tab with rel="noopener noreferrer".
// Bare URLs are not turned into links (linkify is off: it costs more than the rest of the
// parser on URL-heavy text); "<https://…>" autolinks and [text](url) links are.

import MarkdownIt from "markdown-it";

/** URL schemes a rendered link or image may use; anything without a scheme is relative. */
const SAFE_SCHEMES = new Set(["http", "https", "mailto"]);

/**
 * Whether a link or image URL is allowed: http(s), mailto, or relative (no scheme).
 *
 * Browsers drop ASCII control characters and spaces around a URL and tabs and newlines
 * inside it before reading its scheme, so they are dropped here too before the check
 * ("java\tscript:" is a javascript: URL to a browser).
 * @param {string} url
 * @returns {boolean}
 */
export function isSafeUrl(url) {
  const cleaned = String(url).replace(/[\u0000-\u0020\u007f]/g, "");
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(cleaned);
  return m === null || SAFE_SCHEMES.has(m[1].toLowerCase());
}

const options = {
  html: false,
  linkify: false,
  typographer: false,
  breaks: false,
  langPrefix: "language-",
  // As in markdown-it's CommonMark preset (the default preset allows 100). The link and
  // image rules rescan nested "[" up to this depth, so it bounds their cost per character.
  maxNesting: 20,
};
/** The configured markdown-it instance (exported for tests). */
export const md = new MarkdownIt("default", options);
md.validateLink = isSafeUrl;

/** Where the last "]" and ")" of an inline block's source are (-1: none). */
/** @type {WeakMap<object, {bracket: number, paren: number}>} */
const lastClosers = new WeakMap();

/**
 * Before the link and image rules: take a "[" (or the "!" of "![") as text at once when no
 * link or image can start there, instead of letting the link rule scan (and rescan, for
 * every "[" of a long run) the rest of the block to find that out. None can when no "]"
 * follows, or when no ")" follows and the text defines no references ("[a][ref]" and
 * "[ref]" need a definition; an inline "[a](url)" ends with ")").
 * @param {import("markdown-it").StateInline} state
 * @param {boolean} silent
 */
function unclosedBracket(state, silent) {
  const { src, pos } = state;
  const c = src.charCodeAt(pos);
  const open = c === 0x5b /* [ */ ? pos : c === 0x21 /* ! */ && src.charCodeAt(pos + 1) === 0x5b ? pos + 1 : -1;
  if (open < 0) return false;
  let last = lastClosers.get(state);
  if (last === undefined) {
    last = { bracket: src.lastIndexOf("]"), paren: src.lastIndexOf(")") };
    lastClosers.set(state, last);
  }
  const canClose = last.bracket > open && (last.paren > open || state.env.references !== undefined);
  if (canClose) return false;
  if (!silent) state.pending += src[pos];
  state.pos += 1;
  return true;
}
md.inline.ruler.before("link", "nbc_unclosed_bracket", unclosedBracket);

/**
 * A link or image whose URL fails `isSafeUrl` is not parsed as one (it stays text); one
 * with an empty destination ("[x]()") comes with an empty href or src, which would point
 * back at the notebook page: turn such links into spans and such images into their alt
 * text.
 * @param {import("markdown-it").StateCore} state
 */
function dropRefusedLinks(state) {
  for (const block of state.tokens) {
    if (block.type !== "inline" || !block.children) continue;
    /** @type {import("markdown-it").Token | null} */
    let refusedOpen = null;
    for (const t of block.children) {
      if (t.type === "link_open" && !t.attrGet("href")) {
        t.tag = "span";
        t.attrs = null;
        refusedOpen = t;
      } else if (t.type === "link_close" && refusedOpen) {
        // Links do not nest in Markdown: this closes the refused one.
        t.tag = "span";
        refusedOpen = null;
      } else if (t.type === "image" && !t.attrGet("src")) {
        t.content = md.renderer.renderInlineAsText(t.children ?? [], md.options, state.env);
        t.type = "text";
        t.tag = "";
        t.attrs = null;
        t.children = null;
      }
    }
  }
}
md.core.ruler.push("nbc_drop_refused_links", dropRefusedLinks);

/** @type {import("markdown-it").RendererRule} */
const linkOpen = (tokens, idx, options, _env, self) => {
  const t = tokens[idx];
  if (t.tag === "a") {
    t.attrSet("target", "_blank");
    t.attrSet("rel", "noopener noreferrer");
  }
  return self.renderToken(tokens, idx, options);
};
md.renderer.rules.link_open = linkOpen;

/**
 * Render Markdown source to an HTML string that is safe to assign to innerHTML.
 * @param {string} src
 * @returns {string}
 */
export function renderMarkdown(src) {
  return md.render(String(src));
}
