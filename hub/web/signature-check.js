// The console's check of a PDF signed at the kiosk (docs/exchange.md, "Signature requests"): it
// must be an incremental update of exactly the bytes the adviser meant, and its last signature must
// cover everything but its own /Contents. Structure only: whether the signature is valid and whom
// to trust is the verifier's job (kiosk-verify). The signer's certificate is read from the CMS in
// /Contents with our DER reader (der.js, x509.js). No DOM, no network.

import {
  DerError,
  TAG,
  children,
  encodingOf,
  hexOf,
  readIntegerBytes,
  readOid,
  readTlv,
} from "./der.js";
import { parseCertificate } from "./x509.js";

/** @typedef {import("./x509.js").X509Certificate} X509Certificate */

const SIGNED_DATA = "1.2.840.113549.1.7.2";
const ASCII = new TextDecoder("latin1");
// Short names for the subject attributes a CA puts in a device certificate (RFC 4514).
/** @type {Readonly<Record<string, string>>} */
const NAME_KEYS = {
  "2.5.4.3": "CN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
};

/**
 * @typedef {"not_signed" | "prefix" | "byte_range" | "not_covered" | "contents" | "cms"}
 *   SignedPdfCode
 */

/** A signed PDF that fails the console's check; `code` says which check, the message why. */
export class SignedPdfError extends Error {
  /**
   * @param {SignedPdfCode} code
   * @param {string} message plain words for the adviser
   */
  constructor(code, message) {
    super(message);
    this.name = "SignedPdfError";
    this.code = code;
  }
}

/**
 * What the console shows of a signed PDF that passed the check.
 * @typedef {object} SignedFacts
 * @property {number} originalLength bytes of the original, a prefix of the signed file
 * @property {[number, number, number, number]} byteRange the last signature's /ByteRange
 * @property {string} subject the signer certificate's subject, "CN=…, O=…"
 * @property {string | null} device the signer certificate's common name (the kiosk's name)
 * @property {Date | null} signedAt the signature dictionary's /M
 */

/**
 * Check `signed` against the `original` the signature was asked for; SignedPdfError if it is
 * not an incremental update of exactly those bytes covered by its last signature.
 * @param {Uint8Array} original
 * @param {Uint8Array} signed
 * @returns {SignedFacts}
 */
export function checkSignedPdf(original, signed) {
  if (signed.length <= original.length) {
    throw new SignedPdfError("not_signed", "it is not longer than the document that was sent");
  }
  for (let i = 0; i < original.length; i += 1) {
    if (signed[i] !== original[i]) {
      throw new SignedPdfError("prefix", `it differs from the document sent at byte ${i}`);
    }
  }
  const at = lastIndexOf(signed, "/ByteRange");
  if (at < original.length) {
    throw new SignedPdfError("not_signed", "the kiosk added no signature to the document");
  }
  const range = readByteRange(signed, at + "/ByteRange".length);
  const [start, a, b, c] = range;
  if (start !== 0 || a < original.length || b <= a || b + c !== signed.length) {
    throw new SignedPdfError(
      "not_covered",
      `its signature does not cover the whole file (byte range ${range.join(" ")}, ` +
        `${signed.length} bytes)`,
    );
  }
  if (at >= a && at < b) throw new SignedPdfError("byte_range", "the byte range is misplaced");
  const cms = contentsOf(signed, a, b);
  // The /ByteRange and the /Contents it leaves out must be of one signature dictionary.
  const between = ASCII.decode(signed.subarray(Math.min(at, b), Math.max(at, a)));
  if (/endobj|>>/.test(between)) {
    throw new SignedPdfError("byte_range", "the byte range belongs to another object");
  }
  const signer = signerCertificate(cms);
  return {
    originalLength: original.length,
    byteRange: range,
    subject: subjectText(signer),
    device: signer.subject.cn,
    signedAt: signingTime(signed, a, b),
  };
}

/**
 * @param {Uint8Array} bytes
 * @param {string} text ASCII
 */
function lastIndexOf(bytes, text) {
  const needle = Array.from(text, (ch) => ch.charCodeAt(0));
  outer: for (let i = bytes.length - needle.length; i >= 0; i -= 1) {
    for (let j = 0; j < needle.length; j += 1) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * `[0 a b c]` after /ByteRange.
 * @param {Uint8Array} bytes
 * @param {number} from
 * @returns {[number, number, number, number]}
 */
function readByteRange(bytes, from) {
  const text = ASCII.decode(bytes.subarray(from, from + 120));
  const match = /^\s*\[\s*(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s*\]/.exec(text);
  if (match === null) throw new SignedPdfError("byte_range", "its /ByteRange cannot be read");
  const [, s, a, b, c] = match.map(Number);
  return [s, a, b, c];
}

/**
 * The DER of the CMS in the hex string that fills bytes a..b exactly, preceded by /Contents.
 * @param {Uint8Array} bytes
 * @param {number} a
 * @param {number} b
 */
function contentsOf(bytes, a, b) {
  const hex = ASCII.decode(bytes.subarray(a, b));
  if (!/^<(?:[0-9A-Fa-f]{2})+>$/.test(hex)) {
    const why = "the bytes left out of the signature are not its hex string";
    throw new SignedPdfError("contents", why);
  }
  const before = ASCII.decode(bytes.subarray(Math.max(0, a - 40), a)).trimEnd();
  if (!before.endsWith("/Contents")) {
    throw new SignedPdfError("contents", "the bytes left out of the signature are not /Contents");
  }
  const der = new Uint8Array((hex.length - 2) / 2);
  for (let i = 0; i < der.length; i += 1) der[i] = parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16);
  return der;
}

/**
 * The certificate of the (first) signer of a CMS SignedData; its /Contents is zero-padded.
 * @param {Uint8Array} padded
 * @returns {X509Certificate}
 */
function signerCertificate(padded) {
  try {
    const outer = readTlv(padded, 0);
    if (padded.subarray(outer.end).some((byte) => byte !== 0)) {
      throw new DerError("trailing", "bytes after the signature");
    }
    const [type, wrapped] = children(outer, TAG.SEQUENCE);
    if (wrapped === undefined || readOid(type) !== SIGNED_DATA || wrapped.tag !== 0xa0) {
      throw new DerError("cms", "not a CMS SignedData");
    }
    const [signedData] = children(wrapped);
    const parts = children(signedData, TAG.SEQUENCE);
    const certSet = parts.find((part) => part.tag === 0xa0);
    const signerInfos = parts[parts.length - 1];
    if (certSet === undefined || signerInfos === undefined) {
      throw new DerError("cms", "the signature carries no certificate");
    }
    const [signerInfo] = children(signerInfos, TAG.SET);
    if (signerInfo === undefined) throw new DerError("cms", "the signature has no signer");
    const [, sid] = children(signerInfo, TAG.SEQUENCE);
    if (sid === undefined || sid.tag !== TAG.SEQUENCE) {
      throw new DerError("cms", "the signer is not named by issuer and serial number");
    }
    const [issuer, serial] = children(sid);
    const issuerDer = encodingOf(issuer);
    const serialHex = hexOf(readIntegerBytes(serial));
    for (const tlv of children(certSet)) {
      if (tlv.tag !== TAG.SEQUENCE) continue; // other certificate choices
      const cert = parseCertificate(encodingOf(tlv));
      if (cert.serial === serialHex && sameBytes(cert.issuer.der, issuerDer)) return cert;
    }
    throw new DerError("cms", "the signer's certificate is not in the signature");
  } catch (exc) {
    if (exc instanceof DerError) {
      throw new SignedPdfError("cms", `its signature cannot be read (${exc.message})`);
    }
    throw exc;
  }
}

/**
 * /M of the signature dictionary around bytes a..b: "D:YYYYMMDDHHmmSS" and an offset.
 * @param {Uint8Array} bytes
 * @param {number} a
 * @param {number} b
 */
function signingTime(bytes, a, b) {
  const start = Math.max(0, a - 4096);
  const text = ASCII.decode(bytes.subarray(start, a)) + ASCII.decode(bytes.subarray(b, b + 4096));
  const from = text.lastIndexOf(" obj", a - start);
  const to = text.indexOf("endobj", a - start);
  const dictionary = text.slice(from < 0 ? 0 : from, to < 0 ? undefined : to);
  const literal = /\/M\s*\(((?:[^()\\]|\\[\s\S]){1,80})\)/.exec(dictionary);
  if (literal === null) return null;
  const m = /^D:(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(Z|[+-]\d{2}'?\d{2}'?)?/.exec(
    unescapeLiteral(literal[1]),
  );
  if (m === null) return null;
  const [, year, month, day, hour, minute, second, zone = "Z"] = m;
  const bare = zone.replaceAll("'", "");
  const offset = bare === "Z" ? "Z" : `${bare.slice(0, 3)}:${bare.slice(3, 5)}`;
  const date = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}${offset}`);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * A PDF literal string's escapes undone (ISO 32000-1, 7.3.4.2): pyHanko writes ":" as \072.
 * @param {string} text
 */
function unescapeLiteral(text) {
  /** @type {Record<string, string>} */
  const named = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f" };
  return text.replace(/\\([0-7]{1,3}|[\s\S])/g, (_all, c) =>
    /^[0-7]/.test(c) ? String.fromCharCode(parseInt(c, 8) & 0xff) : (named[c] ?? c),
  );
}

/**
 * "CN=kiosk-7, O=Acme Bank" (the attributes in their order).
 * @param {X509Certificate} cert
 */
function subjectText(cert) {
  return cert.subject.attributes.map((a) => `${NAME_KEYS[a.oid] ?? a.oid}=${a.value}`).join(", ");
}

/**
 * @param {Uint8Array} x
 * @param {Uint8Array} y
 */
function sameBytes(x, y) {
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
