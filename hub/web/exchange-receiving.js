// The kiosk's files to the adviser (docs/exchange.md): announced by file_progress, offered
// with the relay's blob id and the key, downloaded and opened chunk by chunk (sealed.js), then
// listed with Download and Open links; refused in plain words when a check fails.

import { Opener, SealedError, checkType } from "./sealed.js";

/**
 * @typedef {import("./exchange-types.js").ExchangeLink} ExchangeLink
 * @typedef {import("./exchange-types.js").FileOffer} FileOffer
 * @typedef {import("./exchange-types.js").FileProgress} FileProgress
 * @typedef {import("./exchange-types.js").IncomingTransfer} IncomingTransfer
 */

export class FileReceiver {
  /** @param {ExchangeLink} link */
  constructor(link) {
    this.link = link;
    /** @type {Map<string, AbortController>} downloading, by transfer id */
    this.downloads = new Map();
  }

  /**
   * The kiosk's file_progress: before its offer, a line says a file is coming.
   * @param {FileProgress} message
   */
  onProgress(message) {
    const entry = this.link.transfers.announced(message);
    if (entry !== null) this.link.view.renderIncoming(entry);
  }

  /**
   * A file from the kiosk: fetch it, open and check it chunk by chunk, then list it.
   * @param {FileOffer} offer
   */
  async onOffer(offer) {
    const { transfers, view } = this.link;
    const call = this.link.call();
    if (call === null) return;
    const max = this.link.maxFileBytes();
    const decision = transfers.offer(offer, max);
    if (decision.do === "ignore") return;
    if (decision.do === "reply") {
      this.link.sendReliably(decision.message);
      return;
    }
    const entry = decision.entry;
    this.drop(entry.id); // of the announcement (or cancelled offer) it replaces
    if (decision.do === "refuse") {
      this.refuse(entry, decision.code);
      return;
    }
    view.renderIncoming(entry);
    /** Still ours to finish: not cancelled or replaced, and the same call. */
    const current = () => entry.state === "downloading" && call === this.link.call();
    let bytes;
    try {
      bytes = await this.download(call.id, entry, offer, Math.min(max, offer.size));
    } catch (exc) {
      if (!current()) return;
      this.refuse(entry, exc instanceof SealedError ? exc.code : "download_failed");
      return;
    }
    if (!current()) return;
    let mime;
    try {
      mime = checkType(bytes, offer.mime);
    } catch (exc) {
      this.refuse(entry, exc instanceof SealedError ? exc.code : "type_not_allowed");
      return;
    }
    // A signed PDF is offered only once signature-request.js checked it against the original.
    if (offer.purpose !== "signed") view.keepFile(entry.id, bytes, mime);
    const request = transfers.received(entry, mime);
    if (offer.purpose === "signed") this.link.signatures.signedArrived(entry, bytes);
    else this.link.signatures.keepDocument(entry.id, entry.name, bytes, offer.sha256);
    this.link.sendReliably({ type: "file_done", id: offer.id, sha256: offer.sha256 });
    view.renderIncoming(entry);
    if (request !== null) view.renderRequest(request);
  }

  /**
   * GET the sealed blob and open it as it streams in; the checked plaintext bytes.
   * @param {string} consultationId
   * @param {IncomingTransfer} entry
   * @param {FileOffer} offer
   * @param {number} limit
   * @returns {Promise<Uint8Array<ArrayBuffer>>}
   */
  async download(consultationId, entry, offer, limit) {
    const abort = new AbortController();
    this.downloads.set(entry.id, abort);
    const body = await this.link.relay.download(consultationId, offer.blob, abort.signal);
    const { id, key, size, sha256 } = offer;
    const opener = new Opener({ id, key, size, sha256, limit });
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await opener.push(value);
      if (this.link.transfers.downloaded(entry, opener.received)) {
        this.link.view.renderIncoming(entry);
      }
    }
    return opener.finish();
  }

  /**
   * Refuse the kiosk's file: tell it why; the request it answered failed.
   * @param {IncomingTransfer} entry
   * @param {string} code a file_error code
   */
  refuse(entry, code) {
    const request = this.link.transfers.refuseIncoming(entry, code);
    if (entry.purpose === "signed") this.link.signatures.signedRefused(entry);
    this.link.sendReliably({ type: "file_error", id: entry.id, code });
    this.link.view.renderIncoming(entry);
    if (request !== null) this.link.view.renderRequest(request);
  }

  /**
   * The kiosk cancelled one of its files (its state says so already): nothing is kept.
   * @param {IncomingTransfer} entry
   */
  cancelledByKiosk(entry) {
    this.drop(entry.id);
    this.link.view.renderIncoming(entry);
  }

  /**
   * Stop a download and forget a received file's bytes.
   * @param {string} id
   */
  drop(id) {
    this.downloads.get(id)?.abort();
    this.downloads.delete(id);
    this.link.view.dropFile(id);
  }

  /** The call ends: every download stops (the view forgets the files). */
  abortAll() {
    for (const abort of this.downloads.values()) abort.abort();
    this.downloads.clear();
  }
}
