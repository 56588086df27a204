// Small DOM helpers of the administration pages: elements from data (textContent only, never
// HTML from the hub), times and durations in words, confirmation and error lines.

import { ApiError } from "./api.js";

/** @typedef {Node | string | number | null | undefined | false} Child */

/**
 * An element with attributes and children; strings become text nodes (never markup).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | boolean | undefined>} [attrs] false/undefined: left out
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : value);
  }
  append(node, children);
  return node;
}

/**
 * @param {Element} parent
 * @param {Child[]} children
 */
export function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(typeof child === "number" ? String(child) : child);
  }
}

/**
 * Replace an element's children.
 * @param {Element} parent
 * @param {...Child} children
 */
export function fill(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

/**
 * An element of the page by id (the page is ours: a missing one is a bug).
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
export function byId(id, type) {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`admin.html has no ${type.name} #${id}`);
  return node;
}

/**
 * A moment as the administrator reads it (their browser's time zone), or "—".
 * @param {number | null | undefined} at seconds since the epoch
 */
export function when(at) {
  if (at === null || at === undefined) return "—";
  const d = new Date(at * 1000);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}`
  );
}

/**
 * A duration in seconds as "1 h 02 min", "3 min 05 s" or "42 s"; null: "—".
 * @param {number | null | undefined} seconds
 */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${s} s`;
}

/**
 * Why an action failed, in plain words (the hub's message when it sent one).
 * @param {unknown} exc
 */
export function failure(exc) {
  if (!(exc instanceof ApiError)) return "Something went wrong. Please try again.";
  if (exc.status === 0) return "The hub cannot be reached. Check the network and try again.";
  if (exc.status === 403 && exc.code === "forbidden") return "Your role may not do that.";
  if (exc.status === 429) {
    return exc.retryAfterS === null
      ? "Too many requests; try again in a moment."
      : `Too many requests; try again in ${exc.retryAfterS} s.`;
  }
  return exc.message;
}

/**
 * Show `text` in an error line (hidden when empty).
 * @param {HTMLElement} line
 * @param {string} text
 */
export function showError(line, text) {
  line.textContent = text;
  line.hidden = text === "";
}

/**
 * Ask before something that cannot be undone, in the page's own dialog (not window.confirm:
 * it blocks the page and cannot be styled). Resolves true when confirmed.
 * @param {string} question
 * @param {string} action the confirm button's words
 * @returns {Promise<boolean>}
 */
export function confirmAction(question, action) {
  const dialog = byId("confirm-dialog", HTMLDialogElement);
  byId("confirm-text", HTMLParagraphElement).textContent = question;
  byId("confirm-ok", HTMLButtonElement).textContent = action;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

/**
 * A table of rows with a header; `cells` builds one row's cells.
 * @template T
 * @param {string[]} heads
 * @param {T[]} rows
 * @param {(row: T) => (Child | HTMLTableCellElement)[]} cells
 * @param {(row: T) => Record<string, string | boolean | undefined>} [rowAttrs]
 */
export function table(heads, rows, cells, rowAttrs = () => ({})) {
  const head = h("tr", {}, ...heads.map((text) => h("th", { scope: "col" }, text)));
  /** @param {Child | HTMLTableCellElement} cell */
  const td = (cell) => (cell instanceof HTMLTableCellElement ? cell : h("td", {}, cell));
  const body = rows.map((row) => h("tr", rowAttrs(row), ...cells(row).map(td)));
  return h("table", { class: "admin-table" }, h("thead", {}, head), h("tbody", {}, ...body));
}
