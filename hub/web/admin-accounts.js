// Accounts of the tenant, every role: who is online, add, disable or enable, new password.

import { byId, confirmAction, failure, fill, h, showError, table, when } from "./admin-dom.js";

/** @typedef {import("./admin-api.js").AdminApi} AdminApi */
/** @typedef {import("./admin-types.js").Account} Account */

const ROLE_WORDS = { adviser: "Adviser", admin: "Administrator", dpo: "Data-protection officer" };

export class AccountsPage {
  /**
   * @param {object} parts
   * @param {AdminApi} parts.api
   * @param {boolean} parts.canChange an administrator (a dpo only reads)
   */
  constructor({ api, canChange }) {
    this.api = api;
    this.canChange = canChange;
    this.error = byId("accounts-error", HTMLParagraphElement);
    this.tableBox = byId("accounts-table", HTMLDivElement);
    byId("account-form", HTMLFormElement).addEventListener("submit", (event) => {
      event.preventDefault();
      this.add();
    });
    this.passwordDialog = new PasswordDialog(api, () => this.load());
  }

  async load() {
    try {
      const accounts = await this.api.accounts();
      showError(this.error, "");
      this.render(accounts);
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }

  /** @param {Account[]} accounts */
  render(accounts) {
    const heads = ["Name", "Role", "Status", "Online", "Created"];
    if (this.canChange) heads.push("Actions");
    const rows = table(
      heads,
      accounts,
      (account) => {
        const cells = [
          account.name,
          ROLE_WORDS[account.role] ?? account.role,
          account.disabled ? h("span", { class: "tag tag-off" }, "Disabled") : "Active",
          account.online ? h("span", { class: "tag tag-on" }, "Online") : "—",
          when(account.created_at),
        ];
        if (this.canChange) cells.push(this.actions(account));
        return cells;
      },
      (account) => ({ "data-account": account.name, "data-disabled": String(account.disabled) }),
    );
    fill(this.tableBox, accounts.length === 0 ? h("p", { class: "empty" }, "No accounts.") : rows);
  }

  /** @param {Account} account */
  actions(account) {
    const toggle = h(
      "button",
      { type: "button", class: "button button-small", "data-action": "toggle" },
      account.disabled ? "Enable" : "Disable",
    );
    toggle.addEventListener("click", () => this.toggle(account));
    const reset = h(
      "button",
      { type: "button", class: "button button-small", "data-action": "password" },
      "New password…",
    );
    reset.addEventListener("click", () => this.passwordDialog.open(account.name));
    return h("span", { class: "row-actions" }, toggle, reset);
  }

  /** @param {Account} account */
  async toggle(account) {
    if (!account.disabled) {
      const ok = await confirmAction(
        `Disable ${account.name}? They are signed out at once and cannot sign in until enabled.`,
        "Disable",
      );
      if (!ok) return;
    }
    try {
      await this.api.setDisabled(account.name, !account.disabled);
      showError(this.error, "");
    } catch (exc) {
      showError(this.error, failure(exc));
    }
    await this.load();
  }

  async add() {
    const name = byId("account-name", HTMLInputElement);
    const password = byId("account-password", HTMLInputElement);
    const role = byId("account-role", HTMLSelectElement);
    const error = byId("account-form-error", HTMLParagraphElement);
    if (name.value.trim() === "" || password.value === "") {
      showError(error, "Enter a name and a password.");
      return;
    }
    try {
      await this.api.addAccount(name.value.trim(), password.value, role.value);
      showError(error, "");
      name.value = "";
      password.value = "";
    } catch (exc) {
      showError(error, failure(exc));
    } finally {
      password.value = "";
    }
    await this.load();
  }
}

/** The dialog that sets an account's new password (its sessions end). */
class PasswordDialog {
  /**
   * @param {AdminApi} api
   * @param {() => Promise<void>} done
   */
  constructor(api, done) {
    this.api = api;
    this.done = done;
    this.dialog = byId("password-dialog", HTMLDialogElement);
    this.input = byId("password-new", HTMLInputElement);
    this.error = byId("password-error", HTMLParagraphElement);
    /** @type {string} */
    this.account = "";
    byId("password-form", HTMLFormElement).addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    byId("password-cancel", HTMLButtonElement).addEventListener("click", () => this.close());
  }

  /** @param {string} account */
  open(account) {
    this.account = account;
    byId("password-account", HTMLSpanElement).textContent = account;
    this.input.value = "";
    showError(this.error, "");
    this.dialog.showModal();
    this.input.focus();
  }

  close() {
    this.input.value = "";
    this.dialog.close();
  }

  async save() {
    if (this.input.value === "") {
      showError(this.error, "Enter the new password.");
      return;
    }
    try {
      await this.api.resetPassword(this.account, this.input.value);
      this.close();
      await this.done();
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }
}
