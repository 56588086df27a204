// The archive section of the retention page (docs/archive.md): content is never kept unless the
// administrator switches a kind on here; kiosks seal each item to the tenant's archive
// certificate, whose private key stays with the tenant (the hub cannot open what it keeps).

import { failure, fill, h, showError } from "./admin-dom.js";

/** @typedef {import("./admin-api.js").AdminApi} AdminApi */

/**
 * @typedef {object} ArchiveAnswer
 * @property {{subject: string, not_after: string | null, sha256: string} | null} certificate
 * @property {boolean} contracts
 * @property {boolean} transcripts
 */

const PATH = "/api/admin/archive";

export class ArchivePanel {
  /**
   * @param {object} parts
   * @param {AdminApi} parts.api
   * @param {boolean} parts.canChange an administrator (a dpo only reads)
   * @param {Element} parts.after the element the section follows
   */
  constructor({ api, canChange, after }) {
    this.api = api;
    this.canChange = canChange;
    this.body = h("div", { id: "archive-settings" });
    this.error = h("p", { class: "form-error", id: "archive-error", role: "alert", hidden: true });
    this.done = h("p", { class: "ok-line", id: "archive-saved", role: "status", hidden: true });
    this.section = h(
      "section",
      { class: "archive-panel", id: "archive-panel", "aria-labelledby": "archive-title" },
      h("h2", { id: "archive-title" }, "Archive: contracts and transcripts kept sealed"),
      h(
        "p",
        { class: "admin-hint" },
        "Nothing is kept unless switched on here. Kiosks seal each item to the archive " +
          "certificate; only the holder of its private key opens it (kiosk-archive open). " +
          "How long items are kept is the archive setting above.",
      ),
      this.body,
      this.error,
      this.done,
    );
    after.after(this.section);
  }

  async load() {
    this.done.hidden = true;
    try {
      this.render(/** @type {ArchiveAnswer} */ (await this.api.call("GET", PATH)));
      showError(this.error, "");
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }

  /** @param {ArchiveAnswer} answer */
  render(answer) {
    const cert = answer.certificate;
    const shown = cert
      ? h(
          "p",
          { id: "archive-certificate" },
          `Certificate: ${cert.subject}, valid until ${cert.not_after ?? "?"}, SHA-256 ${cert.sha256}`,
        )
      : h("p", { id: "archive-certificate" }, "Certificate: none (nothing can be kept).");
    /** @param {string} id @param {string} label @param {boolean} checked */
    const box = (id, label, checked) =>
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", id, checked, disabled: !this.canChange }),
        ` ${label}`,
      );
    const kinds = h(
      "div",
      { class: "field" },
      box("archive-contracts", "Keep signed contracts", answer.contracts),
      box("archive-transcripts", "Keep chat transcripts", answer.transcripts),
    );
    if (!this.canChange) {
      fill(this.body, shown, kinds);
      return;
    }
    const pem = h("textarea", {
      id: "archive-pem",
      rows: "4",
      placeholder: "-----BEGIN CERTIFICATE-----",
      "aria-label": "New archive certificate (PEM)",
    });
    const save = h("button", { type: "button", class: "button", id: "archive-save" }, "Save");
    save.addEventListener("click", () => this.save());
    const remove = h(
      "button",
      { type: "button", class: "button button-danger", id: "archive-remove" },
      "Remove certificate",
    );
    remove.addEventListener("click", () => this.put({ certificate_pem: null }));
    remove.hidden = cert === null;
    fill(this.body, shown, pem, kinds, h("div", { class: "row-actions" }, save, remove));
  }

  async save() {
    /** @type {Record<string, unknown>} */
    const body = {};
    const pem = this.body.querySelector("#archive-pem");
    if (pem instanceof HTMLTextAreaElement && pem.value.trim() !== "") {
      body.certificate_pem = pem.value.trim();
    }
    for (const kind of ["contracts", "transcripts"]) {
      const input = this.body.querySelector(`#archive-${kind}`);
      if (input instanceof HTMLInputElement) body[kind] = input.checked;
    }
    await this.put(body);
  }

  /** @param {Record<string, unknown>} body */
  async put(body) {
    this.done.hidden = true;
    try {
      this.render(/** @type {ArchiveAnswer} */ (await this.api.call("PUT", PATH, body)));
      showError(this.error, "");
      this.done.textContent = "Saved. Kiosks follow it from their next connection.";
      this.done.hidden = false;
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }
}
