// The audit (who changed what, when, old and new value) and the anonymised access log: both
// newest first, a page at a time ("older" asks for the entries before the last one shown).

import { PAGE_LIMIT } from "./admin-api.js";
import { byId, failure, fill, h, showError, table, when } from "./admin-dom.js";

/** @typedef {import("./admin-api.js").AdminApi} AdminApi */
/** @typedef {import("./admin-types.js").AuditEntry} AuditEntry */
/** @typedef {import("./admin-types.js").AccessLine} AccessLine */

/**
 * A table that grows by pages of rows with descending ids.
 * @template {{id: number}} T
 */
class PagedTable {
  /**
   * @param {object} parts
   * @param {(before: number | null) => Promise<T[]>} parts.fetch
   * @param {string[]} parts.heads
   * @param {(row: T) => (string | number | Node)[]} parts.cells
   * @param {string} parts.prefix the page's element ids: <prefix>-table, -more, -error
   * @param {string} parts.empty words for no rows at all
   */
  constructor({ fetch, heads, cells, prefix, empty }) {
    this.fetch = fetch;
    this.heads = heads;
    this.cells = cells;
    this.empty = empty;
    this.box = byId(`${prefix}-table`, HTMLDivElement);
    this.more = byId(`${prefix}-more`, HTMLButtonElement);
    this.error = byId(`${prefix}-error`, HTMLParagraphElement);
    /** @type {T[]} */
    this.rows = [];
    this.more.addEventListener("click", () => this.page(false));
  }

  async load() {
    await this.page(true);
  }

  /** @param {boolean} fresh from the newest again, or the next older page */
  async page(fresh) {
    const before = fresh || this.rows.length === 0 ? null : this.rows[this.rows.length - 1].id;
    try {
      const rows = await this.fetch(before);
      showError(this.error, "");
      this.rows = fresh ? rows : [...this.rows, ...rows];
      this.more.hidden = rows.length < PAGE_LIMIT;
      fill(
        this.box,
        this.rows.length === 0
          ? h("p", { class: "empty" }, this.empty)
          : table(this.heads, this.rows, this.cells),
      );
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }
}

/** @param {string | null} value */
const maybe = (value) => (value === null ? "—" : value);

export class AuditPage {
  /**
   * @param {object} parts
   * @param {AdminApi} parts.api
   */
  constructor({ api }) {
    /** @type {PagedTable<AuditEntry>} */
    this.table = new PagedTable({
      fetch: (before) => api.audit(before),
      heads: ["When", "Who", "Action", "Subject", "Old value", "New value"],
      cells: (e) => [
        when(e.at),
        e.actor,
        e.action,
        e.subject,
        maybe(e.old_value),
        maybe(e.new_value),
      ],
      prefix: "audit",
      empty: "No audit entries yet.",
    });
  }

  load() {
    return this.table.load();
  }
}

export class AccessLogPage {
  /**
   * @param {object} parts
   * @param {AdminApi} parts.api
   */
  constructor({ api }) {
    /** @type {PagedTable<AccessLine>} */
    this.table = new PagedTable({
      fetch: (before) => api.accessLog(before),
      heads: ["When", "Client (masked)", "Method", "Path", "Status", "Bytes", "Time"],
      cells: (l) => [
        when(l.at),
        l.client,
        l.method,
        l.path,
        l.status,
        l.bytes,
        `${l.duration_ms} ms`,
      ],
      prefix: "access",
      empty: "No access-log lines.",
    });
  }

  load() {
    return this.table.load();
  }
}
