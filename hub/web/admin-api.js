// The administration API of the hub (/api/admin/*, docs/admin.md): one method per route.
// Mutations carry the session's CSRF token; errors are api.js's ApiError.

import { ApiError, HubApi } from "./api.js";

/** @typedef {import("./admin-types.js").Overview} Overview */
/** @typedef {import("./admin-types.js").Account} Account */
/** @typedef {import("./admin-types.js").DeviceRow} DeviceRow */
/** @typedef {import("./admin-types.js").WipeReport} WipeReport */
/** @typedef {import("./admin-types.js").EnrolCode} EnrolCode */
/** @typedef {import("./admin-types.js").RetentionAnswer} RetentionAnswer */
/** @typedef {import("./admin-types.js").Figures} Figures */
/** @typedef {import("./admin-types.js").AuditEntry} AuditEntry */
/** @typedef {import("./admin-types.js").AccessLine} AccessLine */
/** @typedef {import("./admin-types.js").PartiesAnswer} PartiesAnswer */

const BASE = "/api/admin";

/**
 * A path segment for a name or reference typed by a person.
 * @param {string} text
 */
const seg = (text) => encodeURIComponent(text);

/** The administration API, on top of the console's HubApi (session, CSRF, login). */
export class AdminApi extends HubApi {
  constructor() {
    super();
    /** @type {() => void} called when the hub says the session is gone (401) */
    this.onUnauthorized = () => {};
  }

  /**
   * One JSON request (HubApi's); a 401 also tells the page the session is gone. Throws ApiError.
   * @param {"GET" | "POST" | "PUT"} method
   * @param {string} path
   * @param {object} [json]
   * @returns {Promise<any>}
   */
  async call(method, path, json = undefined) {
    try {
      return await this.request(method, path, json);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 401) this.onUnauthorized();
      throw exc;
    }
  }

  /** @returns {Promise<Overview>} */
  overview() {
    return this.call("GET", `${BASE}/overview`);
  }

  /** @returns {Promise<Account[]>} */
  async accounts() {
    return (await this.call("GET", `${BASE}/accounts`)).accounts;
  }

  /**
   * @param {string} name
   * @param {string} password
   * @param {string} role
   */
  addAccount(name, password, role) {
    return this.call("POST", `${BASE}/accounts`, { name, password, role });
  }

  /**
   * @param {string} name
   * @param {boolean} disabled
   */
  setDisabled(name, disabled) {
    return this.call("POST", `${BASE}/accounts/${seg(name)}/${disabled ? "disable" : "enable"}`);
  }

  /**
   * @param {string} name
   * @param {string} password
   */
  resetPassword(name, password) {
    return this.call("POST", `${BASE}/accounts/${seg(name)}/password`, { password });
  }

  /** @returns {Promise<DeviceRow[]>} */
  async devices() {
    return (await this.call("GET", `${BASE}/devices`)).devices;
  }

  /**
   * @param {string} name
   * @param {string | null} branch
   */
  setBranch(name, branch) {
    return this.call("POST", `${BASE}/devices/${seg(name)}/branch`, { branch });
  }

  /** @param {string} name */
  revoke(name) {
    return this.call("POST", `${BASE}/devices/${seg(name)}/revoke`);
  }

  /**
   * @param {string} name
   * @returns {Promise<EnrolCode>}
   */
  enrolCode(name) {
    return this.call("POST", `${BASE}/devices/${seg(name)}/code`);
  }

  /**
   * @param {string} name
   * @returns {Promise<WipeReport[]>}
   */
  async wipes(name) {
    return (await this.call("GET", `${BASE}/devices/${seg(name)}/wipes`)).reports;
  }

  /** @returns {Promise<RetentionAnswer>} */
  retention() {
    return this.call("GET", `${BASE}/retention`);
  }

  /**
   * @param {Record<string, number>} changes
   * @returns {Promise<RetentionAnswer>}
   */
  setRetention(changes) {
    return this.call("PUT", `${BASE}/retention`, changes);
  }

  /**
   * @param {string} from YYYY-MM-DD or ""
   * @param {string} to YYYY-MM-DD or ""
   * @returns {Promise<Figures>}
   */
  stats(from, to) {
    return this.call("GET", `${BASE}/stats?${statsQuery(from, to)}`);
  }

  /**
   * @param {number | null} before
   * @returns {Promise<AuditEntry[]>}
   */
  async audit(before = null) {
    return (await this.call("GET", `${BASE}/audit?${pageQuery(before)}`)).entries;
  }

  /**
   * @param {number | null} before
   * @returns {Promise<AccessLine[]>}
   */
  async accessLog(before = null) {
    return (await this.call("GET", `${BASE}/access-log?${pageQuery(before)}`)).lines;
  }

  /**
   * What the hub holds about one conversation (subject_access.document).
   * @param {string} reference
   * @returns {Promise<Record<string, unknown>>}
   */
  requestDocument(reference) {
    return this.call("GET", `${BASE}/requests/${seg(reference)}`);
  }

  /**
   * @param {string} reference
   * @param {"erase" | "restrict" | "lift"} action
   */
  requestAction(reference, action) {
    return this.call("POST", `${BASE}/requests/${seg(reference)}/${action}`);
  }

  /** @returns {Promise<PartiesAnswer>} */
  parties() {
    return this.call("GET", `${BASE}/third-parties`);
  }

  /**
   * @param {{turn?: boolean, tsa_url?: string | null}} changes
   * @returns {Promise<PartiesAnswer>}
   */
  setParties(changes) {
    return this.call("PUT", `${BASE}/third-parties`, changes);
  }
}

/** Rows per page of the audit and the access log. */
export const PAGE_LIMIT = 100;

/** @param {number | null} before */
function pageQuery(before) {
  const query = new URLSearchParams({ limit: String(PAGE_LIMIT) });
  if (before !== null) query.set("before", String(before));
  return query.toString();
}

/**
 * The query of a statistics range; empty dates are left out (the hub's default: 30 days).
 * @param {string} from
 * @param {string} to
 */
export function statsQuery(from, to) {
  const query = new URLSearchParams();
  if (from !== "") query.set("from", from);
  if (to !== "") query.set("to", to);
  return query.toString();
}

/** Where the CSV of a statistics range downloads from (a link: the cookie goes with it). */
export const statsCsvUrl = (/** @type {string} */ from, /** @type {string} */ to) =>
  `${BASE}/stats.csv?${statsQuery(from, to)}`;

/** Where a request's JSON document downloads from. */
export const requestExportUrl = (/** @type {string} */ reference) =>
  `${BASE}/requests/${seg(reference)}/export`;
