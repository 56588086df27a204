// Files, documents, scans, photos and screen share inside a verified call (docs/exchange.md).
//
// Control messages go over the call's data channel (Consultation.sendChannel and its
// "exchange" events); file bytes go sealed (sealed.js) through the hub's relay, so the hub
// only ever holds ciphertext. Everything here belongs to the current consultation: detach()
// drops it all (blob URLs revoked, uploads and downloads aborted, screen share stopped).

import {
  ALLOWED_TYPES,
  Opener,
  SealedError,
  checkType,
  newId,
  newKey,
  seal,
  sha256Hex,
  sniffType,
  toHex,
} from "./sealed.js";
import { element, formatBytes } from "./views.js";

// file_progress at most ~10 per second (docs/exchange.md).
const PROGRESS_INTERVAL_MS = 100;
const NAME_MAX = 200;
// A kiosk announcing more transfers than this in one call is not listened to any more.
const INCOMING_MAX = 100;
export const DEFAULT_MAX_FILE_BYTES = 25 * 1024 * 1024;

/** Plain words for file_error codes (ours and the kiosk's). */
export const FILE_ERROR_WORDS = {
  too_large: "The file is larger than allowed.",
  type_not_allowed: "Only PDF, JPEG and PNG files can be exchanged.",
  hash_mismatch: "The file arrived damaged (its checksum differs) and was discarded.",
  truncated: "The file arrived incomplete and was discarded.",
  out_of_order: "The file arrived garbled and was discarded.",
  duplicate: "The file arrived garbled and was discarded.",
  corrupt: "The file arrived damaged and was discarded.",
  download_failed: "The file could not be downloaded.",
  storage_full: "The kiosk has no room for this file.",
  busy: "The kiosk is busy with another file; try again in a moment.",
};

const KIND_WORDS = { scan: "Scan", photo: "Photo" };

/** Plain words for where a scan or photo request stands. */
export function requestWords({ kind, state, progress = 0, pages = 0, code = null }) {
  const what = kind === "scan" ? "scan" : "photo";
  switch (state) {
    case "asked":
      return kind === "scan"
        ? "Waiting for the customer to place the document and start the scan"
        : "Waiting for the customer to get ready for the photo";
    case "scanning": {
      const sheets = pages === 1 ? "1 page" : `${pages} pages`;
      return pages > 0 ? `Scanning… ${progress} % (${sheets})` : `Scanning… ${progress} %`;
    }
    case "countdown":
      return "The camera is counting down";
    case "confirming":
      return `The customer is checking the ${what} before sending it`;
    case "sending":
      return `Sending the ${what}…`;
    case "received":
      return `${KIND_WORDS[kind]} received`;
    case "declined":
      return `The customer declined the ${what}`;
    case "failed":
      if (code !== null && code in FILE_ERROR_WORDS) {
        return `The ${what} was not received. ${FILE_ERROR_WORDS[code]}`;
      }
      return kind === "scan"
        ? `The scanner failed${code ? ` (${code})` : ""}`
        : `The camera failed${code ? ` (${code})` : ""}`;
    case "cancelled":
      return `${KIND_WORDS[kind]} request cancelled`;
    default:
      return state;
  }
}

const FINAL_REQUEST_STATES = new Set(["received", "declined", "failed", "cancelled"]);

/** A relay request that went wrong: `code` is the hub's error code or "network". */
class RelayError extends Error {
  constructor(status, code) {
    super(code);
    this.name = "RelayError";
    this.status = status;
    this.code = code;
  }
}

/** A file name fit for file_offer: no control characters, at most 200 characters. */
export function offerName(name) {
  let clean = Array.from(String(name ?? ""))
    .map((c) => (/[\u0000-\u001f\u007f\ud800-\udfff]/u.test(c) ? "_" : c))
    .join("")
    .trim();
  if (clean === "") clean = "file";
  const chars = Array.from(clean);
  if (chars.length <= NAME_MAX) return clean;
  const dot = clean.lastIndexOf(".");
  const ext = dot > 0 ? Array.from(clean.slice(dot)).slice(0, 16) : [];
  return chars.slice(0, NAME_MAX - ext.length).concat(ext).join("");
}

/**
 * The exchange panel of the call view. `elements`: {panel, fileInput, showAtKiosk, dropZone,
 * error, sent, received, requests, requestScan, requestPhoto, shareScreen, screenState}.
 * `csrf()` gives the session's CSRF token, `maxFileBytes()` the tenant's limit (welcome).
 */
export class Exchange {
  constructor({ elements, csrf, maxFileBytes }) {
    this.el = elements;
    this.csrf = csrf;
    this.maxFileBytes = maxFileBytes;
    this.call = null;
    this.verified = false;
    this.unbind = null;
    this.outgoing = new Map(); // id -> entry (files we send)
    this.incoming = new Map(); // id -> entry (files the kiosk sends)
    this.requests = new Map(); // id -> entry (scan and photo requests)
    this.outbox = []; // messages that must reach the kiosk, held while the channel is down
    this.screen = null; // {track} while sharing
    this.bindControls();
    this.setEnabled(false);
  }

  // -- lifetime ---------------------------------------------------------------------------

  /** Start serving `call` (a Consultation); anything of a previous call is dropped first. */
  attach(call) {
    if (this.call === call) return;
    this.detach();
    this.call = call;
    // Nothing goes to the kiosk before it is verified (the words, or a resumed leg's proof).
    this.verified = false;
    const handlers = {
      exchange: (e) => this.onMessage(e.detail.message),
      "chat-ready": (e) => {
        this.setEnabled(this.verified && e.detail.ready);
        if (this.verified && e.detail.ready) this.flushOutbox();
      },
      verified: (e) => {
        this.verified = true;
        this.setEnabled(call.chatReady);
        if (e.detail.resumed && this.screen !== null) {
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
    for (const entry of this.outgoing.values()) this.abortOutgoing(entry);
    for (const entry of this.incoming.values()) this.dropIncoming(entry);
    this.outgoing.clear();
    this.incoming.clear();
    this.requests.clear();
    this.outbox = [];
    this.call = null;
    this.el.sent.replaceChildren();
    this.el.received.replaceChildren();
    this.el.requests.replaceChildren();
    this.showError("");
    this.el.showAtKiosk.checked = false;
    this.el.fileInput.value = "";
    this.setEnabled(false);
  }

  setEnabled(ready) {
    this.el.panel.dataset.ready = String(ready);
    for (const button of [this.el.requestScan, this.el.requestPhoto, this.el.shareScreen]) {
      button.disabled = !ready && !(button === this.el.shareScreen && this.screen !== null);
    }
    this.el.fileInput.disabled = !ready;
    this.el.fileLabel?.classList.toggle("is-disabled", !ready);
  }

  bindControls() {
    this.el.fileInput.addEventListener("change", () => {
      const files = [...this.el.fileInput.files];
      this.el.fileInput.value = "";
      this.sendFiles(files);
    });
    const zone = this.el.dropZone;
    zone.addEventListener("dragover", (event) => {
      if (this.call === null) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("is-over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("is-over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("is-over");
      if (this.call !== null) this.sendFiles([...(event.dataTransfer?.files ?? [])]);
    });
    this.el.requestScan.addEventListener("click", () => this.request("scan"));
    this.el.requestPhoto.addEventListener("click", () => this.request("photo"));
    this.el.shareScreen.addEventListener("click", () => {
      if (this.screen === null) this.startScreen();
      else this.stopScreen({ tell: true });
    });
  }

  // -- talking to the kiosk ---------------------------------------------------------------

  /** Send now if the channel is up; false otherwise (the message is dropped). */
  sendNow(message) {
    if (this.call === null) return false;
    try {
      return this.call.sendChannel(message);
    } catch {
      return false; // refused by protocol.js: a bug here, never the kiosk's fault
    }
  }

  /** Send, or hold until the channel is back (a resumed call still gets it). */
  sendReliably(message) {
    if (!this.sendNow(message)) this.outbox.push(message);
  }

  flushOutbox() {
    const held = this.outbox;
    this.outbox = [];
    for (const message of held) this.sendReliably(message);
  }

  onMessage(message) {
    switch (message.type) {
      case "file_offer":
        this.onOffer(message);
        break;
      case "file_progress":
        this.onProgress(message);
        break;
      case "file_done":
        this.onDone(message);
        break;
      case "file_error":
        this.onError(message);
        break;
      case "file_cancel":
        this.onCancel(message);
        break;
      case "request_status":
        this.onRequestStatus(message);
        break;
      default:
        break; // adviser -> kiosk messages (requests, screen_share) never come this way
    }
  }

  // -- sending files ----------------------------------------------------------------------

  sendFiles(files) {
    if (files.length === 0) return;
    if (this.el.panel.dataset.ready !== "true") {
      this.showError("Not connected to the kiosk right now; try again in a moment.");
      return;
    }
    this.showError("");
    const purpose = this.el.showAtKiosk.checked ? "document" : "file";
    // One send, one decision: the next file (or a retry of a refused one) is shown at the
    // kiosk only if the adviser ticks the box again.
    this.el.showAtKiosk.checked = false;
    for (const file of files) this.sendFile(file, purpose);
  }

  /** Check, seal, upload and offer one file. Refusals are said in plain words. */
  async sendFile(file, purpose = "file") {
    const call = this.call;
    if (call === null) return;
    const max = this.maxFileBytes() ?? DEFAULT_MAX_FILE_BYTES;
    if (file.size > max) {
      const sizes = `is ${formatBytes(file.size)}; files up to ${formatBytes(max)} can be sent`;
      this.showError(`“${file.name}” ${sizes}.`);
      return;
    }
    let mime;
    try {
      mime = sniffType(new Uint8Array(await file.slice(0, 8).arrayBuffer()));
    } catch {
      this.showError(`“${file.name}” could not be read.`);
      return;
    }
    if (mime === null || !ALLOWED_TYPES.includes(mime)) {
      const why = "only PDF, JPEG and PNG files are allowed";
      this.showError(`“${file.name}” cannot be sent: ${why}.`);
      return;
    }
    const entry = {
      id: newId(),
      name: offerName(file.name),
      size: file.size,
      mime,
      purpose,
      state: "sealing",
      done: 0,
      blob: null,
      sha256: null,
      abort: new AbortController(),
      xhr: null,
      li: null,
    };
    this.outgoing.set(entry.id, entry);
    this.renderOutgoing(entry);
    try {
      // Read once: the hash and the sealed bytes describe the same content.
      const data = await file.arrayBuffer();
      if (data.byteLength > max) throw new RelayError(413, "too_large");
      entry.size = data.byteLength;
      entry.sha256 = await sha256Hex(data);
      const key = newKey();
      const sealedBlob = await seal({
        id: entry.id,
        key,
        data,
        signal: entry.abort.signal,
        onProgress: (done) => this.setProgress(entry, "sealing", done / 2),
      });
      if (entry.state === "cancelled" || call !== this.call) return;
      entry.state = "uploading";
      let lastSent = 0;
      entry.blob = await this.upload(call.id, sealedBlob, entry, (loaded, total) => {
        const plain = Math.floor((loaded / Math.max(total, 1)) * entry.size);
        this.setProgress(entry, "uploading", entry.size / 2 + plain / 2);
        const now = Date.now();
        if (now - lastSent >= PROGRESS_INTERVAL_MS) {
          lastSent = now;
          this.sendNow({ type: "file_progress", id: entry.id, bytes: plain, size: entry.size });
        }
      });
      if (entry.state === "cancelled" || call !== this.call) {
        this.deleteBlob(call.id, entry);
        return;
      }
      this.sendNow({ type: "file_progress", id: entry.id, bytes: entry.size, size: entry.size });
      this.sendReliably({
        type: "file_offer",
        id: entry.id,
        name: entry.name,
        size: entry.size,
        mime: entry.mime,
        sha256: entry.sha256,
        purpose: entry.purpose,
        blob: entry.blob,
        key: toHex(key),
      });
      entry.state = "offered";
      this.renderOutgoing(entry);
    } catch (exc) {
      if (entry.state === "cancelled" || call !== this.call) return;
      // A network error after the last byte: the hub may have stored it all the same.
      if (entry.state === "uploading") this.cancelByName(call.id, entry);
      entry.state = "failed";
      entry.error = uploadErrorWords(exc);
      this.renderOutgoing(entry);
    }
  }

  /** POST the sealed blob to the relay with upload progress; resolves to the blob id. */
  upload(consultationId, body, entry, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      entry.xhr = xhr;
      xhr.open("POST", `/api/relay/${encodeURIComponent(consultationId)}`);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("Accept", "application/json");
      // Named, so a cancel reaches it even if the hub stored it before we learnt its id.
      xhr.setRequestHeader("X-Transfer-Id", entry.id);
      const token = this.csrf();
      if (token !== null) xhr.setRequestHeader("X-CSRF-Token", token);
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.total || body.size));
      xhr.addEventListener("load", () => {
        entry.xhr = null;
        const answer = xhr.response;
        if (xhr.status === 201 && typeof answer?.blob === "string") resolve(answer.blob);
        else reject(new RelayError(xhr.status, answer?.error ?? "http_error"));
      });
      xhr.addEventListener("error", () => reject(new RelayError(0, "network")));
      xhr.addEventListener("abort", () => reject(new RelayError(0, "aborted")));
      xhr.send(body);
    });
  }

  /** The relay no longer needs to hold our blob (delivered, refused or cancelled). */
  deleteBlob(consultationId, entry) {
    if (entry.blob === null) return;
    const blob = entry.blob;
    entry.blob = null;
    this.relayDelete(consultationId, encodeURIComponent(blob));
  }

  /** The hub drops our upload named entry.id, stored or still coming in (docs/exchange.md). */
  cancelByName(consultationId, entry) {
    this.relayDelete(consultationId, `transfer/${encodeURIComponent(entry.id)}`);
  }

  /** DELETE /api/relay/{consultation}/{what}: a blob, or `transfer/{id}` to cancel by name. */
  relayDelete(consultationId, what) {
    const headers = { Accept: "application/json" };
    const token = this.csrf();
    if (token !== null) headers["X-CSRF-Token"] = token;
    fetch(`/api/relay/${encodeURIComponent(consultationId)}/${what}`, {
      method: "DELETE",
      headers,
      credentials: "same-origin",
    }).catch(() => {}); // the hub drops it with the consultation anyway
  }

  /** The adviser's cancel: stop here, tell the kiosk, delete what the relay holds. */
  cancelOutgoing(id) {
    const entry = this.outgoing.get(id);
    if (entry === undefined || !["sealing", "uploading", "offered"].includes(entry.state)) return;
    this.abortOutgoing(entry);
    entry.state = "cancelled";
    this.sendReliably({ type: "file_cancel", id, reason: "cancelled" });
    this.renderOutgoing(entry);
  }

  abortOutgoing(entry) {
    entry.abort.abort();
    if (entry.xhr !== null) {
      entry.xhr.abort();
      entry.xhr = null;
      // Its last bytes may be at the hub already: cancel the transfer by its name there.
      if (this.call !== null) this.cancelByName(this.call.id, entry);
    }
    if (this.call !== null) this.deleteBlob(this.call.id, entry);
  }

  onDone(message) {
    const entry = this.outgoing.get(message.id);
    if (entry === undefined || entry.state !== "offered") return;
    if (message.sha256 === entry.sha256) {
      entry.state = "done";
    } else {
      entry.state = "failed";
      entry.error = "The kiosk stored different content; please send it again.";
    }
    this.deleteBlob(this.call.id, entry);
    this.renderOutgoing(entry);
  }

  onError(message) {
    const entry = this.outgoing.get(message.id);
    if (entry === undefined || !["uploading", "offered"].includes(entry.state)) return;
    entry.state = "failed";
    entry.error = `The kiosk refused it: ${FILE_ERROR_WORDS[message.code] ?? message.code}`;
    this.abortOutgoing(entry);
    this.renderOutgoing(entry);
  }

  setProgress(entry, state, done) {
    if (entry.state !== state) return;
    entry.done = Math.min(entry.size, Math.max(0, Math.floor(done)));
    this.renderOutgoing(entry);
  }

  // -- receiving files --------------------------------------------------------------------

  onProgress(message) {
    let entry = this.incoming.get(message.id);
    if (entry === undefined) {
      if (this.outgoing.has(message.id) || this.incoming.size >= INCOMING_MAX) return;
      entry = this.newIncoming({ id: message.id, name: "Incoming file", size: message.size });
      entry.state = "announced";
    }
    if (entry.state !== "announced") return;
    entry.size = message.size;
    entry.done = Math.min(message.bytes, message.size);
    this.renderIncoming(entry);
  }

  newIncoming({ id, name, size }) {
    const entry = {
      id,
      name,
      size,
      done: 0,
      state: "announced",
      offer: null,
      abort: null,
      url: null,
      mime: null,
      sha256: null,
      error: null,
      li: null,
    };
    this.incoming.set(id, entry);
    return entry;
  }

  /** A file from the kiosk: fetch it, open and check it chunk by chunk, then list it. */
  async onOffer(offer) {
    if (this.outgoing.has(offer.id)) return; // an id of ours: not an offer to us
    let entry = this.incoming.get(offer.id);
    if (entry === undefined && this.incoming.size >= INCOMING_MAX) {
      this.sendReliably({ type: "file_error", id: offer.id, code: "busy" });
      return;
    }
    if (entry !== undefined && entry.offer !== null && entry.state !== "cancelled") {
      // The same offer again (the kiosk resumed): answer again, never list it twice.
      if (entry.state === "done") {
        this.sendReliably({ type: "file_done", id: offer.id, sha256: entry.sha256 });
      } else if (entry.state === "failed") {
        this.sendReliably({ type: "file_error", id: offer.id, code: entry.code });
      }
      return;
    }
    const li = entry?.li ?? null; // announced by file_progress (or cancelled before): one line
    if (entry !== undefined) this.dropIncoming(entry);
    entry = this.newIncoming(offer);
    entry.li = li;
    entry.offer = offer;
    entry.purpose = offer.purpose;
    entry.requestId = offer.request_id ?? null;
    const max = this.maxFileBytes() ?? DEFAULT_MAX_FILE_BYTES;
    if (offer.size > max) {
      this.refuseIncoming(entry, "too_large");
      return;
    }
    if (!ALLOWED_TYPES.includes(offer.mime)) {
      this.refuseIncoming(entry, "type_not_allowed");
      return;
    }
    entry.state = "downloading";
    entry.done = 0;
    this.renderIncoming(entry);
    const call = this.call;
    let bytes;
    try {
      bytes = await this.download(call.id, entry, Math.min(max, offer.size));
    } catch (exc) {
      if (entry.state !== "downloading" || call !== this.call) return;
      this.refuseIncoming(entry, exc instanceof SealedError ? exc.code : "download_failed");
      return;
    }
    if (entry.state !== "downloading" || call !== this.call) return;
    let mime;
    try {
      mime = checkType(bytes, offer.mime);
    } catch (exc) {
      this.refuseIncoming(entry, exc instanceof SealedError ? exc.code : "type_not_allowed");
      return;
    }
    entry.mime = mime;
    entry.sha256 = offer.sha256; // the Opener checked the plaintext against it
    entry.url = URL.createObjectURL(new Blob([bytes], { type: mime }));
    entry.state = "done";
    entry.done = entry.size;
    this.sendReliably({ type: "file_done", id: offer.id, sha256: entry.sha256 });
    this.renderIncoming(entry);
    if (entry.requestId !== null) this.requestAnswered(entry.requestId, "received");
  }

  /** GET the sealed blob and open it as it streams in; the checked plaintext bytes. */
  async download(consultationId, entry, limit) {
    const offer = entry.offer;
    entry.abort = new AbortController();
    const headers = { Accept: "application/octet-stream" };
    const token = this.csrf();
    if (token !== null) headers["X-CSRF-Token"] = token;
    const response = await fetch(
      `/api/relay/${encodeURIComponent(consultationId)}/${encodeURIComponent(offer.blob)}`,
      { headers, credentials: "same-origin", cache: "no-store", signal: entry.abort.signal },
    );
    if (!response.ok || response.body === null) throw new RelayError(response.status, "download");
    const opener = new Opener({
      id: offer.id,
      key: offer.key,
      size: offer.size,
      sha256: offer.sha256,
      limit,
    });
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await opener.push(value);
      entry.done = Math.min(opener.received, entry.size);
      this.renderIncoming(entry);
    }
    return opener.finish();
  }

  refuseIncoming(entry, code) {
    entry.state = "failed";
    entry.code = code;
    entry.error = FILE_ERROR_WORDS[code] ?? "The file could not be received.";
    this.sendReliably({ type: "file_error", id: entry.id, code });
    this.renderIncoming(entry);
    if (entry.requestId) this.requestAnswered(entry.requestId, "failed", code);
  }

  onCancel(message) {
    const outgoing = this.outgoing.get(message.id);
    if (outgoing !== undefined) {
      if (!["sealing", "uploading", "offered"].includes(outgoing.state)) return;
      this.abortOutgoing(outgoing);
      outgoing.state = "cancelled";
      outgoing.error = "The kiosk stopped this transfer.";
      this.renderOutgoing(outgoing);
      return;
    }
    const entry = this.incoming.get(message.id);
    if (entry === undefined || entry.state === "cancelled") return;
    this.dropIncoming(entry);
    entry.state = "cancelled";
    this.renderIncoming(entry);
  }

  /** Forget the bytes of a received file (cancelled, or the call ended). */
  dropIncoming(entry) {
    entry.abort?.abort();
    entry.abort = null;
    if (entry.url !== null) URL.revokeObjectURL(entry.url);
    entry.url = null;
  }

  // -- scan and photo requests ------------------------------------------------------------

  request(kind) {
    if (this.call === null) return;
    const id = newId();
    const message = { type: kind === "scan" ? "scan_request" : "photo_request", id };
    if (!this.sendNow(message)) {
      this.showError("Not connected to the kiosk right now; try again in a moment.");
      return;
    }
    this.showError("");
    const entry = { id, kind, state: "asked", progress: 0, pages: 0, code: null, li: null };
    this.requests.set(id, entry);
    this.renderRequest(entry);
  }

  cancelRequest(id) {
    const entry = this.requests.get(id);
    if (entry === undefined || FINAL_REQUEST_STATES.has(entry.state)) return;
    this.sendReliably({ type: "request_cancel", id });
    entry.state = "cancelled";
    this.renderRequest(entry);
  }

  onRequestStatus(message) {
    let entry = this.requests.get(message.id);
    if (entry === undefined) {
      // A request of this call made before this console was reloaded.
      entry = { id: message.id, kind: message.kind, li: null };
      this.requests.set(message.id, entry);
    } else if (FINAL_REQUEST_STATES.has(entry.state)) {
      return;
    }
    Object.assign(entry, {
      kind: message.kind,
      state: message.state,
      progress: message.progress,
      pages: message.pages,
      code: message.code ?? null,
    });
    this.renderRequest(entry);
  }

  /** The file answering a request arrived ("received") or was refused ("failed"). */
  requestAnswered(id, state, code = null) {
    const entry = this.requests.get(id);
    if (entry === undefined || FINAL_REQUEST_STATES.has(entry.state)) return;
    entry.state = state;
    entry.code = code;
    this.renderRequest(entry);
  }

  // -- screen share -----------------------------------------------------------------------

  async startScreen() {
    const call = this.call;
    if (call === null || this.screen !== null) return;
    if (!call.screenShareReady) {
      this.showError("This kiosk cannot show your screen in this call.");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      this.showError("Screen sharing was not started.");
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (call !== this.call || track === undefined) {
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    this.showError("");
    this.screen = { track };
    track.addEventListener("ended", () => {
      if (this.screen?.track === track) this.stopScreen({ tell: true });
    });
    try {
      await call.setScreenTrack(track);
    } catch {
      this.stopScreen({ tell: false });
      this.showError("The screen could not be shared.");
      return;
    }
    this.sendReliably({ type: "screen_share", active: true });
    this.renderScreen();
  }

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
    const sharing = this.screen !== null;
    this.el.shareScreen.textContent = sharing ? "Stop sharing" : "Share screen";
    this.el.shareScreen.setAttribute("aria-pressed", String(sharing));
    this.el.screenState.hidden = !sharing;
    this.setEnabled(this.verified && (this.call?.chatReady ?? false));
  }

  // -- rendering --------------------------------------------------------------------------

  showError(text) {
    this.el.error.textContent = text;
    this.el.error.hidden = text === "";
  }

  renderOutgoing(entry) {
    const li = this.item(entry, this.el.sent, "out");
    const words = {
      sealing: "Encrypting…",
      uploading: "Uploading…",
      offered: "Waiting for the kiosk to check it…",
      done: entry.purpose === "document" ? "Shown at the kiosk" : "Delivered",
      failed: entry.error ?? "Not sent",
      cancelled: entry.error ?? "Cancelled",
    }[entry.state];
    const moving = entry.state === "sealing" || entry.state === "uploading";
    this.fill(li, entry.state, words, moving ? [entry.done, entry.size] : null, () => {
      const parts = [this.headline(entry), element("span", "transfer-status", words)];
      if (moving) parts.push(progressBar(entry.done, entry.size));
      if (["sealing", "uploading", "offered"].includes(entry.state)) {
        const cancel = () => this.cancelOutgoing(entry.id);
        const label = `Cancel sending ${entry.name}`;
        parts.push(this.button("Cancel", label, "transfer-cancel", cancel));
      }
      return parts;
    });
  }

  renderIncoming(entry) {
    const li = this.item(entry, this.el.received, "in");
    const words = {
      announced: "The kiosk is preparing a file…",
      downloading: "Receiving and checking…",
      done: `Received, checked — ${formatBytes(entry.size)}`,
      failed: entry.error ?? "Not received",
      cancelled: "Cancelled by the kiosk; nothing was kept",
    }[entry.state];
    const moving = entry.state === "announced" || entry.state === "downloading";
    this.fill(li, entry.state, words, moving ? [entry.done, entry.size] : null, () => {
      const parts = [this.headline(entry), element("span", "transfer-status", words)];
      if (moving) parts.push(progressBar(entry.done, entry.size));
      if (entry.state === "done" && entry.url !== null) parts.push(...this.received(entry));
      return parts;
    });
  }

  /** Download link, and a preview (pictures) or an Open link (PDF: CSP allows no frame). */
  received(entry) {
    const link = element("a", "button download", "Download");
    link.href = entry.url;
    link.download = entry.name;
    link.setAttribute("aria-label", `Download ${entry.name}`);
    if (entry.mime.startsWith("image/")) {
      const img = element("img", "transfer-preview");
      img.src = entry.url;
      img.alt = `Preview of ${entry.name}`;
      return [link, img];
    }
    const open = element("a", "button button-quiet open", "Open");
    open.href = entry.url;
    open.target = "_blank";
    open.rel = "noopener";
    open.setAttribute("aria-label", `Open ${entry.name}`);
    return [link, open];
  }

  renderRequest(entry) {
    const li = this.item(entry, this.el.requests, "request");
    li.dataset.kind = entry.kind;
    const words = requestWords(entry);
    const moving = entry.state === "scanning";
    this.fill(li, entry.state, words, moving ? [entry.progress, 100] : null, () => {
      const parts = [
        element("span", "transfer-name", `${KIND_WORDS[entry.kind] ?? "Request"} request`),
        element("span", "transfer-status", words),
      ];
      if (moving) parts.push(progressBar(entry.progress, 100));
      if (!FINAL_REQUEST_STATES.has(entry.state)) {
        const cancel = () => this.cancelRequest(entry.id);
        const label = `Cancel the ${entry.kind} request`;
        parts.push(this.button("Cancel", label, "request-cancel", cancel));
      }
      return parts;
    });
  }

  /**
   * Put `build()`'s elements in `li`; while the state stays the same (`shape`) only the words
   * and the progress change, in place: progress comes many times a second, and rebuilding
   * would pull the Cancel button away from under the adviser's pointer.
   */
  fill(li, shape, words, progress, build) {
    if (li.dataset.shape === shape) {
      li.querySelector(".transfer-status").textContent = words;
      const bar = li.querySelector(".transfer-progress");
      if (bar !== null && progress !== null) {
        bar.max = Math.max(progress[1], 1);
        bar.value = Math.min(progress[0], bar.max);
      }
      return;
    }
    li.dataset.shape = shape;
    li.replaceChildren(...build());
  }

  item(entry, list, direction) {
    if (entry.li === null) {
      entry.li = element("li", "transfer");
      entry.li.dataset.transferId = entry.id;
      entry.li.dataset.direction = direction;
      list.prepend(entry.li);
    }
    entry.li.dataset.state = entry.state;
    if (entry.purpose !== undefined) entry.li.dataset.purpose = entry.purpose;
    return entry.li;
  }

  headline(entry) {
    const head = element("span", "transfer-name", entry.name);
    const tag = { document: "shown at kiosk", scan: "scan", photo: "photo" }[entry.purpose];
    if (tag !== undefined) head.append(element("span", "transfer-tag", tag));
    return head;
  }

  button(text, label, className, onClick) {
    const button = element("button", `button button-quiet ${className}`, text);
    button.type = "button";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", onClick);
    return button;
  }
}

function progressBar(done, total) {
  const bar = element("progress", "transfer-progress");
  bar.max = Math.max(total, 1);
  bar.value = Math.min(done, bar.max);
  return bar;
}

function uploadErrorWords(exc) {
  if (exc instanceof RelayError) {
    if (exc.code === "too_large") return "The hub refused it: the file is over the size limit.";
    if (exc.code === "relay_full") return "The hub is busy; try again in a few minutes.";
    if (exc.status === 404) return "The call is no longer live.";
    if (exc.status === 401 || exc.status === 403) {
      return "Your session has expired; reload the page.";
    }
    if (exc.code === "network") return "The hub cannot be reached.";
  }
  return "The file could not be sent.";
}
