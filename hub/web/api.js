// The hub's JSON API (docs/signalling.md, "HTTP API of the hub"): CSRF token, login, session,
// logout. Cookies are HttpOnly, so the only secrets this module holds are CSRF tokens.

/** A refused API call; `status` is the HTTP status (0 when the hub could not be reached). */
export class ApiError extends Error {
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
    this.csrf = null; // pre-login token, then the session's token after login
  }

  /** Fetch the pre-login CSRF token (sets the kh_csrf cookie too). */
  async fetchCsrf() {
    const body = await this.request("GET", "/api/csrf");
    this.csrf = body.csrf;
    return this.csrf;
  }

  /** Sign in; returns {adviser, tenant, csrf}. Throws ApiError (401, 403, 429, ...). */
  async login(name, password) {
    if (this.csrf === null) await this.fetchCsrf();
    const session = await this.request("POST", "/api/login", { name, password });
    this.csrf = session.csrf;
    return session;
  }

  /** The current session, or null when not signed in (the hub answers 200 either way). */
  async session() {
    const session = await this.request("GET", "/api/session");
    if (session.signed_in !== true) return null;
    this.csrf = session.csrf;
    return session;
  }

  /** Sign out; the session cookie is cleared by the hub. */
  async logout() {
    try {
      await this.request("POST", "/api/logout");
    } finally {
      this.csrf = null;
    }
  }

  async request(method, path, json = undefined) {
    const headers = { Accept: "application/json" };
    if (method !== "GET" && this.csrf !== null) headers["X-CSRF-Token"] = this.csrf;
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
