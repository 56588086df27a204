// The adviser's files to the kiosk (docs/exchange.md): checked, sealed (sealed.js), uploaded
// to the relay, then offered on the data channel; the relay's copy is deleted once the kiosk
// has it, refused it or either side cancelled.

import { RelayError } from "./exchange-relay.js";
import { offerName } from "./exchange-state.js";
import { uploadErrorWords } from "./exchange-words.js";
import { ALLOWED_TYPES, newId, newKey, seal, sha256Hex, sniffType, toHex } from "./sealed.js";
import { formatBytes } from "./views.js";

/**
 * @typedef {import("./exchange-types.js").ExchangeLink} ExchangeLink
 * @typedef {import("./exchange-types.js").FilePurpose} FilePurpose
 * @typedef {import("./exchange-types.js").OutgoingTransfer} OutgoingTransfer
 */

// file_progress at most ~10 per second (docs/exchange.md).
const PROGRESS_INTERVAL_MS = 100;

export class FileSender {
  /** @param {ExchangeLink} link */
  constructor(link) {
    this.link = link;
    /** @type {Map<string, AbortController>} sealing and uploading, by transfer id */
    this.uploads = new Map();
  }

  /**
   * The files the adviser picked or dropped, all with the purpose the panel says.
   * @param {File[]} files
   */
  sendFiles(files) {
    const view = this.link.view;
    if (files.length === 0) return;
    if (!view.ready) {
      view.showError("Not connected to the kiosk right now; try again in a moment.");
      return;
    }
    view.showError("");
    const purpose = view.takePurpose();
    for (const file of files) this.sendFile(file, purpose);
  }

  /**
   * Check, seal, upload and offer one file. Refusals are said in plain words.
   * @param {File} file
   * @param {FilePurpose} [purpose]
   * @param {(id: string, name: string) => void} [onStart] hears the transfer id once it exists
   */
  async sendFile(file, purpose = "file", onStart) {
    const { transfers, view, relay } = this.link;
    const call = this.link.call();
    if (call === null) return;
    const max = this.link.maxFileBytes();
    if (file.size > max) {
      const sizes = `is ${formatBytes(file.size)}; files up to ${formatBytes(max)} can be sent`;
      view.showError(`“${file.name}” ${sizes}.`);
      return;
    }
    let mime;
    try {
      mime = sniffType(new Uint8Array(await file.slice(0, 8).arrayBuffer()));
    } catch {
      view.showError(`“${file.name}” could not be read.`);
      return;
    }
    if (mime === null || !ALLOWED_TYPES.includes(mime)) {
      const why = "only PDF, JPEG and PNG files are allowed";
      view.showError(`“${file.name}” cannot be sent: ${why}.`);
      return;
    }
    const id = newId();
    const name = offerName(file.name);
    const entry = transfers.addOutgoing({ id, name, size: file.size, mime, purpose });
    const abort = new AbortController();
    this.uploads.set(id, abort);
    onStart?.(id, name);
    view.renderOutgoing(entry);
    /** Still ours to finish: not cancelled, and the same call. */
    const current = () => entry.state !== "cancelled" && call === this.link.call();
    try {
      // Read once: the hash and the sealed bytes describe the same content.
      const data = await file.arrayBuffer();
      if (data.byteLength > max) throw new RelayError(413, "too_large");
      transfers.hashed(entry, data.byteLength, await sha256Hex(data));
      this.link.signatures.keepDocument(id, name, new Uint8Array(data), entry.sha256 ?? "");
      const key = newKey();
      const sealedBlob = await seal({
        id,
        key,
        data,
        signal: abort.signal,
        onProgress: (done) => this.progress(entry, "sealing", done / 2),
      });
      if (!current()) return;
      transfers.uploading(entry);
      let lastSent = 0;
      const blob = await relay.upload({
        consultationId: call.id,
        transferId: id,
        body: sealedBlob,
        signal: abort.signal,
        onProgress: (loaded, total) => {
          const plain = Math.floor((loaded / Math.max(total, 1)) * entry.size);
          this.progress(entry, "uploading", entry.size / 2 + plain / 2);
          const now = Date.now();
          if (now - lastSent >= PROGRESS_INTERVAL_MS) {
            lastSent = now;
            this.link.sendNow({ type: "file_progress", id, bytes: plain, size: entry.size });
          }
        },
      });
      transfers.uploaded(entry, blob);
      if (!current()) {
        this.deleteBlob(call.id, entry);
        return;
      }
      this.link.sendNow({ type: "file_progress", id, bytes: entry.size, size: entry.size });
      this.link.sendReliably(transfers.offered(entry, toHex(key)));
      view.renderOutgoing(entry);
    } catch (exc) {
      if (!current()) return;
      transfers.failed(entry, uploadErrorWords(exc));
      view.renderOutgoing(entry);
    }
  }

  /**
   * @param {OutgoingTransfer} entry
   * @param {"sealing" | "uploading"} state
   * @param {number} done plaintext bytes
   */
  progress(entry, state, done) {
    if (this.link.transfers.progress(entry, state, done)) this.link.view.renderOutgoing(entry);
  }

  /**
   * The relay no longer needs to hold our blob (delivered, refused or cancelled).
   * @param {string} consultationId
   * @param {OutgoingTransfer} entry
   */
  deleteBlob(consultationId, entry) {
    if (entry.blob === null) return;
    this.link.relay.deleteBlob(consultationId, entry.blob);
    entry.blob = null;
  }

  /**
   * The adviser's cancel: stop here, tell the kiosk, delete what the relay holds.
   * @param {string} id
   */
  cancel(id) {
    const entry = this.link.transfers.cancelOutgoing(id, null);
    if (entry === null) return;
    this.abort(entry);
    this.link.sendReliably({ type: "file_cancel", id, reason: "cancelled" });
    this.link.view.renderOutgoing(entry);
  }

  /**
   * The kiosk cancelled one of ours (its state says so already).
   * @param {OutgoingTransfer} entry
   */
  cancelledByKiosk(entry) {
    this.abort(entry);
    this.link.view.renderOutgoing(entry);
  }

  /**
   * Stop sealing and uploading (an upload under way is cancelled by its name at the hub) and
   * delete what the relay holds.
   * @param {OutgoingTransfer} entry
   */
  abort(entry) {
    this.uploads.get(entry.id)?.abort();
    this.uploads.delete(entry.id);
    const call = this.link.call();
    if (call !== null) this.deleteBlob(call.id, entry);
  }

  /** The call ends: every transfer of ours stops. */
  abortAll() {
    for (const entry of this.link.transfers.outgoing.values()) this.abort(entry);
    this.uploads.clear();
  }

  /**
   * The kiosk's file_done for one of ours.
   * @param {string} id
   * @param {string} sha256
   */
  onDone(id, sha256) {
    const entry = this.link.transfers.delivered(id, sha256);
    if (entry === null) return;
    const call = this.link.call();
    if (call !== null) this.deleteBlob(call.id, entry);
    this.link.view.renderOutgoing(entry);
  }

  /**
   * The kiosk's file_error for one of ours.
   * @param {string} id
   * @param {string} code
   */
  onError(id, code) {
    const entry = this.link.transfers.refusedByKiosk(id, code);
    if (entry === null) return;
    this.abort(entry);
    this.link.view.renderOutgoing(entry);
  }
}
