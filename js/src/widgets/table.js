// LiveTable: rows keyed by id, updated in place.
//
// Channel: state `row:<id>` → {column: value, …} sets or replaces a row; unset removes it;
// state `columns` (a list of names) fixes the columns and their order, otherwise columns
// appear in the order they are first seen. Changes are applied once per animation frame
// and touch only the cells whose text changed (they flash briefly). Numbers are right-
// aligned. At most `max_rows` rows are in the DOM (insertion order); the rest are counted.
//
// Clicking a header sorts by that column (ascending, descending, off). Each header holds a
// button, so sorting works from the keyboard too (Tab to it, Enter or Space), and the
// sorted column carries aria-sort; the focused header keeps its focus when the header row
// is redrawn.
//
// Config: max_rows (default 1000), height (CSS px, default 400), title, index (show the
// row id column, default true), index_label (its header, default ""), sort_by (a column to
// sort by initially), sort_desc.

import { ViewFrame, formatValue, frameScheduler, h, injectStyle } from "./base.js";
import tableCss from "./table.css";

const ROW = "row:";
/** Changed cells flash only when at most this many rows changed in a frame. */
const FLASH_MAX_ROWS = 50;

/**
 * @typedef {object} RowView
 * @property {HTMLTableRowElement} tr
 * @property {HTMLTableCellElement} idCell
 * @property {Map<string, HTMLTableCellElement>} cells
 */

/**
 * Order of two cell values: numbers numerically, then text (natural order), empty last
 * whatever the direction.
 * @param {unknown} a
 * @param {unknown} b
 * @param {boolean} desc
 */
function compareCells(a, b, desc) {
  const ea = a == null || a === "";
  const eb = b == null || b === "";
  if (ea || eb) return ea === eb ? 0 : ea ? 1 : -1;
  const na = typeof a === "number" || typeof a === "bigint";
  const nb = typeof b === "number" || typeof b === "bigint";
  let c;
  if (na && nb) c = a < b ? -1 : a > b ? 1 : 0;
  else if (na !== nb) c = na ? -1 : 1;
  else c = String(typeof a === "object" ? JSON.stringify(a) : a).localeCompare(String(typeof b === "object" ? JSON.stringify(b) : b), undefined, { numeric: true });
  return desc ? -c : c;
}

/**
 * A header button's key: "" for the row-id column, "c:<name>" for a column.
 * @param {string | null} col
 */
const sortKey = (col) => (col === null ? "" : `c:${col}`);

/** @type {import("./base.js").RenderView} */
export function render(ctx) {
  injectStyle("table", tableCss);
  const { config, signal } = ctx;
  const maxRows = Number.isInteger(config.max_rows) && config.max_rows > 0 ? config.max_rows : 1000;
  const height = typeof config.height === "number" && config.height > 0 ? config.height : 400;
  const showIndex = config.index !== false;
  const frame = new ViewFrame(ctx, "table", { title: config.title });
  const root = frame.root;

  const scroller = h("div", { class: "nbc-table-scroll" });
  scroller.style.maxHeight = `${height}px`;
  const table = h("table", { class: "nbc-table-grid" });
  const thead = h("thead");
  const headRow = h("tr");
  const tbody = h("tbody");
  thead.append(headRow);
  table.append(thead, tbody);
  scroller.append(table);
  const more = h("div", { class: "nbc-table-more" });
  const empty = h("div", { class: "nbc-empty" }, "no rows yet");
  frame.body.append(scroller, more, empty);

  /** rows in insertion order */
  /** @type {Map<string, Record<string, unknown>>} */
  const rows = new Map();
  /** DOM of the displayed rows */
  /** @type {Map<string, RowView>} */
  const views = new Map();
  /** @type {string[] | null} columns fixed by the kernel */
  let fixedColumns = null;
  /** @type {string[]} */
  let columns = [];
  /** @type {Set<string>} */
  const seen = new Set();
  /** columns whose values are numbers (their header is right-aligned like the cells) */
  /** @type {Set<string>} */
  const numeric = new Set();
  /** rows whose values changed since the last frame */
  /** @type {Set<string>} */
  const changed = new Set();
  let structure = true;
  let headerStale = true;
  /** @type {{col: string | null, desc: boolean} | null} sorting by a column (null col: the row id) */
  let sort = typeof config.sort_by === "string" && config.sort_by ? { col: config.sort_by, desc: !!config.sort_desc } : null;

  root.dataset.rows = "0";

  const columnsChanged = () => {
    const next = fixedColumns ?? [...seen];
    if (next.length === columns.length && next.every((c, i) => c === columns[i])) return false;
    columns = next;
    return true;
  };

  /**
   * A sortable header cell: a button inside the th; `col` null is the row-id column.
   * @param {string | null} col
   * @param {string} text
   * @param {string} cls
   */
  const headerCell = (col, text, cls) => {
    const active = sort !== null && sort.col === col;
    const name = col === null ? text || "row id" : text;
    const title = !active
      ? `Sort by ${name}`
      : sort?.desc
        ? `Sorted by ${name}, descending; press to stop sorting`
        : `Sorted by ${name}, ascending; press for descending`;
    const button = h(
      "button",
      { type: "button", class: "nbc-sort-button", title },
      // The id column may have no label: screen readers still get one.
      text || h("span", { class: "nbc-sr-only" }, name),
      active ? h("span", { class: "nbc-sort", "aria-hidden": "true" }, sort?.desc ? " ▼" : " ▲") : null,
    );
    button.dataset.sortKey = sortKey(col);
    button.addEventListener(
      "click",
      () => {
        // none → ascending → descending → none
        sort = !active ? { col, desc: false } : sort?.desc ? null : { col, desc: true };
        headerStale = true;
        structure = true;
        request();
      },
      { signal },
    );
    return h("th", { scope: "col", class: cls || null, "aria-sort": active ? (sort?.desc ? "descending" : "ascending") : null }, button);
  };

  const renderHeader = () => {
    // Rebuilding the row would drop the keyboard focus from the header button just pressed.
    const focused = headRow.contains(document.activeElement) ? /** @type {HTMLElement} */ (document.activeElement).dataset.sortKey : undefined;
    headRow.replaceChildren();
    if (showIndex) headRow.append(headerCell(null, config.index_label == null ? "" : String(config.index_label), "nbc-table-index"));
    for (const c of columns) headRow.append(headerCell(c, c, numeric.has(c) ? "nbc-num" : ""));
    if (focused !== undefined) {
      for (const b of headRow.querySelectorAll("button")) {
        if (b.dataset.sortKey === focused) {
          b.focus({ preventScroll: true });
          break;
        }
      }
    }
  };

  /** Row ids in display order: insertion order, or sorted by the chosen column. */
  const orderedIds = () => {
    if (!sort) return rows.keys();
    const { col, desc } = sort;
    const ids = [...rows.keys()];
    /** @param {string} id */
    const key = (id) => (col === null ? id : rows.get(id)?.[col]);
    // Array.prototype.sort is stable: ties keep insertion order.
    return ids.sort((a, b) => compareCells(key(a), key(b), desc));
  };

  /**
   * Update one cell if its text changed; returns whether it did.
   * @param {HTMLTableCellElement} td
   * @param {unknown} value
   * @param {boolean} flash
   */
  const setCell = (td, value, flash) => {
    const text = formatValue(value);
    const node = /** @type {Text | null} */ (td.firstChild);
    if (node) {
      if (node.data === text) return false;
      node.data = text; // reuse the text node: no new DOM, only the text changes
    } else td.append(text);
    const isNum = typeof value === "number" || typeof value === "bigint";
    if (td.classList.contains("nbc-num") !== isNum) td.classList.toggle("nbc-num", isNum);
    const title = text.length > 40 ? text : "";
    if (td.title !== title) td.title = title;
    if (flash) {
      // Alternate between two identical animations: changing the animation name restarts
      // it without forcing a layout.
      const a = td.classList.contains("nbc-changed-a");
      td.classList.toggle("nbc-changed-a", !a);
      td.classList.toggle("nbc-changed-b", a);
    }
    return true;
  };

  /** @param {string} id */
  const makeRow = (id) => {
    const tr = h("tr");
    tr.dataset.id = id;
    const idCell = h("th", { class: "nbc-table-index", scope: "row" }, id);
    if (showIndex) tr.append(idCell);
    /** @type {Map<string, HTMLTableCellElement>} */
    const cells = new Map();
    for (const c of columns) {
      const td = h("td");
      cells.set(c, td);
      tr.append(td);
    }
    const view = { tr, idCell, cells };
    views.set(id, view);
    return view;
  };

  /**
   * @param {string} id
   * @param {RowView} view
   * @param {boolean} flash
   */
  const fillRow = (id, view, flash) => {
    const row = rows.get(id) ?? {};
    for (const [c, td] of view.cells) setCell(td, row[c], flash);
  };

  const draw = () => {
    // A changed value may move a row when the table is sorted.
    if (sort && changed.size) structure = true;
    const newColumns = columnsChanged();
    if (newColumns || headerStale) {
      headerStale = false;
      renderHeader();
    }
    if (newColumns) {
      // Rare (a new key, or `columns` set): rebuild every displayed row's cells.
      for (const view of views.values()) view.tr.remove();
      views.clear();
      structure = true;
    }
    if (structure) {
      structure = false;
      let i = 0;
      /** @type {ChildNode | null} */
      let cursor = tbody.firstChild;
      for (const id of orderedIds()) {
        if (i++ >= maxRows) break;
        let view = views.get(id);
        const fresh = !view;
        if (!view) view = makeRow(id);
        if (fresh) fillRow(id, view, false);
        if (cursor === view.tr) cursor = view.tr.nextSibling;
        else tbody.insertBefore(view.tr, cursor);
      }
      // Whatever follows the cursor is no longer displayed.
      while (cursor) {
        const next = cursor.nextSibling;
        const id = /** @type {HTMLElement} */ (cursor).dataset?.id;
        if (id !== undefined) views.delete(id);
        cursor.remove();
        cursor = next;
      }
      for (const id of [...views.keys()]) if (!rows.has(id)) views.delete(id);
      const hidden = rows.size - Math.min(rows.size, maxRows);
      more.textContent = hidden ? `… ${hidden.toLocaleString("en-US")} more row${hidden === 1 ? "" : "s"} not shown (max_rows=${maxRows})` : "";
      more.hidden = !hidden;
      empty.hidden = rows.size > 0 || columns.length > 0;
      table.hidden = rows.size === 0 && columns.length === 0;
      root.dataset.rows = String(rows.size);
      root.dataset.shown = String(Math.min(rows.size, maxRows));
      root.dataset.columns = JSON.stringify(columns);
    }
    // Flash changed cells, unless so many change at once that it would only be noise (and
    // cost a style recalculation per cell).
    const flash = changed.size <= FLASH_MAX_ROWS;
    for (const id of changed) {
      const view = views.get(id);
      if (view) fillRow(id, view, flash);
    }
    changed.clear();
  };
  const request = frameScheduler(draw, signal);

  /**
   * @param {string} id
   * @param {unknown} value
   */
  const setRow = (id, value) => {
    const row =
      value != null && typeof value === "object" && !Array.isArray(value) && !ArrayBuffer.isView(value)
        ? /** @type {Record<string, unknown>} */ (value)
        : { value };
    if (!rows.has(id)) structure = true;
    rows.set(id, row);
    for (const [k, v] of Object.entries(row)) {
      seen.add(k);
      if ((typeof v === "number" || typeof v === "bigint") && !numeric.has(k)) {
        numeric.add(k);
        headerStale = true;
      }
    }
    changed.add(id);
    request();
  };

  /** @param {string} id */
  const removeRow = (id) => {
    if (!rows.delete(id)) return;
    changed.delete(id);
    structure = true;
    request();
  };

  const clear = () => {
    rows.clear();
    changed.clear();
    seen.clear();
    numeric.clear();
    headerStale = true;
    fixedColumns = null;
    structure = true;
    request();
  };

  frame.subscribe({
    onReset() {
      frame.resetGaps();
      clear();
    },
    onState(key, value) {
      if (key.startsWith(ROW)) setRow(key.slice(ROW.length), value);
      else if (key === "columns") {
        fixedColumns = Array.isArray(value) ? value.map(String) : null;
        request();
      }
    },
    onUnset(key) {
      if (key.startsWith(ROW)) removeRow(key.slice(ROW.length));
      else if (key === "columns") {
        fixedColumns = null;
        request();
      }
    },
  });

  request();
  return () => {
    rows.clear();
    views.clear();
  };
}
