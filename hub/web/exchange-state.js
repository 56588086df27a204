// Where each transfer and request of the current call stands (docs/exchange.md): the rules of
// the exchange without DOM or network, so exchange.js only wires them to the relay and the view.

import { FILE_ERROR_WORDS } from "./exchange-words.js";
import { ALLOWED_TYPES } from "./sealed.js";

/**
 * @typedef {import("./exchange-types.js").OutgoingTransfer} OutgoingTransfer
 * @typedef {import("./exchange-types.js").OutgoingState} OutgoingState
 * @typedef {import("./exchange-types.js").IncomingTransfer} IncomingTransfer
 * @typedef {import("./exchange-types.js").ExchangeRequest} ExchangeRequest
 * @typedef {import("./exchange-types.js").RequestKind} RequestKind
 * @typedef {import("./exchange-types.js").RequestState} RequestState
 * @typedef {import("./exchange-types.js").FilePurpose} FilePurpose
 * @typedef {import("./exchange-types.js").FileOffer} FileOffer
 * @typedef {import("./exchange-types.js").FileProgress} FileProgress
 * @typedef {import("./exchange-types.js").RequestStatus} RequestStatus
 * @typedef {import("./exchange-types.js").OutgoingMessage} OutgoingMessage
 */

const NAME_MAX = 200;
// A kiosk announcing more transfers than this in one call is not listened to any more.
export const INCOMING_MAX = 100;
export const DEFAULT_MAX_FILE_BYTES = 25 * 1024 * 1024;

/** @type {ReadonlySet<RequestState>} */
export const FINAL_REQUEST_STATES = new Set(["received", "declined", "failed", "cancelled"]);

/** Outgoing states the adviser (or the kiosk) can still cancel. */
const CANCELLABLE = new Set(["sealing", "uploading", "offered"]);

/**
 * A file name fit for file_offer: no control characters, at most 200 characters.
 * @param {unknown} name
 * @returns {string}
 */
export function offerName(name) {
  let clean = Array.from(String(name ?? ""))
    .map((c) => (isControlOrLoneSurrogate(c) ? "_" : c))
    .join("")
    .trim();
  if (clean === "") clean = "file";
  const chars = Array.from(clean);
  if (chars.length <= NAME_MAX) return clean;
  const dot = clean.lastIndexOf(".");
  const ext = dot > 0 ? Array.from(clean.slice(dot)).slice(0, 16) : [];
  return chars.slice(0, NAME_MAX - ext.length).concat(ext).join("");
}

/** @param {string} c one code point (or a lone surrogate) */
function isControlOrLoneSurrogate(c) {
  const code = c.codePointAt(0) ?? 0;
  return code < 0x20 || code === 0x7f || (code >= 0xd800 && code <= 0xdfff);
}

/**
 * What to do with a file_offer (see Transfers.offer).
 * @typedef {{do: "ignore"}
 *   | {do: "reply", message: OutgoingMessage}
 *   | {do: "refuse", entry: IncomingTransfer, code: string}
 *   | {do: "download", entry: IncomingTransfer}} OfferDecision
 */

/** The transfers and requests of one call. No DOM, no network: callers do the talking. */
export class Transfers {
  constructor() {
    /** @type {Map<string, OutgoingTransfer>} files we send */
    this.outgoing = new Map();
    /** @type {Map<string, IncomingTransfer>} files the kiosk sends */
    this.incoming = new Map();
    /** @type {Map<string, ExchangeRequest>} scan and photo requests */
    this.requests = new Map();
  }

  /** Forget everything (the call ended). */
  clear() {
    this.outgoing.clear();
    this.incoming.clear();
    this.requests.clear();
  }

  // -- files we send ----------------------------------------------------------------------

  /**
   * A file the adviser sends, checked and about to be sealed.
   * @param {{id: string, name: string, size: number, mime: string, purpose: FilePurpose}} file
   * @returns {OutgoingTransfer}
   */
  addOutgoing({ id, name, size, mime, purpose }) {
    /** @type {OutgoingTransfer} */
    const entry = {
      id,
      name,
      size,
      mime,
      purpose,
      state: "sealing",
      done: 0,
      sha256: null,
      blob: null,
      error: null,
    };
    this.outgoing.set(id, entry);
    return entry;
  }

  /**
   * The file was read whole: its real size and the SHA-256 its file_offer will carry.
   * @param {OutgoingTransfer} entry
   * @param {number} size
   * @param {string} sha256
   */
  hashed(entry, size, sha256) {
    entry.size = size;
    entry.sha256 = sha256;
  }

  /**
   * Sealed; the upload to the relay starts.
   * @param {OutgoingTransfer} entry
   */
  uploading(entry) {
    entry.state = "uploading";
  }

  /**
   * The relay holds the sealed file as `blob` (until we delete it).
   * @param {OutgoingTransfer} entry
   * @param {string} blob
   */
  uploaded(entry, blob) {
    entry.blob = blob;
  }

  /**
   * Progress of sealing or uploading; false if the transfer is no longer in `state`.
   * @param {OutgoingTransfer} entry
   * @param {OutgoingState} state
   * @param {number} done
   */
  progress(entry, state, done) {
    if (entry.state !== state) return false;
    entry.done = Math.min(entry.size, Math.max(0, Math.floor(done)));
    return true;
  }

  /**
   * The file_offer that tells the kiosk where the uploaded file waits.
   * @param {OutgoingTransfer} entry
   * @param {string} key the file's key, hex
   * @returns {OutgoingMessage}
   */
  offered(entry, key) {
    if (entry.sha256 === null || entry.blob === null) throw new TypeError("not uploaded yet");
    entry.state = "offered";
    return {
      type: "file_offer",
      id: entry.id,
      name: entry.name,
      size: entry.size,
      mime: entry.mime,
      sha256: entry.sha256,
      purpose: entry.purpose,
      blob: entry.blob,
      key,
    };
  }

  /**
   * Cancel one of our transfers if it is still under way: the entry, or null.
   * @param {string} id
   * @param {string | null} why plain words, or null for the adviser's own cancel
   * @returns {OutgoingTransfer | null}
   */
  cancelOutgoing(id, why) {
    const entry = this.outgoing.get(id);
    if (entry === undefined || !CANCELLABLE.has(entry.state)) return null;
    entry.state = "cancelled";
    entry.error = why;
    return entry;
  }

  /**
   * The kiosk's file_done: delivered if its hash is ours. The entry, or null if not ours now.
   * @param {string} id
   * @param {string} sha256
   */
  delivered(id, sha256) {
    const entry = this.outgoing.get(id);
    if (entry === undefined || entry.state !== "offered") return null;
    if (sha256 === entry.sha256) {
      entry.state = "done";
    } else {
      entry.state = "failed";
      entry.error = "The kiosk stored different content; please send it again.";
    }
    return entry;
  }

  /**
   * The kiosk's file_error about one of ours. The entry, or null if not ours now.
   * @param {string} id
   * @param {string} code
   */
  refusedByKiosk(id, code) {
    const entry = this.outgoing.get(id);
    if (entry === undefined || !["uploading", "offered"].includes(entry.state)) return null;
    entry.state = "failed";
    entry.error = `The kiosk refused it: ${FILE_ERROR_WORDS[code] ?? code}`;
    return entry;
  }

  /**
   * Sealing or uploading failed with `words`.
   * @param {OutgoingTransfer} entry
   * @param {string} words
   */
  failed(entry, words) {
    entry.state = "failed";
    entry.error = words;
  }

  // -- files the kiosk sends --------------------------------------------------------------

  /**
   * @param {{id: string, name: string, size: number}} file
   * @returns {IncomingTransfer}
   */
  newIncoming({ id, name, size }) {
    /** @type {IncomingTransfer} */
    const entry = {
      id,
      name,
      size,
      done: 0,
      state: "announced",
      offer: null,
      requestId: null,
      mime: null,
      sha256: null,
      code: null,
      error: null,
    };
    this.incoming.set(id, entry);
    return entry;
  }

  /**
   * The kiosk's file_progress before its offer: the entry to show, or null.
   * @param {FileProgress} message
   */
  announced(message) {
    let entry = this.incoming.get(message.id);
    if (entry === undefined) {
      if (this.outgoing.has(message.id) || this.incoming.size >= INCOMING_MAX) return null;
      entry = this.newIncoming({ id: message.id, name: "Incoming file", size: message.size });
    }
    if (entry.state !== "announced") return null;
    entry.size = message.size;
    entry.done = Math.min(message.bytes, message.size);
    return entry;
  }

  /**
   * A file_offer from the kiosk: ignore it, answer it again, refuse it or download it.
   * @param {FileOffer} offer
   * @param {number} maxBytes the tenant's limit for one file
   * @returns {OfferDecision}
   */
  offer(offer, maxBytes) {
    if (this.outgoing.has(offer.id)) return { do: "ignore" }; // an id of ours: not an offer to us
    const known = this.incoming.get(offer.id);
    if (known === undefined && this.incoming.size >= INCOMING_MAX) {
      return { do: "reply", message: { type: "file_error", id: offer.id, code: "busy" } };
    }
    if (known !== undefined && known.offer !== null && known.state !== "cancelled") {
      // The same offer again (the kiosk resumed): answer again, never list it twice.
      if (known.state === "done" && known.sha256 !== null) {
        return { do: "reply", message: { type: "file_done", id: offer.id, sha256: known.sha256 } };
      }
      if (known.state === "failed" && known.code !== null) {
        return { do: "reply", message: { type: "file_error", id: offer.id, code: known.code } };
      }
      return { do: "ignore" };
    }
    // Announced by file_progress, or cancelled before: this offer takes its place.
    const entry = this.newIncoming(offer);
    entry.offer = offer;
    entry.purpose = offer.purpose;
    entry.requestId = offer.request_id ?? null;
    if (offer.size > maxBytes) return { do: "refuse", entry, code: "too_large" };
    if (!ALLOWED_TYPES.includes(offer.mime)) return { do: "refuse", entry, code: "type_not_allowed" };
    entry.state = "downloading";
    return { do: "download", entry };
  }

  /**
   * Bytes of an offered file came in; false once it is no longer downloading.
   * @param {IncomingTransfer} entry
   * @param {number} received
   */
  downloaded(entry, received) {
    if (entry.state !== "downloading") return false;
    entry.done = Math.min(received, entry.size);
    return true;
  }

  /**
   * The offered file arrived and checked out as `mime`; the request it answers, if any.
   * @param {IncomingTransfer} entry
   * @param {string} mime
   * @returns {ExchangeRequest | null}
   */
  received(entry, mime) {
    entry.mime = mime;
    entry.sha256 = entry.offer?.sha256 ?? null; // the Opener checked the plaintext against it
    entry.state = "done";
    entry.done = entry.size;
    return entry.requestId === null ? null : this.requestAnswered(entry.requestId, "received");
  }

  /**
   * We refuse the kiosk's file with a file_error `code`; the request it answered, if any.
   * @param {IncomingTransfer} entry
   * @param {string} code
   * @returns {ExchangeRequest | null}
   */
  refuseIncoming(entry, code) {
    entry.state = "failed";
    entry.code = code;
    entry.error = FILE_ERROR_WORDS[code] ?? "The file could not be received.";
    return entry.requestId ? this.requestAnswered(entry.requestId, "failed", code) : null;
  }

  /**
   * The kiosk's file_cancel: the transfer it stops (ours or its), or null.
   * @param {string} id
   * @returns {{outgoing: OutgoingTransfer} | {incoming: IncomingTransfer} | null}
   */
  cancelledByKiosk(id) {
    if (this.outgoing.has(id)) {
      const entry = this.cancelOutgoing(id, "The kiosk stopped this transfer.");
      return entry === null ? null : { outgoing: entry };
    }
    const entry = this.incoming.get(id);
    if (entry === undefined || entry.state === "cancelled") return null;
    entry.state = "cancelled";
    return { incoming: entry };
  }

  // -- scan and photo requests ------------------------------------------------------------

  /**
   * @param {string} id
   * @param {RequestKind} kind
   * @returns {ExchangeRequest}
   */
  addRequest(id, kind) {
    /** @type {ExchangeRequest} */
    const entry = { id, kind, state: "asked", progress: 0, pages: 0, code: null };
    this.requests.set(id, entry);
    return entry;
  }

  /**
   * The adviser's cancel: the request, or null if it is over already.
   * @param {string} id
   */
  cancelRequest(id) {
    const entry = this.requests.get(id);
    if (entry === undefined || FINAL_REQUEST_STATES.has(entry.state)) return null;
    entry.state = "cancelled";
    return entry;
  }

  /**
   * The kiosk's request_status: the request to show, or null if it is over already.
   * @param {RequestStatus} message
   * @returns {ExchangeRequest | null}
   */
  requestStatus(message) {
    const known = this.requests.get(message.id);
    if (known !== undefined && FINAL_REQUEST_STATES.has(known.state)) return null;
    // Unknown: a request of this call made before this console was reloaded.
    const entry = known ?? this.addRequest(message.id, message.kind);
    entry.kind = message.kind;
    entry.state = message.state;
    entry.progress = message.progress ?? 0;
    entry.pages = message.pages ?? 0;
    entry.code = message.code ?? null;
    return entry;
  }

  /**
   * The file answering a request arrived ("received") or was refused ("failed").
   * @param {string} id
   * @param {"received" | "failed"} state
   * @param {string | null} [code]
   * @returns {ExchangeRequest | null}
   */
  requestAnswered(id, state, code = null) {
    const entry = this.requests.get(id);
    if (entry === undefined || FINAL_REQUEST_STATES.has(entry.state)) return null;
    entry.state = state;
    entry.code = code;
    return entry;
  }
}
