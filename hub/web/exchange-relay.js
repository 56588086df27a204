// The console's client of the hub's relay (docs/exchange.md "The hub's relay"): sealed blobs
// go up with POST /api/relay/{consultation}, come down with GET and go away with DELETE. The
// hub only ever sees ciphertext; sealing and opening are sealed.js's business.

/** A relay request that went wrong: `code` is the hub's error code or "network". */
export class RelayError extends Error {
  /**
   * @param {number} status the HTTP status, 0 when there was no answer
   * @param {string} code
   */
  constructor(status, code) {
    super(code);
    this.name = "RelayError";
    this.status = status;
    this.code = code;
  }
}

/**
 * @typedef {object} UploadRequest
 * @property {string} consultationId
 * @property {string} transferId named in X-Transfer-Id, so a cancel can reach the upload
 * @property {Blob} body the sealed blob
 * @property {AbortSignal} signal aborts the upload (and cancels it at the hub by its name)
 * @property {(loaded: number, total: number) => void} onProgress bytes sent so far
 */

/** HTTP to the hub's relay for the adviser's session. */
export class RelayClient {
  /** @param {() => string | null} csrf the session's CSRF token (sent on every request) */
  constructor(csrf) {
    this.csrf = csrf;
  }

  /**
   * POST the sealed blob with upload progress; resolves to the relay's blob id. An upload that
   * fails or is aborted while under way is also cancelled by its name: the hub may have stored
   * its last bytes all the same, and the blob id in its answer was never read.
   * @param {UploadRequest} request
   * @returns {Promise<string>}
   */
  upload({ consultationId, transferId, body, signal, onProgress }) {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new RelayError(0, "aborted"));
        return;
      }
      const xhr = new XMLHttpRequest();
      const onAbort = () => {
        xhr.abort();
        this.cancelTransfer(consultationId, transferId);
      };
      /** @param {RelayError} error */
      const fail = (error) => {
        signal.removeEventListener("abort", onAbort);
        if (!signal.aborted) this.cancelTransfer(consultationId, transferId);
        reject(error);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      xhr.open("POST", relayUrl(consultationId));
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-Transfer-Id", transferId);
      const token = this.csrf();
      if (token !== null) xhr.setRequestHeader("X-CSRF-Token", token);
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.total || body.size));
      xhr.addEventListener("load", () => {
        /** @type {unknown} */
        const answer = xhr.response;
        const blob = field(answer, "blob");
        if (xhr.status === 201 && typeof blob === "string") {
          signal.removeEventListener("abort", onAbort);
          resolve(blob);
        } else {
          const code = field(answer, "error");
          fail(new RelayError(xhr.status, typeof code === "string" ? code : "http_error"));
        }
      });
      xhr.addEventListener("error", () => fail(new RelayError(0, "network")));
      xhr.addEventListener("abort", () => fail(new RelayError(0, "aborted")));
      xhr.send(body);
    });
  }

  /**
   * GET a sealed blob; its bytes as they stream in. Throws RelayError on an HTTP error, and
   * what fetch throws when the network fails or `signal` aborts.
   * @param {string} consultationId
   * @param {string} blob
   * @param {AbortSignal} signal
   * @returns {Promise<ReadableStream<Uint8Array>>}
   */
  async download(consultationId, blob, signal) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/octet-stream" };
    const token = this.csrf();
    if (token !== null) headers["X-CSRF-Token"] = token;
    const response = await fetch(`${relayUrl(consultationId)}/${encodeURIComponent(blob)}`, {
      headers,
      credentials: "same-origin",
      cache: "no-store",
      signal,
    });
    if (!response.ok || response.body === null) throw new RelayError(response.status, "download");
    return response.body;
  }

  /**
   * The relay no longer needs to hold our blob (delivered, refused or cancelled).
   * @param {string} consultationId
   * @param {string} blob
   */
  deleteBlob(consultationId, blob) {
    this.delete(consultationId, encodeURIComponent(blob));
  }

  /**
   * The hub drops our upload named `transferId`, stored or still coming in.
   * @param {string} consultationId
   * @param {string} transferId
   */
  cancelTransfer(consultationId, transferId) {
    this.delete(consultationId, `transfer/${encodeURIComponent(transferId)}`);
  }

  /**
   * DELETE /api/relay/{consultation}/{what}; never fails (the hub drops it all with the call).
   * @param {string} consultationId
   * @param {string} what already URL-encoded
   */
  delete(consultationId, what) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json" };
    const token = this.csrf();
    if (token !== null) headers["X-CSRF-Token"] = token;
    fetch(`${relayUrl(consultationId)}/${what}`, {
      method: "DELETE",
      headers,
      credentials: "same-origin",
    }).catch(() => {});
  }
}

/** @param {string} consultationId */
function relayUrl(consultationId) {
  return `/api/relay/${encodeURIComponent(consultationId)}`;
}

/**
 * A field of a JSON answer that may be anything (or nothing).
 * @param {unknown} answer
 * @param {string} name
 * @returns {unknown}
 */
function field(answer, name) {
  if (typeof answer !== "object" || answer === null) return undefined;
  return Object.hasOwn(answer, name) ? /** @type {Record<string, unknown>} */ (answer)[name] : undefined;
}
