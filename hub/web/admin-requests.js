// Data-subject requests by conversation reference: what the hub holds, as a readable page and
// as JSON; restrict (kept, out of statistics and purges) or lift; erase after a confirmation.

import { requestExportUrl } from "./admin-api.js";
import { byId, confirmAction, duration, failure, fill, h, showError, when } from "./admin-dom.js";

/** @typedef {import("./admin-api.js").AdminApi} AdminApi */

export class RequestsPage {
  /**
   * @param {object} parts
   * @param {AdminApi} parts.api
   */
  constructor({ api }) {
    this.api = api;
    this.input = byId("request-ref", HTMLInputElement);
    this.error = byId("request-error", HTMLParagraphElement);
    this.done = byId("request-done", HTMLParagraphElement);
    this.doc = byId("request-doc", HTMLElement);
    /** @type {string | null} the reference shown */
    this.reference = null;
    byId("request-form", HTMLFormElement).addEventListener("submit", (event) => {
      event.preventDefault();
      this.done.hidden = true;
      this.show(this.input.value.trim());
    });
  }

  async load() {
    this.input.focus();
  }

  /** @param {string} reference as typed: the hub canonicalises it (case, O/0, I/1, dashes) */
  async show(reference) {
    if (reference === "") {
      showError(this.error, "Enter the reference from the customer's goodbye screen.");
      return;
    }
    try {
      const held = await this.api.requestDocument(reference);
      showError(this.error, "");
      this.reference = reference;
      this.render(held);
    } catch (exc) {
      this.clear();
      showError(this.error, failure(exc));
    }
  }

  clear() {
    this.reference = null;
    this.doc.hidden = true;
    fill(this.doc);
  }

  /** @param {Record<string, unknown>} held */
  render(held) {
    const reference = this.reference ?? "";
    const restricted = findKey(held, "restricted_at");
    const isRestricted =
      restricted !== undefined ? restricted !== null : findKey(held, "restricted") === true;
    const download = h(
      "a",
      { class: "button", id: "request-export", href: requestExportUrl(reference), download: true },
      "Download JSON",
    );
    const toggle = h(
      "button",
      { type: "button", class: "button", id: isRestricted ? "request-lift" : "request-restrict" },
      isRestricted ? "Lift restriction" : "Restrict",
    );
    toggle.addEventListener("click", () => this.act(isRestricted ? "lift" : "restrict"));
    const erase = h(
      "button",
      { type: "button", class: "button button-danger", id: "request-erase" },
      "Erase…",
    );
    erase.addEventListener("click", () => this.erase());
    fill(
      this.doc,
      h("h2", {}, `Conversation ${String(held.reference ?? reference)}`),
      isRestricted
        ? h("p", { class: "tag tag-warn" }, "Restricted: kept, out of statistics and purges.")
        : null,
      h("div", { class: "row-actions request-actions" }, download, toggle, erase),
      archivedLinks(held),
      value(held, ""),
    );
    this.doc.hidden = false;
  }

  /** @param {"restrict" | "lift"} action */
  async act(action) {
    if (this.reference === null) return;
    try {
      await this.api.requestAction(this.reference, action);
      this.done.textContent =
        action === "restrict"
          ? "Restricted: the conversation is kept, and left out of statistics and purges."
          : "Restriction lifted.";
      this.done.hidden = false;
      await this.show(this.reference);
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }

  async erase() {
    const reference = this.reference;
    if (reference === null) return;
    const ok = await confirmAction(
      `Erase everything the hub holds about conversation ${reference}? This cannot be undone; ` +
        "an audit entry without content remains.",
      "Erase",
    );
    if (!ok) return;
    try {
      await this.api.requestAction(reference, "erase");
      showError(this.error, "");
      this.clear();
      this.done.textContent =
        `Conversation ${reference} erased. The audit keeps that it was, without content.`;
      this.done.hidden = false;
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }
}

/**
 * Download links for the conversation's sealed items (docs/archive.md); null when none. The
 * files are CMS only the tenant's archive key opens (kiosk-archive open FILE --key KEY.pem).
 * @param {Record<string, unknown>} held
 * @returns {HTMLElement | null}
 */
function archivedLinks(held) {
  const items = Array.isArray(held.archived_content) ? held.archived_content : [];
  if (items.length === 0) return null;
  const links = items.map((item) => {
    const { id, kind, size } = /** @type {{id: string, kind: string, size: number}} */ (item);
    const href = `/api/archive/${encodeURIComponent(id)}`;
    const link = h("a", { class: "archive-download", href, download: true }, `Sealed ${kind}`);
    return h("li", {}, link, ` (${size} bytes)`);
  });
  return h(
    "section",
    { class: "request-archive", id: "request-archive" },
    h("h3", {}, "Archived items (sealed: open with the tenant's archive key)"),
    h("ul", {}, ...links),
  );
}

/**
 * The first value under `key` anywhere in a document (undefined: none).
 * @param {unknown} node
 * @param {string} key
 * @returns {unknown}
 */
function findKey(node, key) {
  if (node === null || typeof node !== "object") return undefined;
  if (!Array.isArray(node) && key in node) {
    return /** @type {Record<string, unknown>} */ (node)[key];
  }
  for (const child of Object.values(node)) {
    const found = findKey(child, key);
    if (found !== undefined) return found;
  }
  return undefined;
}

// The document's times: ISO 8601 in UTC, whole seconds.
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** @param {string} key */
const words = (key) => {
  const text = key.replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
};

/**
 * A document's value as readable elements: objects as term lists, lists as lists, times
 * (keys ending in _at) as dates, periods (_days, _s) with their unit. Text only, never markup.
 * @param {unknown} node
 * @param {string} key the key it is under ("" at the top)
 * @returns {Node}
 */
function value(node, key) {
  if (node === null || node === undefined) return document.createTextNode("—");
  if (Array.isArray(node)) {
    if (node.length === 0) return document.createTextNode("—");
    return h("ul", { class: "doc-items" }, ...node.map((item) => h("li", {}, value(item, ""))));
  }
  if (typeof node === "object") {
    const entries = Object.entries(node);
    return h(
      "dl",
      { class: "doc-list" },
      ...entries.flatMap(([k, v]) => [
        h("dt", {}, words(k)),
        h("dd", { "data-key": k }, value(v, k)),
      ]),
    );
  }
  if (typeof node === "boolean") return document.createTextNode(node ? "Yes" : "No");
  if (typeof node === "string" && ISO_UTC.test(node)) {
    return document.createTextNode(node.replace("T", " ").replace("Z", " UTC"));
  }
  if (typeof node === "number") {
    if (key.endsWith("_at")) return document.createTextNode(when(node));
    if (key.endsWith("_days")) return document.createTextNode(`${node} days`);
    if (key.endsWith("_s")) return document.createTextNode(duration(node));
  }
  return document.createTextNode(String(node));
}
