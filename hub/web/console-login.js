// Signing in and out, as the page shows it: the login form, its errors in plain words, and the
// switch between the login card and the workspace. The hub API calls are api.js's.

import { ApiError } from "./api.js";

/** @typedef {import("./api.js").HubApi} HubApi */
/** @typedef {import("./types.js").Session} Session */
/** @typedef {import("./console-elements.js").ConsoleElements} ConsoleElements */
/** @typedef {import("./console-status.js").StatusLine} StatusLine */

export class LoginView {
  /**
   * @param {object} parts
   * @param {ConsoleElements} parts.el
   * @param {HubApi} parts.api
   * @param {StatusLine} parts.status
   * @param {(session: Session) => void} parts.onSignedIn
   */
  constructor({ el, api, status, onSignedIn }) {
    this.el = el;
    this.api = api;
    this.status = status;
    this.onSignedIn = onSignedIn;
    el.loginForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.login();
    });
  }

  /** The login card, with `message` (why the adviser is here again) as its error line. */
  show(message = "") {
    const el = this.el;
    el.boot.hidden = true;
    el.workspace.hidden = true;
    el.sessionBar.hidden = true;
    el.login.hidden = false;
    this.showError(message);
    el.loginPassword.value = "";
    el.loginSubmit.disabled = false;
    this.status.setHubState("offline", "Not signed in");
    // The pre-login token is fetched up front so the form can be sent at once.
    this.api.fetchCsrf().catch(() => {});
    el.loginName.focus();
  }

  /**
   * The workspace of a signed-in adviser, in place of the login card.
   * @param {Session} session
   */
  showWorkspace(session) {
    const el = this.el;
    el.boot.hidden = true;
    el.login.hidden = true;
    el.workspace.hidden = false;
    el.sessionBar.hidden = false;
    el.adviserName.textContent = session.adviser;
    el.adviserTenant.textContent = session.tenant;
  }

  /**
   * The console could not start: say so where "Loading…" was.
   * @param {unknown} exc
   */
  showBootError(exc) {
    this.el.boot.textContent =
      exc instanceof ApiError ? exc.message : "The console could not start. Reload the page.";
    this.status.setHubState("offline", "Not connected");
  }

  /** @param {string} message */
  showError(message) {
    this.el.loginError.textContent = message;
    this.el.loginError.hidden = message === "";
  }

  async login() {
    const el = this.el;
    const name = el.loginName.value.trim();
    const password = el.loginPassword.value;
    if (name === "" || password === "") {
      this.showError("Enter your name and password.");
      return;
    }
    el.loginSubmit.disabled = true;
    this.showError("");
    try {
      await this.api.fetchCsrf();
      const session = await this.api.login(name, password);
      el.loginPassword.value = "";
      this.onSignedIn(session);
    } catch (exc) {
      this.showError(loginErrorWords(exc));
      el.loginPassword.select();
    } finally {
      el.loginSubmit.disabled = false;
    }
  }
}

/**
 * Why the sign-in failed, in plain words.
 * @param {unknown} exc
 */
export function loginErrorWords(exc) {
  if (!(exc instanceof ApiError)) return "Something went wrong. Please try again.";
  if (exc.status === 401) return "Wrong name or password.";
  if (exc.status === 429) {
    return exc.retryAfterS === null
      ? "Too many attempts, try again later."
      : `Too many attempts, try again in ${exc.retryAfterS} s.`;
  }
  if (exc.status === 403) return "The sign-in form expired. Please try again.";
  if (exc.status === 0) return "The hub cannot be reached. Check the network and try again.";
  return "Sign-in failed. Please try again.";
}
