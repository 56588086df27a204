// Signature requests of the current call (docs/exchange.md, "Signature requests"): the adviser asks
// the kiosk to have the customer sign a PDF exchanged in this call; the kiosk answers with
// signature_status and, at the end, a file_offer of purpose "signed" whose bytes signature-check.js
// checks against the PDF the request named. No DOM here (signature-view.js draws it), no network of
// its own.

import { SignedPdfError, checkSignedPdf } from "./signature-check.js";
import { newId } from "./sealed.js";

/**
 * @typedef {import("./signature-check.js").SignedFacts} SignedFacts
 * @typedef {import("./exchange-types.js").OutgoingMessage} OutgoingMessage
 * @typedef {import("./exchange-types.js").IncomingTransfer} IncomingTransfer
 */

/**
 * Where the signature goes: a signature field of the PDF ("" = its first empty one), a box on
 * a page (PDF points, origin bottom-left, page 0-based), or the end of the last page.
 * @typedef {{kind: "end"} | {kind: "field", name: string}
 *   | {kind: "box", page: number, box: [number, number, number, number]}} Placement
 */

/**
 * "verified": the signed PDF passed the console's check; "rejected": it did not (or did not
 * arrive whole); "failed": the kiosk said it failed (code).
 * @typedef {"uploading" | "requested" | "reading" | "signing" | "sealing" | "checking"
 *   | "verified" | "declined" | "failed" | "cancelled" | "rejected"} SignatureState
 */

/**
 * One signature request and what came of it.
 * @typedef {object} SignatureEntry
 * @property {string} id
 * @property {string} document the transfer id of the PDF
 * @property {string} name the PDF's file name
 * @property {Placement} placement
 * @property {string | null} signer
 * @property {SignatureState} state
 * @property {string | null} code the kiosk's SignatureErrorCode, when it gave one
 * @property {string | null} error plain words when failed
 * @property {SignedFacts | null} facts once the signed PDF passed the check
 * @property {Uint8Array<ArrayBuffer> | null} signed the signed PDF's bytes once checked
 */

/**
 * @typedef {{id: string, name: string, bytes: Uint8Array<ArrayBuffer>, sha256: string}}
 *   KnownDocument
 */

/** @type {ReadonlySet<SignatureState>} */
export const FINAL_SIGNATURE_STATES = new Set([
  "verified",
  "declined",
  "failed",
  "cancelled",
  "rejected",
]);

// Plain words for every SignatureErrorCode (protocol/channel.py).
/** @type {Readonly<Record<string, string>>} */
export const SIGNATURE_ERROR_WORDS = {
  no_document: "The kiosk does not have this document.",
  document_changed: "The kiosk's copy of the document differs from yours.",
  encrypted_pdf: "The PDF is password-protected; send an unprotected one.",
  malformed_pdf: "The PDF cannot be read.",
  no_pages: "The PDF has no pages.",
  no_such_field: "The PDF has no such empty signature field.",
  field_signed: "That signature field is signed already.",
  box_outside_page: "The signature box lies outside the page.",
  busy: "The customer is already signing another document.",
  no_trustee: "No trustee is set for signatures; ask your administrator.",
  trustee_untrusted: "The kiosk does not trust the trustee certificate; ask your administrator.",
  not_enrolled: "This kiosk has no signing identity (not enrolled).",
  no_tablet: "The kiosk has no signature tablet.",
  tablet_gone: "The signature tablet was unplugged.",
  timeout: "The customer did not sign in time.",
  no_ink: "Nothing was written on the tablet.",
  too_long: "The signature took too long and was discarded.",
  signing_failed: "The kiosk could not sign the document.",
};

const FIELD_PATTERN = /^[A-Za-z0-9 ._-]{0,64}$/;
const BOX_MAX = 14400;
const SIGNER_MAX = 100;
const PDF_MAGIC = "%PDF-";

/** The adviser's input that cannot make a request; the message says what to fix. */
export class SignatureInputError extends Error {}

export class Signatures {
  /**
   * @param {{sendNow: (message: OutgoingMessage) => boolean,
   *   sendReliably: (message: OutgoingMessage) => void}} link
   */
  constructor(link) {
    this.link = link;
    /** @type {Map<string, KnownDocument>} PDFs of this call (sent or received), by transfer id */
    this.documents = new Map();
    /** @type {Map<string, SignatureEntry>} */
    this.requests = new Map();
    /** @type {Set<string>} PDFs uploaded for a request, not yet delivered */
    this.pending = new Set();
    /** @type {(entry: SignatureEntry) => void} the view's, set by it */
    this.changed = () => {};
  }

  /** The call ended: every document's bytes and every request go. */
  clear() {
    this.documents.clear();
    this.requests.clear();
    this.pending.clear();
  }

  /**
   * A PDF of this call, sent or received: it can be signed once delivered.
   * @param {string} id
   * @param {string} name
   * @param {Uint8Array<ArrayBuffer>} bytes
   * @param {string} sha256 hex
   */
  keepDocument(id, name, bytes, sha256) {
    if (!isPdf(bytes)) return;
    this.documents.set(id, { id, name, bytes, sha256 });
  }

  /**
   * A new PDF is being uploaded for a signature: the request is sent once it is delivered.
   * @param {string} document transfer id of the upload
   * @param {string} name
   * @param {Placement} placement
   * @param {string | null} signer
   */
  requestAfterUpload(document, name, placement, signer) {
    const entry = this.newEntry(document, name, placement, signer, "uploading");
    this.pending.add(entry.id);
    this.changed(entry);
    return entry;
  }

  /**
   * One of our files reached the kiosk (file_done) or did not (failed, cancelled).
   * @param {string} document transfer id
   * @param {boolean} delivered
   */
  uploadEnded(document, delivered) {
    for (const id of [...this.pending]) {
      const entry = this.requests.get(id);
      if (entry === undefined || entry.document !== document) continue;
      this.pending.delete(id);
      if (entry.state !== "uploading") continue;
      if (delivered && this.documents.has(document)) this.send(entry);
      else this.fail(entry, null, "The document did not reach the kiosk.");
    }
  }

  /**
   * Ask for a signature on a PDF the kiosk has; SignatureInputError if the input cannot be.
   * @param {string} document transfer id of a delivered PDF of this call
   * @param {Placement} placement
   * @param {string | null} signer
   * @returns {SignatureEntry}
   */
  request(document, placement, signer) {
    const known = this.documents.get(document);
    if (known === undefined) throw new SignatureInputError("Pick a PDF exchanged in this call.");
    checkPlacement(placement);
    const entry = this.newEntry(document, known.name, placement, signer, "requested");
    if (!this.send(entry)) {
      this.requests.delete(entry.id);
      throw new SignatureInputError("Not connected to the kiosk right now; try again in a moment.");
    }
    return entry;
  }

  /**
   * @param {string} document
   * @param {string} name
   * @param {Placement} placement
   * @param {string | null} signer
   * @param {SignatureState} state
   * @returns {SignatureEntry}
   */
  newEntry(document, name, placement, signer, state) {
    checkPlacement(placement);
    /** @type {SignatureEntry} */
    const entry = {
      id: newId(),
      document,
      name,
      placement,
      signer: cleanSigner(signer),
      state,
      code: null,
      error: null,
      facts: null,
      signed: null,
    };
    this.requests.set(entry.id, entry);
    return entry;
  }

  /**
   * Send the signature_request of `entry`; false if the channel is down.
   * @param {SignatureEntry} entry
   */
  send(entry) {
    const doc = this.documents.get(entry.document);
    if (doc === undefined) return false;
    const { placement } = entry;
    /** @type {OutgoingMessage} */
    const message = {
      type: "signature_request",
      id: entry.id,
      document: entry.document,
      sha256: doc.sha256,
      field: placement.kind === "field" ? placement.name : null,
      page: placement.kind === "box" ? placement.page : null,
      box: placement.kind === "box" ? placement.box : null,
      signer: entry.signer,
    };
    if (!this.link.sendNow(message)) return false;
    entry.state = "requested";
    this.changed(entry);
    return true;
  }

  /**
   * The adviser's cancel.
   * @param {string} id
   */
  cancel(id) {
    const entry = this.requests.get(id);
    if (entry === undefined || FINAL_SIGNATURE_STATES.has(entry.state)) return;
    const asked = entry.state !== "uploading";
    entry.state = "cancelled";
    this.pending.delete(id);
    if (asked) this.link.sendReliably({ type: "signature_cancel", id });
    this.changed(entry);
  }

  /**
   * The kiosk's signature_status; "done" waits for the signed file's check.
   * @param {{id: string, state: string, code?: string | null}} message
   */
  status(message) {
    const entry = this.requests.get(message.id);
    if (entry === undefined || FINAL_SIGNATURE_STATES.has(entry.state)) return;
    const code = message.code ?? null;
    switch (message.state) {
      case "reading":
      case "signing":
      case "sealing":
        entry.state = message.state;
        entry.code = code; // "tablet_gone" while signing
        break;
      case "declined":
      case "cancelled":
        entry.state = message.state;
        break;
      case "failed":
        this.fail(entry, code, null);
        return;
      case "done":
        if (entry.signed === null) entry.state = "checking"; // the file_offer came first
        break;
      default:
        return;
    }
    this.changed(entry);
  }

  /**
   * The signed PDF arrived (file_offer purpose "signed", downloaded and opened): check it.
   * @param {IncomingTransfer} transfer
   * @param {Uint8Array<ArrayBuffer>} bytes
   */
  signedArrived(transfer, bytes) {
    const entry = transfer.requestId === null ? undefined : this.requests.get(transfer.requestId);
    if (entry === undefined || FINAL_SIGNATURE_STATES.has(entry.state)) return;
    const original = this.documents.get(entry.document);
    if (original === undefined) {
      this.reject(entry, "the document it was asked for is gone");
      return;
    }
    try {
      entry.facts = checkSignedPdf(original.bytes, bytes);
    } catch (exc) {
      if (!(exc instanceof SignedPdfError)) throw exc;
      this.reject(entry, `it failed the check: ${exc.message}`);
      return;
    }
    entry.signed = bytes;
    entry.state = "verified";
    this.changed(entry);
  }

  /**
   * The signed PDF could not be received (too large, damaged in transit): the request failed.
   * @param {IncomingTransfer} transfer
   */
  signedRefused(transfer) {
    const entry = transfer.requestId === null ? undefined : this.requests.get(transfer.requestId);
    if (entry === undefined || FINAL_SIGNATURE_STATES.has(entry.state)) return;
    this.reject(entry, `it could not be received: ${transfer.error ?? "failed"}`);
  }

  /**
   * The console refuses the signed PDF: never offered, the reason shown.
   * @param {SignatureEntry} entry
   * @param {string} why
   */
  reject(entry, why) {
    this.end(entry, "rejected", null, `The signed PDF was refused: ${why}.`);
  }

  /**
   * @param {SignatureEntry} entry
   * @param {string | null} code
   * @param {string | null} words
   */
  fail(entry, code, words) {
    this.end(entry, "failed", code, words);
  }

  /**
   * @param {SignatureEntry} entry
   * @param {"failed" | "rejected"} state
   * @param {string | null} code
   * @param {string | null} words
   */
  end(entry, state, code, words) {
    entry.state = state;
    entry.code = code;
    entry.error = words ?? (code === null ? null : (SIGNATURE_ERROR_WORDS[code] ?? code));
    entry.facts = null;
    entry.signed = null;
    this.changed(entry);
  }
}

/**
 * A placement the protocol accepts; SignatureInputError otherwise.
 * @param {Placement} placement
 */
export function checkPlacement(placement) {
  if (placement.kind === "field" && !FIELD_PATTERN.test(placement.name)) {
    throw new SignatureInputError(
      "A field name has up to 64 letters, digits, spaces, dots, dashes or underscores.",
    );
  }
  if (placement.kind === "box") {
    const { page, box } = placement;
    if (!Number.isInteger(page) || page < 0 || page > 9998) {
      throw new SignatureInputError("The page must be a page number of the document.");
    }
    if (box.length !== 4 || !box.every((v) => Number.isFinite(v) && v >= 0 && v <= BOX_MAX)) {
      throw new SignatureInputError(`The box needs four numbers from 0 to ${BOX_MAX} (points).`);
    }
    const [x0, y0, x1, y1] = box;
    if (!(x0 < x1 && y0 < y1)) {
      const why = "The box needs x0 < x1 and y0 < y1 (points, from bottom left).";
      throw new SignatureInputError(why);
    }
  }
}

/** @param {string | null} signer */
function cleanSigner(signer) {
  const clean = (signer ?? "").trim();
  if (clean === "") return null;
  if (Array.from(clean).length > SIGNER_MAX) {
    throw new SignatureInputError(`The signer's name has at most ${SIGNER_MAX} characters.`);
  }
  return clean;
}

/** @param {Uint8Array} bytes */
function isPdf(bytes) {
  return String.fromCharCode(...bytes.subarray(0, PDF_MAGIC.length)) === PDF_MAGIC;
}
