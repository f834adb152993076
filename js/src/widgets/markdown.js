// A small, safe Markdown subset for LiveText: headings, paragraphs, emphasis (bold,
// italics, strikethrough), inline code and fenced code blocks, links (http/https only, also
// bare URLs), ordered and unordered lists (nested by indentation), block quotes and rules.
//
// Safety by construction: the output is built with createElement and text nodes, so no
// input is ever parsed as HTML (a "<script>" in the source stays visible text), and a
// link's href is set only when it parses as an absolute http(s) URL.

/**
 * Render Markdown source into a fragment.
 * @param {string} src
 * @returns {DocumentFragment}
 */
export function renderMarkdown(src) {
  const frag = document.createDocumentFragment();
  blocks(String(src).replace(/\r\n?/g, "\n").replace(/\t/g, "    ").split("\n"), frag);
  return frag;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)\s*$/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])\s+(.*)$/;

/**
 * @param {string} line
 */
const isBlank = (line) => line.trim() === "";

/**
 * @param {string} line
 */
const indentOf = (line) => line.length - line.trimStart().length;

/**
 * Whether `line` starts a block other than a paragraph (ends a paragraph).
 * @param {string} line
 */
const startsBlock = (line) => FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);

/**
 * @param {string[]} lines
 * @param {Node} parent
 */
function blocks(lines, parent) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      i += 1;
      continue;
    }
    let m;
    if ((m = line.match(FENCE))) {
      const fence = m[1];
      const body = [];
      i += 1;
      while (i < lines.length && !(lines[i].trim().startsWith(fence[0].repeat(fence.length)) && lines[i].trim().replace(/[`~]/g, "") === "")) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence (or the end)
      const code = el("code", body.join("\n"));
      if (m[2]) code.className = `language-${m[2]}`;
      parent.appendChild(el("pre")).appendChild(code);
      continue;
    }
    if ((m = line.match(HEADING))) {
      inline(m[2] ?? "", parent.appendChild(el(/** @type {"h1"} */ (`h${m[1].length}`))));
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      parent.appendChild(el("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && !isBlank(lines[i])) {
        const q = lines[i].match(QUOTE);
        body.push(q ? q[1] : lines[i]);
        i += 1;
      }
      blocks(body, parent.appendChild(el("blockquote")));
      continue;
    }
    if ((m = line.match(ITEM))) {
      i = list(lines, i, parent);
      continue;
    }
    const para = [];
    while (i < lines.length && !isBlank(lines[i]) && (para.length === 0 || !startsBlock(lines[i]))) {
      para.push(lines[i].trimStart()); // trailing "  " is a hard line break
      i += 1;
    }
    inline(para.join("\n").trimEnd(), parent.appendChild(el("p")));
  }
}

/**
 * A list starting at lines[start]; returns the index after it.
 * @param {string[]} lines
 * @param {number} start
 * @param {Node} parent
 */
function list(lines, start, parent) {
  const first = /** @type {RegExpMatchArray} */ (lines[start].match(ITEM));
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const listEl = el(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) listEl.setAttribute("start", String(parseInt(first[2], 10)));
  parent.appendChild(listEl);
  let i = start;
  let loose = false;
  /** @type {string[][]} */
  const items = [];
  while (i < lines.length) {
    const m = lines[i].match(ITEM);
    if (m && m[1].length === indent && /\d/.test(m[2]) === ordered) {
      const contentIndent = m[1].length + m[2].length + 1;
      const body = [m[3]];
      i += 1;
      // Continuation: indented lines (nested lists, more paragraphs) and lazy lines.
      while (i < lines.length) {
        const l = lines[i];
        if (isBlank(l)) {
          const next = lines.slice(i + 1).find((x) => !isBlank(x));
          if (next !== undefined && indentOf(next) > indent) {
            body.push("");
            loose = true;
            i += 1;
            continue;
          }
          break;
        }
        if (indentOf(l) > indent) body.push(l.slice(Math.min(indentOf(l), contentIndent)));
        else if (!startsBlock(l) && body[body.length - 1] !== "") body.push(l.trim());
        else break;
        i += 1;
      }
      items.push(body);
      continue;
    }
    if (isBlank(lines[i])) {
      const next = lines.slice(i + 1).find((x) => !isBlank(x));
      const nm = next?.match(ITEM);
      if (nm && nm[1].length === indent && /\d/.test(nm[2]) === ordered) {
        loose = true;
        i += 1;
        continue;
      }
    }
    break;
  }
  for (const body of items) {
    const li = listEl.appendChild(el("li"));
    if (loose) {
      blocks(body, li);
      continue;
    }
    // A tight item: its text inline, then any nested blocks (usually a sub-list).
    let k = 1;
    while (k < body.length && !startsBlock(body[k])) k += 1;
    inline(body.slice(0, k).join("\n"), li);
    if (k < body.length) blocks(body.slice(k), li);
  }
  return i;
}

/**
 * Parse inline markup of `text` into `parent`.
 * @param {string} text
 * @param {Node} parent
 */
function inline(text, parent) {
  let buf = "";
  const flush = () => {
    if (buf) parent.appendChild(document.createTextNode(buf));
    buf = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const rest = text.slice(i);
    if (c === "\\" && i + 1 < text.length && /[\\`*_[\]()#+\-.!~>{}|]/.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "\n") {
      // Two trailing spaces make a hard break; a plain newline is a space.
      if (buf.endsWith("  ")) {
        buf = buf.trimEnd();
        flush();
        parent.appendChild(el("br"));
      } else buf += " ";
      i += 1;
      continue;
    }
    if (c === "`") {
      const run = /** @type {RegExpMatchArray} */ (rest.match(/^`+/))[0];
      const end = text.indexOf(run, i + run.length);
      if (end > 0) {
        flush();
        let code = text.slice(i + run.length, end);
        if (/^ .* $/.test(code)) code = code.slice(1, -1);
        parent.appendChild(el("code", code));
        i = end + run.length;
        continue;
      }
      buf += run;
      i += run.length;
      continue;
    }
    if ((c === "*" || c === "_") && text.startsWith(c + c + c, i)) {
      const end = closing(text, c + c + c, i + 3);
      if (end > i + 3 && !/\s/.test(text[i + 3])) {
        flush();
        const strong = parent.appendChild(el("strong"));
        inline(text.slice(i + 3, end), strong.appendChild(el("em")));
        i = end + 3;
        continue;
      }
    }
    if ((c === "*" || c === "_" || c === "~") && text[i + 1] === c) {
      const end = closing(text, c + c, i + 2);
      if (end > i + 2 && !/\s/.test(text[i + 2])) {
        flush();
        inline(text.slice(i + 2, end), parent.appendChild(el(c === "~" ? "del" : "strong")));
        i = end + 2;
        continue;
      }
    } else if ((c === "*" || c === "_") && !(c === "_" && /\w/.test(text[i - 1] ?? ""))) {
      const end = closing(text, c, i + 1);
      if (end > i + 1 && !/\s/.test(text[i + 1])) {
        flush();
        inline(text.slice(i + 1, end), parent.appendChild(el("em")));
        i = end + 1;
        continue;
      }
    }
    if (c === "[") {
      const m = rest.match(/^\[((?:[^\]\\]|\\.)*)\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+"[^"]*")?\s*\)/);
      if (m) {
        flush();
        const href = safeUrl(m[2]);
        const target = href ? link(href) : el("span");
        inline(m[1], parent.appendChild(target));
        i += m[0].length;
        continue;
      }
    }
    if ((c === "h" || c === "<") && /^<?https?:\/\//.test(rest) && !/\w/.test(text[i - 1] ?? "")) {
      const m = rest.match(/^<(https?:\/\/[^\s>]+)>|^https?:\/\/[^\s<]*[^\s<.,;:!?)\]'"*_]/);
      const url = m && (m[1] ?? m[0]);
      const href = url ? safeUrl(url) : null;
      if (m && href) {
        flush();
        parent.appendChild(link(href)).appendChild(document.createTextNode(url ?? ""));
        i += m[0].length;
        continue;
      }
    }
    buf += c;
    i += 1;
  }
  flush();
}

/**
 * Index of the closing delimiter `d` at or after `from`, not preceded by whitespace (for a
 * single `*`/`_`, skipping doubled ones that open nested bold), or -1.
 * @param {string} text
 * @param {string} d
 * @param {number} from
 */
function closing(text, d, from) {
  let j = from;
  while ((j = text.indexOf(d, j)) !== -1) {
    if (text[j - 1] === "\\") {
      j += 1;
      continue;
    }
    if (d.length === 1 && (text[j + 1] === d || text[j - 1] === d)) {
      j += 2;
      continue;
    }
    if (!/\s/.test(text[j - 1] ?? " ") && !(d === "_" && /\w/.test(text[j + 1] ?? ""))) return j;
    j += d.length;
  }
  return -1;
}

/**
 * The URL if it is an absolute http(s) URL, else null (no javascript:, data:, relative…).
 * @param {string} url
 * @returns {string | null}
 */
export function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

/**
 * @param {string} href a safe URL
 */
function link(href) {
  const a = el("a");
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, text) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  return e;
}
