// An X.509 certificate (RFC 5280) taken apart with our DER reader (der.js): the parts the
// device proof checks (device-proof.js). Parsing only; whether to trust it is the caller's.

import {
  DerError,
  KEY_USAGE_BITS,
  OID,
  TAG,
  children,
  encodingOf,
  expectTag,
  hexOf,
  parseDer,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOctetAlignedBits,
  readOid,
  readSmallInteger,
  readString,
  readTime,
  valueOf,
} from "./der.js";

/** @typedef {import("./der.js").Tlv} Tlv */

/**
 * A name's attributes in order, and its encoding (issuer and subject chain by exact bytes).
 * @typedef {object} X509Name
 * @property {{oid: string, value: string}[]} attributes
 * @property {string | null} cn the first commonName
 * @property {string | null} o the first organizationName
 * @property {Uint8Array} der
 */

/**
 * The extensions the device proof looks at; `unknownCritical` lists the critical ones it does
 * not understand (a verifier must refuse a certificate with any: RFC 5280 4.2).
 * @typedef {object} X509Extensions
 * @property {{ca: boolean, pathLength: number | null} | null} basicConstraints
 * @property {Set<string> | null} keyUsage names from KEY_USAGE_BITS
 * @property {string[] | null} extKeyUsage OIDs
 * @property {Set<string>} critical OIDs of the critical extensions
 * @property {string[]} unknownCritical
 */

/**
 * An X.509 certificate taken apart.
 * @typedef {object} X509Certificate
 * @property {Uint8Array} der the whole certificate
 * @property {Uint8Array} tbs the signed part (tbsCertificate, tag and length included)
 * @property {number} version 1, 2 or 3
 * @property {string} serial lower-case hex of the serial number's bytes
 * @property {string} signatureAlgorithm OID (outer, equal to the inner one)
 * @property {Uint8Array} signature the signature value (for ECDSA: a DER Ecdsa-Sig-Value)
 * @property {X509Name} issuer
 * @property {X509Name} subject
 * @property {Date} notBefore
 * @property {Date} notAfter
 * @property {Uint8Array} spki the SubjectPublicKeyInfo, as WebCrypto's importKey("spki") takes it
 * @property {string} keyAlgorithm OID
 * @property {string | null} keyCurve OID of an EC key's named curve
 * @property {X509Extensions} extensions
 */

/**
 * Take a DER certificate apart; DerError for anything that is not a well-formed one.
 * @param {Uint8Array} der
 * @returns {X509Certificate}
 */
export function parseCertificate(der) {
  const [tbsTlv, outerAlgorithm, signatureTlv, ...extra] = children(parseDer(der), TAG.SEQUENCE);
  if (signatureTlv === undefined || extra.length > 0) {
    throw new DerError("certificate", "a certificate has three parts");
  }
  const tbs = children(tbsTlv, TAG.SEQUENCE);
  let at = 0;
  let version = 1;
  if (tbs[0]?.tag === 0xa0) {
    const [versionTlv, ...more] = children(tbs[0]);
    if (versionTlv === undefined || more.length > 0) throw new DerError("version", "a bad version");
    version = readSmallInteger(versionTlv) + 1;
    if (version < 2 || version > 3) throw new DerError("version", "an unknown version");
    at = 1;
  }
  const [serialTlv, innerAlgorithm, issuerTlv, validityTlv, subjectTlv, spkiTlv, ...rest] =
    tbs.slice(at);
  if (spkiTlv === undefined) throw new DerError("certificate", "a tbsCertificate is too short");
  const signatureAlgorithm = readAlgorithm(outerAlgorithm).oid;
  if (readAlgorithm(innerAlgorithm).oid !== signatureAlgorithm) {
    throw new DerError("certificate", "the two signature algorithms differ");
  }
  const [notBeforeTlv, notAfterTlv, ...late] = children(validityTlv, TAG.SEQUENCE);
  if (notAfterTlv === undefined || late.length > 0) {
    throw new DerError("validity", "a bad validity");
  }
  const key = readSpki(spkiTlv);
  return {
    der,
    tbs: encodingOf(tbsTlv),
    version,
    serial: hexOf(readIntegerBytes(serialTlv)),
    signatureAlgorithm,
    signature: readOctetAlignedBits(signatureTlv),
    issuer: readName(issuerTlv),
    subject: readName(subjectTlv),
    notBefore: readTime(notBeforeTlv),
    notAfter: readTime(notAfterTlv),
    spki: encodingOf(spkiTlv),
    keyAlgorithm: key.algorithm,
    keyCurve: key.curve,
    extensions: readExtensions(rest, version),
  };
}

/**
 * An AlgorithmIdentifier: its OID and its parameters' TLV, if any.
 * @param {Tlv | undefined} tlv
 */
function readAlgorithm(tlv) {
  if (tlv === undefined) throw new DerError("certificate", "an algorithm is missing");
  const [oidTlv, parameters, ...more] = children(tlv, TAG.SEQUENCE);
  if (oidTlv === undefined || more.length > 0) throw new DerError("algorithm", "a bad algorithm");
  return { oid: readOid(oidTlv), parameters: parameters ?? null };
}

/** @param {Tlv} tlv */
function readSpki(tlv) {
  const [algorithmTlv, keyTlv, ...more] = children(tlv, TAG.SEQUENCE);
  if (keyTlv === undefined || more.length > 0) throw new DerError("key", "a bad public key info");
  const { oid, parameters } = readAlgorithm(algorithmTlv);
  readOctetAlignedBits(keyTlv);
  const curve = oid === OID.ecPublicKey && parameters?.tag === TAG.OID ? readOid(parameters) : null;
  return { algorithm: oid, curve };
}

/**
 * @param {Tlv} tlv
 * @returns {X509Name}
 */
function readName(tlv) {
  /** @type {{oid: string, value: string}[]} */
  const attributes = [];
  for (const rdn of children(tlv, TAG.SEQUENCE)) {
    const members = children(rdn, TAG.SET);
    if (members.length === 0) throw new DerError("name", "an empty name component");
    for (const member of members) {
      const [oidTlv, valueTlv, ...more] = children(member, TAG.SEQUENCE);
      if (valueTlv === undefined || more.length > 0) throw new DerError("name", "a bad attribute");
      attributes.push({ oid: readOid(oidTlv), value: readString(valueTlv) });
    }
  }
  const first = (/** @type {string} */ oid) =>
    attributes.find((a) => a.oid === oid)?.value ?? null;
  return {
    attributes,
    cn: first(OID.commonName),
    o: first(OID.organizationName),
    der: encodingOf(tlv),
  };
}

/**
 * The optional parts after the key: [1] and [2] unique ids (skipped), [3] extensions.
 * @param {Tlv[]} rest
 * @param {number} version
 * @returns {X509Extensions}
 */
function readExtensions(rest, version) {
  /** @type {X509Extensions} */
  const out = {
    basicConstraints: null,
    keyUsage: null,
    extKeyUsage: null,
    critical: new Set(),
    unknownCritical: [],
  };
  let previous = 0;
  for (const part of rest) {
    const number = part.tag & 0x1f;
    if ((part.tag & 0xc0) !== 0x80 || number < 1 || number > 3 || number <= previous) {
      throw new DerError("certificate", "unexpected fields after the public key");
    }
    previous = number;
    if (number !== 3) continue;
    if (version !== 3) throw new DerError("version", "extensions need version 3");
    const [list, ...more] = children(part);
    if (list === undefined || more.length > 0) throw new DerError("extension", "bad extensions");
    const seen = new Set();
    for (const extension of children(list, TAG.SEQUENCE)) {
      readExtension(extension, out, seen);
    }
  }
  return out;
}

/**
 * @param {Tlv} tlv
 * @param {X509Extensions} out
 * @param {Set<string>} seen
 */
function readExtension(tlv, out, seen) {
  const parts = children(tlv, TAG.SEQUENCE);
  if (parts.length < 2 || parts.length > 3) throw new DerError("extension", "a bad extension");
  const oid = readOid(parts[0]);
  if (seen.has(oid)) throw new DerError("extension", `extension ${oid} appears twice`);
  seen.add(oid);
  let critical = false;
  if (parts.length === 3) {
    critical = readBoolean(parts[1]);
    if (!critical) throw new DerError("extension", "DER never encodes critical FALSE");
  }
  const inner = parseDer(valueOf(expectTag(parts[parts.length - 1], TAG.OCTET_STRING)));
  if (critical) out.critical.add(oid);
  if (oid === OID.basicConstraints) {
    const items = children(inner, TAG.SEQUENCE);
    let next = 0;
    let ca = false;
    let pathLength = null;
    if (items[next]?.tag === TAG.BOOLEAN) {
      ca = readBoolean(items[next]);
      if (!ca) throw new DerError("extension", "DER never encodes cA FALSE");
      next += 1;
    }
    if (items[next]?.tag === TAG.INTEGER) {
      pathLength = readSmallInteger(items[next]);
      next += 1;
    }
    if (next !== items.length) throw new DerError("extension", "bad basic constraints");
    out.basicConstraints = { ca, pathLength };
  } else if (oid === OID.keyUsage) {
    const { bytes } = readBitString(inner);
    const names = new Set();
    KEY_USAGE_BITS.forEach((name, bit) => {
      if ((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) names.add(name);
    });
    out.keyUsage = names;
  } else if (oid === OID.extKeyUsage) {
    const purposes = children(inner, TAG.SEQUENCE).map(readOid);
    if (purposes.length === 0) throw new DerError("extension", "an empty extended key usage");
    out.extKeyUsage = purposes;
  } else if (critical) {
    out.unknownCritical.push(oid);
  }
}
