// The signature part of the exchange panel (docs/exchange.md, "Signature requests"): the "Request
// signature" form (which PDF, where, whose name), a "Request signature" button on each PDF of the
// call, and one line per request in its own "Signatures" list with its status, Cancel, and once
// checked the result with a Download link. Text from the network goes in with textContent only
// (views.js).

import { FINAL_SIGNATURE_STATES, SignatureInputError } from "./signature-request.js";
import { element } from "./views.js";

/**
 * @typedef {import("./signature-request.js").SignatureEntry} SignatureEntry
 * @typedef {import("./signature-request.js").Placement} Placement
 * @typedef {import("./signature-request.js").Signatures} Signatures
 */

/**
 * What the view needs of the exchange around it.
 * @typedef {object} SignatureHost
 * @property {HTMLElement} panel the exchange panel
 * @property {HTMLElement} actions its row of buttons
 * @property {HTMLElement} requests the requests list
 * @property {(id: string) => boolean} delivered whether a PDF of the call reached the kiosk
 * @property {(file: File, onStart: (id: string, name: string) => void) => void} upload send a
 *   new PDF to the kiosk (as an exchanged file)
 */

/**
 * Plain words for where a request stands.
 * @param {SignatureEntry} entry
 */
export function signatureWords(entry) {
  switch (entry.state) {
    case "uploading":
      return "Sending the document to the kiosk…";
    case "requested":
      return "Asked; waiting for the kiosk…";
    case "reading":
      return "The customer is reading the document…";
    case "signing":
      return entry.code === "tablet_gone"
        ? "The signature tablet is gone; the customer can sign again once it is plugged back in."
        : "The customer is signing…";
    case "sealing":
      return "Signed; the kiosk is sealing the writing and signing the PDF…";
    case "checking":
      return "Receiving and checking the signed PDF…";
    case "verified": {
      const facts = entry.facts;
      const device = facts?.device ?? "(unnamed)";
      const time = facts?.signedAt?.toLocaleString() ?? "an unstated time";
      return `Signed at the kiosk ${device} at ${time}`;
    }
    case "declined":
      return "The customer declined to sign; nothing was recorded.";
    case "failed":
      return `Not signed: ${entry.error ?? "it failed."}`;
    case "cancelled":
      return "Cancelled; nothing was recorded.";
    case "rejected":
      return entry.error ?? "The signed PDF was refused.";
  }
}

export class SignatureView {
  /**
   * @param {Signatures} signatures
   * @param {SignatureHost} host
   */
  constructor(signatures, host) {
    this.signatures = signatures;
    this.host = host;
    /** @type {Map<string, HTMLLIElement>} */
    this.items = new Map();
    /** @type {Map<string, string>} blob URLs of signed PDFs, by request id */
    this.urls = new Map();
    this.ready = false;
    this.open = el("button", "button", "Request signature…", { id: "btn-request-signature" });
    this.open.type = "button";
    this.open.disabled = true;
    host.actions.append(this.open);
    this.document = el("select", "", "", { id: "signature-document" });
    this.place = el("select", "", "", { id: "signature-placement" });
    for (const [value, text] of [
      ["default", "At the end of the last page"],
      ["field", "In the document's signature field"],
      ["box", "On a page, in a box"],
    ]) {
      this.place.append(el("option", "", text, { value }));
    }
    const pdf = "application/pdf,.pdf";
    this.file = el("input", "", "", { id: "signature-file", type: "file", accept: pdf });
    this.field = el("input", "", "", { id: "signature-field", placeholder: "first empty field" });
    const numeric = { type: "number", min: "0", step: "any" };
    this.page = el("input", "signature-number", "", { id: "signature-page", ...numeric });
    this.box = ["x0", "y0", "x1", "y1"].map((n) =>
      el("input", "signature-number", "", { id: `signature-${n}`, ...numeric, "aria-label": n }),
    );
    const name = { id: "signature-signer", maxlength: "100", autocomplete: "off" };
    this.signer = el("input", "", "", name);
    this.error = el("p", "form-error", "", { id: "signature-error", role: "alert" });
    this.error.hidden = true;
    this.form = this.buildForm();
    host.actions.after(this.form);
    // The requests' own list, next to the exchange's (testbed/signature_console.py reads it).
    this.list = el("ul", "transfer-list", "", { id: "signature-list", "aria-live": "polite" });
    const labelled = { "aria-labelledby": "signature-title" };
    const section = el("section", "signature-requests", "", labelled);
    section.append(el("h3", "", "Signatures", { id: "signature-title" }), this.list);
    (host.requests.closest(".exchange-lists") ?? host.panel).prepend(section);
    this.open.addEventListener("click", () => this.show(null));
    signatures.changed = (entry) => this.render(entry);
  }

  /** @returns {HTMLFormElement} */
  buildForm() {
    const form = el("form", "signature-form", "", { id: "signature-form" });
    form.hidden = true;
    form.noValidate = true;
    const submit = el("button", "button button-primary", "Ask the customer to sign", {
      id: "signature-submit",
      type: "submit",
    });
    const close = el("button", "button button-quiet", "Close", { type: "button" });
    close.addEventListener("click", () => (form.hidden = true));
    form.append(
      el("h3", "", "Request a signature"),
      label("PDF of this call ", this.document),
      label("or a new PDF ", this.file),
      el("fieldset", "signature-place", ""),
      label("Signer's name (optional, printed under the signature) ", this.signer),
      this.error,
      submit,
      close,
    );
    const places = /** @type {HTMLFieldSetElement} */ (form.querySelector("fieldset"));
    places.append(
      el("legend", "", "Where the customer signs"),
      this.place,
      label("Field name (empty: the first empty one) ", this.field),
      label("Page ", this.page),
      label("Box x0 y0 x1 y1 (points from the bottom left) ", ...this.box),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    return form;
  }

  /** @param {boolean} ready verified and the channel up */
  setEnabled(ready) {
    this.ready = ready;
    this.open.disabled = !ready;
    for (const button of this.host.panel.querySelectorAll(".signature-ask")) {
      /** @type {HTMLButtonElement} */ (button).disabled = !ready;
    }
  }

  /**
   * Open the form, with `documentId` chosen (null: the newest PDF of the call).
   * @param {string | null} documentId
   */
  show(documentId) {
    this.document.replaceChildren();
    for (const doc of [...this.signatures.documents.values()].reverse()) {
      if (!this.host.delivered(doc.id)) continue;
      const option = el("option", "", doc.name, { value: doc.id });
      this.document.append(option);
    }
    if (documentId !== null) this.document.value = documentId;
    this.file.value = "";
    this.showError("");
    this.form.hidden = false;
    this.document.focus();
  }

  /**
   * A line of the exchange's lists was drawn: a delivered PDF gets its Request signature button.
   * @param {HTMLLIElement} li
   * @param {{id: string, state: string}} entry
   */
  decorate(li, entry) {
    if (entry.state !== "done" || !this.signatures.documents.has(entry.id)) return;
    if (li.querySelector(".signature-ask") !== null) return;
    const name = this.signatures.documents.get(entry.id)?.name ?? "this PDF";
    const ask = el("button", "button button-quiet signature-ask", "Request signature");
    ask.dataset.action = "request-signature";
    ask.type = "button";
    ask.setAttribute("aria-label", `Request a signature on ${name}`);
    ask.disabled = !this.ready;
    ask.addEventListener("click", () => this.show(entry.id));
    li.append(ask);
  }

  submit() {
    try {
      const placement = this.placement();
      const signer = this.signer.value;
      const file = this.file.files?.[0];
      if (file !== undefined) {
        this.host.upload(file, (id, name) =>
          this.signatures.requestAfterUpload(id, name, placement, signer),
        );
      } else {
        this.signatures.request(this.document.value, placement, signer);
      }
    } catch (exc) {
      if (!(exc instanceof SignatureInputError)) throw exc;
      this.showError(exc.message);
      return;
    }
    this.form.hidden = true;
    this.signer.value = "";
  }

  /** @returns {Placement} */
  placement() {
    const kind = this.place.value;
    if (kind === "field") return { kind: "field", name: this.field.value.trim() };
    if (kind !== "box") return { kind: "end" };
    const [x0, y0, x1, y1] = this.box.map((input) => number(input.value));
    return { kind: "box", page: number(this.page.value) - 1, box: [x0, y0, x1, y1] };
  }

  /** @param {string} text */
  showError(text) {
    this.error.textContent = text;
    this.error.hidden = text === "";
  }

  /** @param {SignatureEntry} entry */
  render(entry) {
    let li = this.items.get(entry.id);
    if (li === undefined) {
      li = el("li", "transfer", "");
      li.dataset.signatureId = entry.id;
      li.dataset.kind = "signature";
      this.list.prepend(li);
      this.items.set(entry.id, li);
    }
    li.dataset.state = entry.state;
    if (entry.code !== null) li.dataset.code = entry.code;
    else delete li.dataset.code;
    const parts = [
      el("span", "transfer-name", `Signature: ${entry.name}`),
      el("span", "transfer-status", signatureWords(entry)),
    ];
    if (entry.state === "verified" && entry.facts !== null && entry.signed !== null) {
      if (entry.facts.signedAt !== null) li.dataset.signedAt = entry.facts.signedAt.toISOString();
      parts[1].classList.add("signature-signed");
      parts.push(el("span", "signature-subject", `Signer certificate: ${entry.facts.subject}`));
      parts.push(this.download(entry, entry.signed));
    }
    if (!FINAL_SIGNATURE_STATES.has(entry.state)) {
      const cancel = el("button", "button button-quiet request-cancel", "Cancel");
      cancel.type = "button";
      cancel.setAttribute("aria-label", `Cancel the signature request for ${entry.name}`);
      cancel.addEventListener("click", () => this.signatures.cancel(entry.id));
      parts.push(cancel);
    }
    li.replaceChildren(...parts);
  }

  /**
   * @param {SignatureEntry} entry
   * @param {Uint8Array<ArrayBuffer>} bytes
   */
  download(entry, bytes) {
    let url = this.urls.get(entry.id);
    if (url === undefined) {
      url = URL.createObjectURL(new Blob([bytes], { type: "application/pdf" }));
      this.urls.set(entry.id, url);
    }
    const link = el("a", "button download", "Download signed PDF");
    link.dataset.action = "download-signed";
    link.href = url;
    link.download = `${entry.name.replace(/\.pdf$/i, "")}-signed.pdf`;
    link.setAttribute("aria-label", `Download the signed ${entry.name}`);
    return link;
  }

  /** The call ended: every line and every signed PDF's bytes go. */
  clear() {
    for (const url of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
    for (const li of this.items.values()) li.remove();
    this.items.clear();
    this.form.hidden = true;
    this.showError("");
  }
}

/**
 * An element with attributes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} className
 * @param {string} [text]
 * @param {Record<string, string>} [attributes]
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, className, text = "", attributes = {}) {
  const node = element(tag, className, text);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

/**
 * A label around its control.
 * @param {string} text
 * @param {...(HTMLElement | string)} parts
 */
function label(text, ...parts) {
  const node = el("label", "signature-label", text);
  node.append(...parts);
  return node;
}

/** @param {string} text a number input's value; NaN when empty */
function number(text) {
  return text.trim() === "" ? Number.NaN : Number(text);
}
