// Files, documents, scans, photos and screen share inside a verified call (docs/exchange.md).
//
// Control messages go over the call's data channel (Consultation.sendChannel and its
// "exchange" events); file bytes go sealed (sealed.js) through the hub's relay
// (exchange-relay.js), so the hub only ever holds ciphertext. Where each transfer stands is
// exchange-state.js's, the panel's DOM exchange-view.js's; this module wires them to the call.
// Everything belongs to the current consultation: detach() drops it all (blob URLs revoked,
// uploads and downloads aborted, screen share stopped).

import { RelayClient } from "./exchange-relay.js";
import { FileReceiver } from "./exchange-receiving.js";
import { FileSender } from "./exchange-sending.js";
import { DEFAULT_MAX_FILE_BYTES, Transfers } from "./exchange-state.js";
import { ExchangeView } from "./exchange-view.js";
import { newId } from "./sealed.js";
import { Signatures } from "./signature-request.js";
import { SignatureView } from "./signature-view.js";

export { DEFAULT_MAX_FILE_BYTES, offerName } from "./exchange-state.js";
export { FILE_ERROR_WORDS, requestWords } from "./exchange-words.js";

/**
 * @typedef {import("./exchange-types.js").ExchangeCall} ExchangeCall
 * @typedef {import("./exchange-types.js").ExchangeElements} ExchangeElements
 * @typedef {import("./exchange-types.js").IncomingMessage} IncomingMessage
 * @typedef {import("./exchange-types.js").OutgoingMessage} OutgoingMessage
 * @typedef {import("./exchange-types.js").RequestKind} RequestKind
 * @typedef {CustomEvent<{message: IncomingMessage}>} ExchangeMessageEvent
 * @typedef {CustomEvent<{ready: boolean}>} ChatReadyEvent
 * @typedef {CustomEvent<{resumed: boolean}>} VerifiedEvent
 */

/**
 * The exchange panel of the call view. `elements`: {panel, fileInput, fileLabel, showAtKiosk,
 * dropZone, error, sent, received, requests, requestScan, requestPhoto, shareScreen,
 * screenState}. `csrf()` gives the session's CSRF token, `maxFileBytes()` the tenant's limit
 * (welcome).
 */
export class Exchange {
  /**
   * @param {{elements: ExchangeElements, csrf: () => string | null,
   *   maxFileBytes: () => number | null}} options
   */
  constructor({ elements, csrf, maxFileBytes }) {
    this.transfers = new Transfers();
    /** @type {ExchangeCall | null} */
    this.call = null;
    this.verified = false;
    /** @type {(() => void) | null} */
    this.unbind = null;
    /** @type {OutgoingMessage[]} must reach the kiosk: held while the channel is down */
    this.outbox = [];
    /** @type {{track: MediaStreamTrack} | null} while sharing */
    this.screen = null;
    this.view = new ExchangeView(elements, {
      inCall: () => this.call !== null,
      sendFiles: (files) => this.sender.sendFiles(files),
      request: (kind) => this.request(kind),
      toggleScreen: () => {
        if (this.screen === null) this.startScreen();
        else this.stopScreen({ tell: true });
      },
      cancelOutgoing: (id) => this.sender.cancel(id),
      cancelRequest: (id) => this.cancelRequest(id),
    });
    // Signature requests on the call's PDFs (signature-*.js; docs/exchange.md).
    this.signatures = new Signatures({
      sendNow: (message) => this.sendNow(message),
      sendReliably: (message) => this.sendReliably(message),
    });
    this.signatureView = new SignatureView(this.signatures, {
      panel: elements.panel,
      actions: this.view.requestScan.parentElement ?? elements.panel,
      requests: elements.requests,
      delivered: (id) =>
        (this.transfers.outgoing.get(id) ?? this.transfers.incoming.get(id))?.state === "done",
      upload: (file, onStart) => this.sender.sendFile(file, "file", onStart),
    });
    this.view.rendered = (li, entry, outgoing) => {
      this.signatureView.decorate(li, entry);
      if (outgoing && ["done", "failed", "cancelled"].includes(entry.state)) {
        this.signatures.uploadEnded(entry.id, entry.state === "done");
      }
    };
    /** @type {import("./exchange-types.js").ExchangeLink} */
    const link = {
      transfers: this.transfers,
      relay: new RelayClient(csrf),
      view: this.view,
      call: () => this.call,
      maxFileBytes: () => maxFileBytes() ?? DEFAULT_MAX_FILE_BYTES,
      sendNow: (message) => this.sendNow(message),
      sendReliably: (message) => this.sendReliably(message),
      signatures: this.signatures,
    };
    this.sender = new FileSender(link);
    this.receiver = new FileReceiver(link);
    this.setEnabled(false);
  }

  // -- lifetime ---------------------------------------------------------------------------

  /**
   * Start serving `call` (a Consultation); anything of a previous call is dropped first.
   * @param {ExchangeCall} call
   */
  attach(call) {
    if (this.call === call) return;
    this.detach();
    this.call = call;
    // Nothing goes to the kiosk before it is verified (the words, or a resumed leg's proof).
    this.verified = false;
    /** @type {Record<string, (event: Event) => void>} */
    const handlers = {
      exchange: (e) => this.onMessage(/** @type {ExchangeMessageEvent} */ (e).detail.message),
      "chat-ready": (e) => {
        const { ready } = /** @type {ChatReadyEvent} */ (e).detail;
        this.setEnabled(this.verified && ready);
        if (this.verified && ready) this.flushOutbox();
      },
      verified: (e) => {
        this.verified = true;
        this.setEnabled(call.chatReady);
        if (/** @type {VerifiedEvent} */ (e).detail.resumed && this.screen !== null) {
          this.sendNow({ type: "screen_share", active: true });
        }
        this.flushOutbox();
      },
    };
    for (const [type, fn] of Object.entries(handlers)) call.addEventListener(type, fn);
    this.unbind = () => {
      for (const [type, fn] of Object.entries(handlers)) call.removeEventListener(type, fn);
    };
    this.setEnabled(false);
  }

  /** The call ended: abort everything, forget every file, stop sharing the screen. */
  detach() {
    if (this.unbind !== null) this.unbind();
    this.unbind = null;
    this.stopScreen({ tell: false });
    this.sender.abortAll();
    this.receiver.abortAll();
    this.transfers.clear();
    this.signatures.clear();
    this.signatureView.clear();
    this.outbox = [];
    this.call = null;
    this.view.clear();
    this.setEnabled(false);
  }

  /** @param {boolean} ready verified and the channel up */
  setEnabled(ready) {
    this.view.setEnabled(ready, this.screen !== null);
    this.signatureView.setEnabled(ready);
  }

  // -- talking to the kiosk ---------------------------------------------------------------

  /**
   * Send now if the channel is up; false otherwise (the message is dropped).
   * @param {OutgoingMessage} message
   */
  sendNow(message) {
    if (this.call === null) return false;
    try {
      return this.call.sendChannel(message);
    } catch {
      return false; // refused by protocol.js: a bug here, never the kiosk's fault
    }
  }

  /**
   * Send, or hold until the channel is back (a resumed call still gets it).
   * @param {OutgoingMessage} message
   */
  sendReliably(message) {
    if (!this.sendNow(message)) this.outbox.push(message);
  }

  flushOutbox() {
    const held = this.outbox;
    this.outbox = [];
    for (const message of held) this.sendReliably(message);
  }

  /** @param {IncomingMessage} message a channel message call.js did not handle itself */
  onMessage(message) {
    switch (message.type) {
      case "file_offer":
        this.receiver.onOffer(message);
        break;
      case "file_progress":
        this.receiver.onProgress(message);
        break;
      case "file_done":
        this.sender.onDone(message.id, message.sha256);
        break;
      case "file_error":
        this.sender.onError(message.id, message.code);
        break;
      case "file_cancel":
        this.onCancel(message.id);
        break;
      case "signature_status":
        this.signatures.status(message);
        break;
      case "request_status": {
        const entry = this.transfers.requestStatus(message);
        if (entry !== null) this.view.renderRequest(entry);
        break;
      }
      default:
        break; // adviser -> kiosk messages (requests, screen_share) never come this way
    }
  }

  /**
   * The kiosk's file_cancel, for one of ours or one of its.
   * @param {string} id
   */
  onCancel(id) {
    const stopped = this.transfers.cancelledByKiosk(id);
    if (stopped === null) return;
    if ("outgoing" in stopped) this.sender.cancelledByKiosk(stopped.outgoing);
    else this.receiver.cancelledByKiosk(stopped.incoming);
  }

  // -- scan and photo requests ------------------------------------------------------------

  /** @param {RequestKind} kind */
  request(kind) {
    if (this.call === null) return;
    const id = newId();
    if (!this.sendNow({ type: kind === "scan" ? "scan_request" : "photo_request", id })) {
      this.view.showError("Not connected to the kiosk right now; try again in a moment.");
      return;
    }
    this.view.showError("");
    this.view.renderRequest(this.transfers.addRequest(id, kind));
  }

  /** @param {string} id */
  cancelRequest(id) {
    const entry = this.transfers.cancelRequest(id);
    if (entry === null) return;
    this.sendReliably({ type: "request_cancel", id });
    this.view.renderRequest(entry);
  }

  // -- screen share -----------------------------------------------------------------------

  async startScreen() {
    const call = this.call;
    if (call === null || this.screen !== null) return;
    if (!call.screenShareReady) {
      this.view.showError("This kiosk cannot show your screen in this call.");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      this.view.showError("Screen sharing was not started.");
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (call !== this.call || track === undefined) {
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    this.view.showError("");
    this.screen = { track };
    track.addEventListener("ended", () => {
      if (this.screen?.track === track) this.stopScreen({ tell: true });
    });
    try {
      await call.setScreenTrack(track);
    } catch {
      this.stopScreen({ tell: false });
      this.view.showError("The screen could not be shared.");
      return;
    }
    this.sendReliably({ type: "screen_share", active: true });
    this.renderScreen();
  }

  /** @param {{tell: boolean}} options tell: say so to the kiosk */
  stopScreen({ tell }) {
    const screen = this.screen;
    if (screen === null) return;
    this.screen = null;
    screen.track.stop();
    if (this.call !== null) {
      this.call.setScreenTrack(null).catch(() => {});
      if (tell) this.sendReliably({ type: "screen_share", active: false });
    }
    this.renderScreen();
  }

  renderScreen() {
    this.view.showScreen(this.screen !== null);
    this.setEnabled(this.verified && (this.call?.chatReady ?? false));
  }
}
