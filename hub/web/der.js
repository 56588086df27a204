// A small DER reader of our own (no build step, no vendored library): just enough of X.690 to
// take an X.509 certificate apart for the device proof (device-proof.js). Strict DER only:
// definite minimal lengths, low tag numbers, nothing after the end. Anything else throws a
// DerError; it never reads outside the bytes it was given, and it never loops without
// consuming input, so hostile bytes end quickly in that one typed error.

export const TAG = Object.freeze({
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
});

const MAX_LENGTH_OCTETS = 4;

export const OID = Object.freeze({
  commonName: "2.5.4.3",
  organizationName: "2.5.4.10",
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  documentSigning: "1.3.6.1.5.5.7.3.36",
});

// RFC 5280 4.2.1.3, in bit order.
export const KEY_USAGE_BITS = Object.freeze([
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
]);

/** Bytes that are not the DER we expect; `code` says what in one word, `message` in a few. */
export class DerError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "DerError";
    this.code = code;
  }
}

/**
 * One TLV: its tag, where its value lies in `bytes`, and where it ends.
 * @typedef {object} Tlv
 * @property {Uint8Array} bytes the buffer it was read from
 * @property {number} tag
 * @property {number} start offset of the tag byte
 * @property {number} valueStart
 * @property {number} end offset just past the value
 */

/**
 * Read the TLV at `offset`, within `limit`.
 * @param {Uint8Array} bytes
 * @param {number} offset
 * @param {number} [limit] read nothing at or past this offset (default: the end)
 * @returns {Tlv}
 */
export function readTlv(bytes, offset, limit = bytes.length) {
  if (!(bytes instanceof Uint8Array)) throw new DerError("type", "DER input must be bytes");
  if (offset + 2 > limit) throw new DerError("truncated", "a TLV runs past the end");
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError("tag", "high tag numbers are not supported");
  let length = bytes[offset + 1];
  let valueStart = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0) throw new DerError("length", "indefinite length is not DER");
    if (octets > MAX_LENGTH_OCTETS) throw new DerError("length", "a length that long is not ours");
    if (valueStart + octets > limit) throw new DerError("truncated", "a length runs past the end");
    if (bytes[valueStart] === 0) throw new DerError("length", "a length with a leading zero");
    length = 0;
    for (let i = 0; i < octets; i += 1) length = length * 256 + bytes[valueStart + i];
    if (length < 0x80) throw new DerError("length", "a long-form length under 128 is not DER");
    valueStart += octets;
  }
  const end = valueStart + length;
  if (end > limit) throw new DerError("truncated", "a value runs past the end");
  return { bytes, tag, start: offset, valueStart, end };
}

/**
 * The single TLV filling `bytes` (nothing before or after it).
 * @param {Uint8Array} bytes
 * @param {number} [tag] the tag it must have
 */
export function parseDer(bytes, tag) {
  const tlv = readTlv(bytes, 0);
  if (tlv.end !== bytes.length) throw new DerError("trailing", "bytes after the end of the DER");
  if (tag !== undefined) expectTag(tlv, tag);
  return tlv;
}

/**
 * @param {Tlv} tlv
 * @param {number} tag
 */
export function expectTag(tlv, tag) {
  if (tlv.tag !== tag) {
    throw new DerError("tag", `expected tag 0x${hex2(tag)}, found 0x${hex2(tlv.tag)}`);
  }
  return tlv;
}

/**
 * The TLVs inside a constructed `tlv`, which must fill its value exactly.
 * @param {Tlv} tlv
 * @param {number} [tag] the tag `tlv` must have
 * @returns {Tlv[]}
 */
export function children(tlv, tag) {
  if (tag !== undefined) expectTag(tlv, tag);
  if (!(tlv.tag & 0x20)) throw new DerError("tag", "a primitive value has no children");
  const out = [];
  let at = tlv.valueStart;
  while (at < tlv.end) {
    const child = readTlv(tlv.bytes, at, tlv.end);
    out.push(child);
    at = child.end; // always past `at`: a TLV is at least two bytes
  }
  return out;
}

/**
 * The value bytes of `tlv` (a view, not a copy).
 * @param {Tlv} tlv
 */
export function valueOf(tlv) {
  return tlv.bytes.subarray(tlv.valueStart, tlv.end);
}

/**
 * The whole encoding of `tlv`, tag and length included (a view).
 * @param {Tlv} tlv
 */
export function encodingOf(tlv) {
  return tlv.bytes.subarray(tlv.start, tlv.end);
}

/**
 * An OBJECT IDENTIFIER as dotted decimal.
 * @param {Tlv} tlv
 */
export function readOid(tlv) {
  const value = valueOf(expectTag(tlv, TAG.OID));
  if (value.length === 0) throw new DerError("oid", "an empty object identifier");
  if (value[value.length - 1] & 0x80) throw new DerError("oid", "an unfinished object identifier");
  /** @type {number[]} */
  const arcs = [];
  let arc = 0;
  let fresh = true;
  for (const byte of value) {
    if (fresh && byte === 0x80) throw new DerError("oid", "an arc with a leading zero");
    if (arc > Number.MAX_SAFE_INTEGER / 128) throw new DerError("oid", "an arc too large");
    arc = arc * 128 + (byte & 0x7f);
    fresh = !(byte & 0x80);
    if (fresh) {
      arcs.push(arc);
      arc = 0;
    }
  }
  const first = arcs[0];
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join(".");
}

/**
 * An INTEGER's two's-complement bytes, minimal as DER demands.
 * @param {Tlv} tlv
 */
export function readIntegerBytes(tlv) {
  const value = valueOf(expectTag(tlv, TAG.INTEGER));
  if (value.length === 0) throw new DerError("integer", "an empty integer");
  if (value.length > 1) {
    const redundant =
      (value[0] === 0x00 && !(value[1] & 0x80)) || (value[0] === 0xff && value[1] & 0x80);
    if (redundant) throw new DerError("integer", "an integer that is not minimal");
  }
  return value;
}

/**
 * A small non-negative INTEGER (versions, path lengths).
 * @param {Tlv} tlv
 */
export function readSmallInteger(tlv) {
  const value = readIntegerBytes(tlv);
  if (value[0] & 0x80) throw new DerError("integer", "a negative integer");
  if (value.length > 4) throw new DerError("integer", "an integer too large here");
  return value.reduce((n, b) => n * 256 + b, 0);
}

/**
 * A BOOLEAN (DER: 0x00 or 0xff).
 * @param {Tlv} tlv
 */
export function readBoolean(tlv) {
  const value = valueOf(expectTag(tlv, TAG.BOOLEAN));
  if (value.length !== 1 || (value[0] !== 0 && value[0] !== 0xff)) {
    throw new DerError("boolean", "a boolean that is not DER");
  }
  return value[0] === 0xff;
}

/**
 * A BIT STRING: its bytes and the number of unused bits in the last one.
 * @param {Tlv} tlv
 * @returns {{bytes: Uint8Array, unusedBits: number}}
 */
export function readBitString(tlv) {
  const value = valueOf(expectTag(tlv, TAG.BIT_STRING));
  if (value.length === 0) throw new DerError("bit_string", "a bit string without its header");
  const unusedBits = value[0];
  if (unusedBits > 7 || (value.length === 1 && unusedBits !== 0)) {
    throw new DerError("bit_string", "a bit string with a wrong unused-bit count");
  }
  const bytes = value.subarray(1);
  if (unusedBits > 0 && bytes[bytes.length - 1] & ((1 << unusedBits) - 1)) {
    throw new DerError("bit_string", "a bit string with unused bits set");
  }
  return { bytes, unusedBits };
}

/**
 * The bytes of a BIT STRING that must be whole bytes (keys, signatures).
 * @param {Tlv} tlv
 */
export function readOctetAlignedBits(tlv) {
  const { bytes, unusedBits } = readBitString(tlv);
  if (unusedBits !== 0) throw new DerError("bit_string", "a key or signature not in whole bytes");
  return bytes;
}

/**
 * A UTCTime or GeneralizedTime in the form RFC 5280 allows (UTC, "Z", whole seconds).
 * @param {Tlv} tlv
 * @returns {Date}
 */
export function readTime(tlv) {
  const text = asciiOf(valueOf(tlv));
  let match;
  let year;
  if (tlv.tag === TAG.UTC_TIME) {
    match = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (match === null) throw new DerError("time", "a UTCTime not of the form YYMMDDHHMMSSZ");
    const yy = Number(match[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy; // RFC 5280 4.1.2.5.1
  } else if (tlv.tag === TAG.GENERALIZED_TIME) {
    match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (match === null) {
      throw new DerError("time", "a GeneralizedTime not of the form YYYYMMDDHHMMSSZ");
    }
    year = Number(match[1]);
  } else {
    throw new DerError("tag", "expected a UTCTime or a GeneralizedTime");
  }
  const [month, day, hour, minute, second] = match.slice(2).map(Number);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(ms);
  // Date.UTC rolls 31 February over into March; a real time reads back the same.
  if (
    month < 1 ||
    month > 12 ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day
  ) {
    throw new DerError("time", "a time that does not exist");
  }
  return date;
}

/**
 * A directory string (UTF8String, PrintableString or IA5String).
 * @param {Tlv} tlv
 */
export function readString(tlv) {
  const value = valueOf(tlv);
  if (tlv.tag === TAG.UTF8_STRING) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(value);
    } catch {
      throw new DerError("string", "a UTF8String that is not UTF-8");
    }
  }
  if (tlv.tag === TAG.PRINTABLE_STRING || tlv.tag === TAG.IA5_STRING) {
    if (value.some((b) => b > 0x7e || b < 0x20)) {
      throw new DerError("string", "a string with characters its type does not allow");
    }
    return asciiOf(value);
  }
  throw new DerError("string", `a string type this reader does not know (0x${hex2(tlv.tag)})`);
}

/**
 * @param {Uint8Array} bytes
 */
function asciiOf(bytes) {
  return String.fromCharCode(...bytes);
}

/** @param {number} n */
function hex2(n) {
  return n.toString(16).padStart(2, "0");
}

/**
 * Lower-case hex of `bytes`.
 * @param {Uint8Array} bytes
 */
export function hexOf(bytes) {
  return Array.from(bytes, hex2).join("");
}
