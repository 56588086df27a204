// The administration pages (docs/admin.md): who is signed in, the navigation between pages,
// sign out. Each page is its own module; this file only wires them. Advisers sign in on "/";
// an administrator or data-protection officer is sent here by app.js.

import { AdminApi } from "./admin-api.js";
import { AccountsPage } from "./admin-accounts.js";
import { AccessLogPage, AuditPage } from "./admin-audit.js";
import { DevicesPage } from "./admin-devices.js";
import { byId, failure } from "./admin-dom.js";
import { OverviewPage } from "./admin-overview.js";
import { PartiesPage } from "./admin-parties.js";
import { RequestsPage } from "./admin-requests.js";
import { RetentionPage } from "./admin-retention.js";
import { StatisticsPage } from "./admin-stats.js";

/** @typedef {import("./admin-types.js").Role} Role */
/** @typedef {{load: () => Promise<void>}} Page */

const ROLE_WORDS = { adviser: "Adviser", admin: "Administrator", dpo: "Data-protection officer" };
const FIRST_PAGE = "overview";

class Administration {
  constructor() {
    this.api = new AdminApi();
    this.api.onUnauthorized = () => this.signedOut();
    /** @type {Map<string, Page>} */
    this.pages = new Map();
    /** @type {string | null} */
    this.current = null;
    byId("btn-logout", HTMLButtonElement).addEventListener("click", () => this.logout());
    window.addEventListener("hashchange", () => this.route());
  }

  async boot() {
    const boot = byId("boot-view", HTMLParagraphElement);
    let session;
    try {
      session = await this.api.session();
    } catch (exc) {
      boot.textContent = failure(exc);
      return;
    }
    if (session === null) {
      this.signedOut();
      return;
    }
    boot.hidden = true;
    const role = /** @type {Role} */ (session.role ?? "adviser");
    if (role !== "admin" && role !== "dpo") {
      byId("not-admin-view", HTMLElement).hidden = false;
      return;
    }
    this.start(session.adviser, session.tenant, role);
  }

  /**
   * @param {string} name
   * @param {string} tenant
   * @param {"admin" | "dpo"} role
   */
  start(name, tenant, role) {
    byId("admin-name", HTMLSpanElement).textContent = name;
    byId("admin-tenant", HTMLSpanElement).textContent = tenant;
    byId("admin-role", HTMLSpanElement).textContent = ROLE_WORDS[role];
    byId("session-bar", HTMLDivElement).hidden = false;
    document.body.dataset.role = role;
    // A dpo reads but does not change accounts, devices, retention or third parties: their
    // controls are not even drawn (the hub refuses them anyway).
    const canChange = role === "admin";
    for (const node of document.querySelectorAll(".admin-only")) {
      if (node instanceof HTMLElement) node.hidden = !canChange;
    }
    const api = this.api;
    const parts = { api, canChange };
    this.pages.set("overview", new OverviewPage({ api, role, name, tenant }));
    this.pages.set("accounts", new AccountsPage(parts));
    this.pages.set("devices", new DevicesPage(parts));
    this.pages.set("retention", new RetentionPage(parts));
    this.pages.set("statistics", new StatisticsPage({ api }));
    this.pages.set("audit", new AuditPage({ api }));
    this.pages.set("access-log", new AccessLogPage({ api }));
    this.pages.set("requests", new RequestsPage({ api }));
    this.pages.set("third-parties", new PartiesPage(parts));
    byId("admin-view", HTMLDivElement).hidden = false;
    this.route();
  }

  /** Show the page the address names (#devices...), loading its data afresh. */
  route() {
    if (this.pages.size === 0) return;
    const wanted = location.hash.replace(/^#/, "");
    const name = this.pages.has(wanted) ? wanted : FIRST_PAGE;
    for (const key of this.pages.keys()) {
      byId(`page-${key}`, HTMLElement).hidden = key !== name;
    }
    for (const link of document.querySelectorAll(".admin-nav a")) {
      if (!(link instanceof HTMLAnchorElement)) continue;
      if (link.dataset.page === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    this.current = name;
    const page = this.pages.get(name);
    const status = byId("admin-status", HTMLSpanElement);
    status.textContent = "Loading…";
    page
      ?.load()
      .then(() => {
        if (this.current === name) status.textContent = "";
      })
      .catch((/** @type {unknown} */ exc) => {
        status.textContent = failure(exc);
      });
  }

  async logout() {
    try {
      await this.api.logout();
    } catch {
      // Signed out here either way; the hub expires the session on its own.
    }
    this.signedOut();
  }

  /** No session (never had one, signed out, or expired): the sign-in page is the console's. */
  signedOut() {
    location.assign("/");
  }
}

new Administration().boot();
