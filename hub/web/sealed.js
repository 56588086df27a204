// The sealed file format of docs/exchange.md ("Sealed format"), the same bytes as
// protocol/sealed.py: a file crosses the hub's relay only as AES-256-GCM records, the key and
// the plaintext's SHA-256 travel on the end-to-end data channel. WebCrypto does the cipher.
//
//   blob    = header record*
//   header  = "BKS1" u32be(chunk_size)                  1024 <= chunk_size <= 1 MiB
//   record  = u32be(index) u8(final) u32be(length) ciphertext[length]
//   nonce   = u32be(0) u64be(index)
//   aad     = "BKS1" u8(len(id)) id u32be(index) u8(final)

export const MAGIC = "BKS1";
export const HEADER_BYTES = 8;
export const RECORD_HEADER_BYTES = 9;
export const TAG_BYTES = 16;
export const MIN_CHUNK_SIZE = 1024;
export const MAX_CHUNK_SIZE = 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 256 * 1024;
export const KEY_BYTES = 32;

/** The codes of docs/exchange.md, in the order the opener checks them. */
export const SEALED_CODES = /** @type {const} */ ([
  "corrupt",
  "duplicate",
  "out_of_order",
  "too_large",
  "truncated",
  "hash_mismatch",
  "type_not_allowed",
]);

/**
 * The types a transfer may carry: sniffed from the first bytes, never taken on trust.
 * @type {readonly string[]}
 */
export const ALLOWED_TYPES = ["application/pdf", "image/jpeg", "image/png"];

const MAGIC_BYTES = new TextEncoder().encode(MAGIC);
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const TRANSFER_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** A sealed blob that must not be trusted; `code` is one of SEALED_CODES. */
export class SealedError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   */
  constructor(code, message = code) {
    super(message);
    this.name = "SealedError";
    this.code = code;
  }
}

/**
 * The sealed size of `size` plaintext bytes (header, record headers and tags added).
 * @param {number} size
 * @param {number} [chunkSize]
 */
export function sealedSize(size, chunkSize = DEFAULT_CHUNK_SIZE) {
  const records = size === 0 ? 1 : Math.ceil(size / chunkSize);
  return HEADER_BYTES + size + records * (RECORD_HEADER_BYTES + TAG_BYTES);
}

/**
 * A fresh random 256-bit key (a new one per file keeps the counter nonce safe).
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function newKey() {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}

/** A fresh random transfer or request id matching [A-Za-z0-9_-]{8,64}. */
export function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return toHex(bytes);
}

/**
 * Lower-case hex of bytes.
 * @param {ArrayLike<number>} bytes
 */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Bytes of lower-case hex; SealedError("corrupt") for anything else.
 * @param {string} hex
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function fromHex(hex) {
  if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new SealedError("corrupt", "not lower-case hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * SHA-256 of bytes (ArrayBuffer or view), lower-case hex.
 * @param {BufferSource} bytes
 */
export async function sha256Hex(bytes) {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/**
 * The type of a file from its first bytes (PDF, JPEG, PNG), or null for anything else.
 * @param {Uint8Array | ArrayBuffer} bytes
 * @returns {string | null}
 */
export function sniffType(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (b.length >= 5 && startsWith(b, [0x25, 0x50, 0x44, 0x46, 0x2d])) return "application/pdf";
  if (b.length >= 3 && startsWith(b, [0xff, 0xd8, 0xff])) return "image/jpeg";
  if (b.length >= 8 && startsWith(b, PNG_SIGNATURE)) return "image/png";
  return null;
}

/**
 * Refuse content whose sniffed type is not allowed or disagrees with the claimed mime.
 * @param {Uint8Array | ArrayBuffer} bytes
 * @param {string | null} [claimedMime]
 * @returns {string} the sniffed type
 */
export function checkType(bytes, claimedMime = null) {
  const sniffed = sniffType(bytes);
  if (sniffed === null || !ALLOWED_TYPES.includes(sniffed)) {
    throw new SealedError("type_not_allowed", "not a PDF, JPEG or PNG");
  }
  if (claimedMime !== null && claimedMime !== sniffed) {
    throw new SealedError("type_not_allowed", "the claimed type does not match the content");
  }
  return sniffed;
}

/**
 * @param {Uint8Array} bytes
 * @param {ArrayLike<number>} prefix
 */
function startsWith(bytes, prefix) {
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** @param {unknown} id */
function checkId(id) {
  if (typeof id !== "string" || !TRANSFER_ID.test(id)) throw new TypeError("bad transfer id");
}

/**
 * @param {string | Uint8Array<ArrayBuffer>} key 32 bytes, or 64 hex digits
 * @param {KeyUsage} usage
 */
async function importKey(key, usage) {
  const raw = typeof key === "string" ? fromHex(key) : key;
  if (!(raw instanceof Uint8Array) || raw.length !== KEY_BYTES) {
    throw new TypeError("the key must be 32 bytes");
  }
  return crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, [usage]);
}

/** @param {number} index */
function nonce(index) {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  // u32be(0) u64be(index); index < 2**32, so the u64's high word is 0 as well.
  view.setUint32(8, index);
  return out;
}

/**
 * @param {string} id
 * @param {number} index
 * @param {boolean} final
 */
function aad(id, index, final) {
  const idBytes = new TextEncoder().encode(id);
  const out = new Uint8Array(4 + 1 + idBytes.length + 4 + 1);
  out.set(MAGIC_BYTES, 0);
  out[4] = idBytes.length;
  out.set(idBytes, 5);
  const view = new DataView(out.buffer);
  view.setUint32(5 + idBytes.length, index);
  out[9 + idBytes.length] = final ? 1 : 0;
  return out;
}

/**
 * @param {number} index
 * @param {string} id
 * @param {boolean} final
 * @returns {AesGcmParams}
 */
function gcm(index, id, final) {
  const additionalData = aad(id, index, final);
  return { name: "AES-GCM", iv: nonce(index), additionalData, tagLength: 128 };
}

/**
 * Seal `data` (a Blob/File, an ArrayBuffer or a Uint8Array) for transfer `id` under `key`
 * (32 bytes or 64 hex digits). Returns a Blob of the sealed bytes. `onProgress(done, size)` is
 * called after each chunk; `signal` (an AbortSignal) stops between chunks.
 * @param {object} options
 * @param {string} options.id
 * @param {string | Uint8Array<ArrayBuffer>} options.key
 * @param {Blob | ArrayBuffer | Uint8Array<ArrayBuffer>} options.data
 * @param {number} [options.chunkSize]
 * @param {((done: number, size: number) => void) | null} [options.onProgress]
 * @param {AbortSignal | null} [options.signal]
 * @returns {Promise<Blob>}
 */
export async function seal({
  id,
  key,
  data,
  chunkSize = DEFAULT_CHUNK_SIZE,
  onProgress = null,
  signal = null,
}) {
  checkId(id);
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new RangeError("chunk size out of range");
  }
  const cryptoKey = await importKey(key, "encrypt");
  const blob = data instanceof Blob ? data : new Blob([data]);
  const size = blob.size;
  const header = new Uint8Array(HEADER_BYTES);
  header.set(MAGIC_BYTES, 0);
  new DataView(header.buffer).setUint32(4, chunkSize);
  const parts = [header];
  let index = 0;
  let offset = 0;
  for (;;) {
    if (signal?.aborted) throw new DOMException("sealing cancelled", "AbortError");
    const end = Math.min(offset + chunkSize, size);
    const final = end === size;
    const chunk = await blob.slice(offset, end).arrayBuffer();
    const sealed = await crypto.subtle.encrypt(gcm(index, id, final), cryptoKey, chunk);
    const head = new Uint8Array(RECORD_HEADER_BYTES);
    const view = new DataView(head.buffer);
    view.setUint32(0, index);
    head[4] = final ? 1 : 0;
    view.setUint32(5, sealed.byteLength);
    parts.push(head, new Uint8Array(sealed));
    offset = end;
    onProgress?.(offset, size);
    if (final) break;
    index += 1;
  }
  return new Blob(parts, { type: "application/octet-stream" });
}

/**
 * Opens a sealed stream record by record: push() the bytes as they arrive, then finish().
 * Every check of docs/exchange.md raises SealedError with its code; nothing is returned
 * before the whole file, its size and its SHA-256 have checked out.
 */
export class Opener {
  /**
   * @param {object} expected what the file_offer announced
   * @param {string} expected.id the transfer id (bound into every record)
   * @param {string | Uint8Array<ArrayBuffer>} expected.key
   * @param {number} expected.size plaintext bytes
   * @param {string} expected.sha256 of the plaintext, lower-case hex
   * @param {number} [expected.limit] at most this many plaintext bytes (too_large)
   */
  constructor({ id, key, size, sha256, limit = Number.MAX_SAFE_INTEGER }) {
    checkId(id);
    this.id = id;
    this.keyPromise = importKey(key, "decrypt");
    this.keyPromise.catch(() => {});
    this.size = size;
    this.sha256 = sha256;
    this.limit = limit;
    this.pending = new Uint8Array(0);
    /** @type {number | null} from the header */
    this.chunkSize = null;
    this.expected = 0;
    this.done = false;
    /** @type {Uint8Array<ArrayBuffer>[]} */
    this.plain = [];
    this.received = 0;
    /** @type {SealedError | null} */
    this.failed = null;
  }

  /**
   * Add bytes; decrypts every complete record.
   * @param {Uint8Array | ArrayBuffer} bytes
   */
  async push(bytes) {
    if (this.failed !== null) throw this.failed;
    try {
      this.append(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
      await this.drain();
    } catch (exc) {
      this.fail(exc);
    }
  }

  /**
   * The end of the stream: returns the plaintext once every check passed.
   * @returns {Promise<Uint8Array<ArrayBuffer>>}
   */
  async finish() {
    if (this.failed !== null) throw this.failed;
    try {
      if (!this.done) throw new SealedError("truncated", "the stream ended before its last record");
      const out = new Uint8Array(this.received);
      let at = 0;
      for (const part of this.plain) {
        out.set(part, at);
        at += part.length;
      }
      this.plain = [];
      if (out.length !== this.size) throw new SealedError("corrupt", "the size differs");
      if ((await sha256Hex(out)) !== this.sha256) {
        throw new SealedError("hash_mismatch", "the SHA-256 differs");
      }
      return out;
    } catch (exc) {
      return this.fail(exc);
    }
  }

  /**
   * Remember the first failure (as a SealedError), drop what came so far, and throw it.
   * @param {unknown} exc
   * @returns {never}
   */
  fail(exc) {
    this.plain = [];
    this.pending = new Uint8Array(0);
    this.failed = exc instanceof SealedError ? exc : new SealedError("corrupt", String(exc));
    throw this.failed;
  }

  /** @param {Uint8Array} bytes */
  append(bytes) {
    if (bytes.length === 0) return;
    const joined = new Uint8Array(this.pending.length + bytes.length);
    joined.set(this.pending, 0);
    joined.set(bytes, this.pending.length);
    this.pending = joined;
  }

  /** @param {number} n */
  consume(n) {
    const head = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return head;
  }

  readHeader() {
    if (this.pending.length < HEADER_BYTES) return false; // finish() calls a short one truncated
    const head = this.consume(HEADER_BYTES);
    if (!startsWith(head, MAGIC_BYTES)) throw new SealedError("corrupt", "not a sealed blob");
    const chunkSize = new DataView(head.buffer, head.byteOffset, 8).getUint32(4);
    if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
      throw new SealedError("corrupt", "chunk size out of range");
    }
    this.chunkSize = chunkSize;
    return true;
  }

  async drain() {
    const key = await this.keyPromise;
    if (this.chunkSize === null && !this.readHeader()) return;
    const chunkSize = this.chunkSize;
    if (chunkSize === null) return; // readHeader() set it
    while (this.pending.length > 0) {
      if (this.done) throw new SealedError("corrupt", "bytes after the last record");
      if (this.pending.length < RECORD_HEADER_BYTES) return;
      const view = new DataView(this.pending.buffer, this.pending.byteOffset, RECORD_HEADER_BYTES);
      const index = view.getUint32(0);
      const finalByte = this.pending[4];
      const length = view.getUint32(5);
      if (index < this.expected) throw new SealedError("duplicate", "a record came twice");
      if (index > this.expected) throw new SealedError("out_of_order", "a record was skipped");
      if (length > chunkSize + TAG_BYTES) throw new SealedError("corrupt", "record too long");
      if (finalByte > 1) throw new SealedError("corrupt", "bad final flag");
      const final = finalByte === 1;
      if (!final && length !== chunkSize + TAG_BYTES) {
        throw new SealedError("corrupt", "a record before the last is not full");
      }
      if (length < TAG_BYTES) throw new SealedError("corrupt", "record too short");
      if (this.pending.length < RECORD_HEADER_BYTES + length) return;
      this.consume(RECORD_HEADER_BYTES);
      const sealed = this.consume(length).slice(); // WebCrypto wants its own buffer
      let chunk;
      try {
        const params = gcm(index, this.id, final);
        chunk = new Uint8Array(await crypto.subtle.decrypt(params, key, sealed));
      } catch {
        throw new SealedError("corrupt", "a record does not verify");
      }
      if (this.received + chunk.length > Math.min(this.size, this.limit)) {
        throw new SealedError("too_large", "more than announced");
      }
      this.received += chunk.length;
      this.plain.push(chunk);
      this.expected += 1;
      if (final) this.done = true;
    }
  }
}

/**
 * Open a whole sealed blob (ArrayBuffer or Uint8Array) and check it: chunk by chunk, then the
 * size, the SHA-256 and, when `mime` is given, the sniffed type. Returns {bytes, mime}.
 * @param {object} sealed
 * @param {string} sealed.id
 * @param {string | Uint8Array<ArrayBuffer>} sealed.key
 * @param {ArrayBuffer | Uint8Array} sealed.blob
 * @param {number} sealed.size
 * @param {string} sealed.sha256
 * @param {string | null} [sealed.mime] the claimed type, checked against the content
 * @param {number} [sealed.limit]
 * @returns {Promise<{bytes: Uint8Array<ArrayBuffer>, mime: string | null}>}
 */
export async function openSealed({ id, key, blob, size, sha256, mime = null, limit }) {
  const opener = new Opener({ id, key, size, sha256, limit });
  const all = blob instanceof Uint8Array ? blob : new Uint8Array(blob);
  // Record by record, as a stream would come: the checks then run in the documented order.
  await opener.push(all);
  const bytes = await opener.finish();
  const sniffed = mime === null ? sniffType(bytes) : checkType(bytes, mime);
  return { bytes, mime: sniffed };
}
