// The hub's JSON API (docs/signalling.md, "HTTP API of the hub"): CSRF token, login, session,
// logout. Cookies are HttpOnly, so the only secrets this module holds are CSRF tokens.

/** @typedef {import("./types.js").Session} Session */

/** A refused API call; `status` is the HTTP status (0 when the hub could not be reached). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code the hub's error code ("unreachable", "malformed", "http_error"...)
   * @param {string} message
   * @param {number | null} retryAfterS the hub's Retry-After, when it sent one
   */
  constructor(status, code, message, retryAfterS = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

/** Talks to the hub that served this page (same origin only). */
export class HubApi {
  constructor(base = "") {
    this.base = base;
    /** @type {string | null} pre-login token, then the session's token after login */
    this.csrf = null;
  }

  /**
   * Fetch the pre-login CSRF token (sets the kh_csrf cookie too).
   * @returns {Promise<string | null>}
   */
  async fetchCsrf() {
    const body = await this.request("GET", "/api/csrf");
    this.csrf = body.csrf;
    return this.csrf;
  }

  /**
   * Sign in. Throws ApiError (401, 403, 429, ...).
   * @param {string} name
   * @param {string} password
   * @returns {Promise<Session>}
   */
  async login(name, password) {
    if (this.csrf === null) await this.fetchCsrf();
    const session = /** @type {Session} */ (
      await this.request("POST", "/api/login", { name, password })
    );
    this.csrf = session.csrf;
    return session;
  }

  /**
   * The current session, or null when not signed in (the hub answers 200 either way).
   * @returns {Promise<Session | null>}
   */
  async session() {
    const session = await this.request("GET", "/api/session");
    if (session.signed_in !== true) return null;
    this.csrf = session.csrf;
    return /** @type {Session} */ (session);
  }

  /** Sign out; the session cookie is cleared by the hub. */
  async logout() {
    try {
      await this.request("POST", "/api/logout");
    } finally {
      this.csrf = null;
    }
  }

  /**
   * One JSON request; the answer's body (null for 204). Throws ApiError.
   * @param {"GET" | "POST" | "PUT"} method
   * @param {string} path
   * @param {object} [json] the request's body
   * @returns {Promise<any>} parsed JSON, checked by the caller
   */
  async request(method, path, json = undefined) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json" };
    if (method !== "GET" && this.csrf !== null) headers["X-CSRF-Token"] = this.csrf;
    /** @type {RequestInit} */
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(this.base + path, init);
    } catch {
      throw new ApiError(0, "unreachable", "The hub cannot be reached.");
    }
    if (response.status === 204) return null;
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const retry = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
      throw new ApiError(
        response.status,
        body?.error ?? "http_error",
        body?.message ?? `The hub answered ${response.status}.`,
        Number.isFinite(retry) ? retry : null,
      );
    }
    if (body === null || typeof body !== "object") {
      throw new ApiError(response.status, "malformed", "The hub sent an unexpected answer.");
    }
    return body;
  }
}
