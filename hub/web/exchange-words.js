// Plain words for the exchange panel: what the adviser reads about files, scans and photos.

import { RelayError } from "./exchange-relay.js";

/**
 * @typedef {import("./exchange-types.js").RequestKind} RequestKind
 * @typedef {import("./exchange-types.js").RequestState} RequestState
 */

/**
 * Plain words for file_error codes (ours and the kiosk's).
 * @type {Readonly<Record<string, string>>}
 */
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

/** @type {Readonly<Record<RequestKind, string>>} */
export const KIND_WORDS = { scan: "Scan", photo: "Photo" };


/**
 * Plain words for where a scan or photo request stands.
 * @param {{kind: RequestKind, state: RequestState, progress?: number, pages?: number,
 *   code?: string | null}} request
 * @returns {string}
 */
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

/**
 * Plain words for an upload that failed (sealing it, or the relay's answer).
 * @param {unknown} exc
 * @returns {string}
 */
export function uploadErrorWords(exc) {
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
