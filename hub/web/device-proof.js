// The kiosk's device proof, console side (docs/verification.md "Which device"): the kiosk signs
// its DTLS fingerprint with the consultation id and the SAS commitment, using the device key
// its tenant CA certified at enrolment. We check the certificate against the tenant CA this
// browser pinned (tenant-anchor.js), never against one the hub sends with the call, then the
// signature (WebCrypto ECDSA P-256), then that what was signed is this connection.

import { DerError, OID, hexOf } from "./der.js";
import { parseCertificate } from "./x509.js";

/** @typedef {import("./x509.js").X509Certificate} X509Certificate */

export const CALL_DOMAIN = "branch-kiosk call v1\0";
const FINGERPRINT = /^sha-256 [0-9A-F]{2}(?::[0-9A-F]{2}){31}$/;
const HEX32 = /^[0-9a-f]{64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const P256 = { name: "ECDSA", namedCurve: "P-256" };
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" };

/**
 * Why the device could not be named; `code` is one word. Only "fingerprint_mismatch" and
 * "commitment_mismatch" prove a man in the middle (the device signed another connection):
 * `proven` is true for those, and the call ends as it does when the fingerprints differ.
 */
export class DeviceProofError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "DeviceProofError";
    this.code = code;
  }

  get proven() {
    return this.code === "fingerprint_mismatch" || this.code === "commitment_mismatch";
  }
}

/**
 * A pinned tenant CA: its certificate taken apart and its key ready for WebCrypto.
 * @typedef {object} TenantAnchor
 * @property {X509Certificate} certificate
 * @property {CryptoKey} key
 * @property {string} tenant the CA's O
 * @property {string} fingerprint SHA-256 of its DER, 64 lower-case hex digits
 */

/**
 * What a checked proof says: the device and its tenant.
 * @typedef {{deviceName: string, tenant: string}} DeviceIdentity
 */

/**
 * The bytes the kiosk signs: the same as provisioning.challenge.call_payload.
 * @param {string} consultationId
 * @param {string} fingerprint "sha-256 AB:CD:..." as SDP writes it
 * @param {string} commitment 64 lower-case hex digits
 * @returns {Uint8Array}
 */
export function callPayload(consultationId, fingerprint, commitment) {
  if (consultationId === "" || consultationId.includes("\0")) {
    throw new DeviceProofError("bad_proof", "the consultation id must be non-empty, without NUL");
  }
  if (!FINGERPRINT.test(fingerprint)) {
    throw new DeviceProofError("bad_proof", "the fingerprint must be 'sha-256 AB:CD:...'");
  }
  if (!HEX32.test(commitment)) {
    throw new DeviceProofError("bad_proof", "the commitment must be 64 lower-case hex digits");
  }
  const text = `${CALL_DOMAIN}${consultationId}\0${fingerprint}\0${commitment}`;
  return new TextEncoder().encode(text);
}

/**
 * A DER Ecdsa-Sig-Value (SEQUENCE of two INTEGERs) as the raw r||s WebCrypto verifies.
 * @param {Uint8Array} signature
 * @param {number} [size] bytes per integer (32 for P-256)
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function ecdsaDerToRaw(signature, size = 32) {
  const raw = new Uint8Array(size * 2);
  let at = 0;
  const take = () => {
    if (at + 2 > signature.length || signature[at] !== 0x02) {
      throw new DerError("signature", "an ECDSA signature holds two integers");
    }
    const length = signature[at + 1];
    const start = at + 2;
    if (length === 0 || length & 0x80 || start + length > signature.length) {
      throw new DerError("signature", "an ECDSA integer with a bad length");
    }
    let value = signature.subarray(start, start + length);
    if (value[0] & 0x80) throw new DerError("signature", "a negative ECDSA integer");
    if (value.length > 1 && value[0] === 0 && !(value[1] & 0x80)) {
      throw new DerError("signature", "an ECDSA integer that is not minimal");
    }
    if (value[0] === 0 && value.length > 1) value = value.subarray(1);
    if (value.length > size) throw new DerError("signature", "an ECDSA integer too large");
    at = start + length;
    return value;
  };
  if (signature.length < 8 || signature[0] !== 0x30 || signature[1] !== signature.length - 2) {
    throw new DerError("signature", "an ECDSA signature is a short DER sequence");
  }
  at = 2;
  const r = take();
  const s = take();
  if (at !== signature.length) throw new DerError("signature", "bytes after the signature");
  raw.set(r, size - r.length);
  raw.set(s, size * 2 - s.length);
  return raw;
}

/**
 * Strict standard base64 to bytes.
 * @param {string} text
 * @param {string} what for the error message
 */
export function fromBase64(text, what) {
  if (typeof text !== "string" || !BASE64.test(text)) {
    throw new DeviceProofError("bad_proof", `the ${what} is not base64`);
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/**
 * SHA-256 of `bytes`, lower-case hex.
 * @param {Uint8Array} bytes
 */
export async function sha256Hex(bytes) {
  return hexOf(new Uint8Array(await crypto.subtle.digest("SHA-256", copy(bytes))));
}

/**
 * A fingerprint for people: 16 blocks of 4 hex digits (as `kiosk-hub tenant show` prints it).
 * @param {string} hex 64 hex digits
 */
export function displayFingerprint(hex) {
  return (hex.match(/.{1,4}/g) ?? []).join(" ");
}

/**
 * @param {X509Certificate} certificate
 * @returns {Promise<CryptoKey>}
 */
async function publicKey(certificate) {
  if (certificate.keyAlgorithm !== OID.ecPublicKey || certificate.keyCurve !== OID.prime256v1) {
    throw new DeviceProofError("bad_certificate", "the key is not ECDSA P-256");
  }
  try {
    return await crypto.subtle.importKey("spki", copy(certificate.spki), P256, false, ["verify"]);
  } catch {
    throw new DeviceProofError("bad_certificate", "the public key cannot be read");
  }
}

/**
 * Whether `signature` (DER ECDSA) over `data` verifies with `key`.
 * @param {CryptoKey} key
 * @param {Uint8Array} signature
 * @param {Uint8Array} data
 */
async function ecdsaVerifies(key, signature, data) {
  let raw;
  try {
    raw = ecdsaDerToRaw(signature);
  } catch (exc) {
    if (exc instanceof DerError) return false;
    throw exc;
  }
  return crypto.subtle.verify(ECDSA_SHA256, key, raw, copy(data));
}

/**
 * @param {Uint8Array} der
 * @param {string} code the DeviceProofError code for bytes that are not a certificate
 */
function parse(der, code) {
  try {
    return parseCertificate(der);
  } catch (exc) {
    if (exc instanceof DerError) {
      throw new DeviceProofError(code, `not a certificate (${exc.code})`);
    }
    throw exc;
  }
}

/**
 * A tenant CA certificate (DER) fit to be pinned: a self-signed P-256 CA with keyCertSign.
 * @param {Uint8Array} der
 * @returns {Promise<TenantAnchor>}
 */
export async function tenantAnchor(der) {
  const certificate = parse(der, "bad_anchor");
  const ext = certificate.extensions;
  if (
    ext.basicConstraints?.ca !== true ||
    ext.keyUsage?.has("keyCertSign") !== true ||
    ext.unknownCritical.length > 0 ||
    certificate.subject.o === null
  ) {
    throw new DeviceProofError("bad_anchor", "not a tenant CA certificate");
  }
  const key = await publicKey(certificate);
  const selfSigned =
    certificate.signatureAlgorithm === OID.ecdsaWithSha256 &&
    (await ecdsaVerifies(key, certificate.signature, certificate.tbs));
  if (!selfSigned) throw new DeviceProofError("bad_anchor", "the CA is not self-signed");
  return { certificate, key, tenant: certificate.subject.o, fingerprint: await sha256Hex(der) };
}

/**
 * A device certificate issued by `anchor`, valid at `now`, for client authentication.
 * @param {Uint8Array} der
 * @param {TenantAnchor} anchor
 * @param {Date} now the browser's clock
 * @returns {Promise<{certificate: X509Certificate, key: CryptoKey} & DeviceIdentity>}
 */
export async function checkDeviceCertificate(der, anchor, now) {
  const certificate = parse(der, "bad_certificate");
  const issuedByAnchor =
    equalBytes(certificate.issuer.der, anchor.certificate.subject.der) &&
    certificate.signatureAlgorithm === OID.ecdsaWithSha256 &&
    (await ecdsaVerifies(anchor.key, certificate.signature, certificate.tbs));
  if (!issuedByAnchor) {
    throw new DeviceProofError("not_tenant_ca", "the certificate is not from your tenant CA");
  }
  const ext = certificate.extensions;
  if (
    ext.basicConstraints?.ca === true ||
    ext.keyUsage?.has("digitalSignature") !== true ||
    ext.extKeyUsage?.includes(OID.clientAuth) !== true ||
    ext.unknownCritical.length > 0
  ) {
    throw new DeviceProofError("bad_certificate", "not a device certificate (usage)");
  }
  const { cn, o } = certificate.subject;
  if (cn === null || o === null || o !== anchor.tenant) {
    throw new DeviceProofError("bad_certificate", "the certificate names no device of this tenant");
  }
  if (now < certificate.notBefore) {
    throw new DeviceProofError("not_yet_valid", "the certificate is not valid yet");
  }
  if (now > certificate.notAfter) throw new DeviceProofError("expired", "the certificate expired");
  return { certificate, key: await publicKey(certificate), deviceName: cn, tenant: o };
}

/**
 * The kiosk's device_proof, checked against the pinned anchor and this connection.
 * @param {object} input
 * @param {import("./types.js").DeviceProof} input.proof
 * @param {TenantAnchor} input.anchor
 * @param {string} input.consultationId
 * @param {string} input.commitment ours (first leg), or the kiosk's checked resume mac
 * @param {string} input.negotiatedFingerprint the kiosk certificate our DTLS received
 * @param {Date} [input.now]
 * @returns {Promise<DeviceIdentity>}
 */
export async function verifyDeviceProof({
  proof,
  anchor,
  consultationId,
  commitment,
  negotiatedFingerprint,
  now = new Date(),
}) {
  const der = fromBase64(proof.certificate, "certificate");
  const signature = fromBase64(proof.signature, "signature");
  const device = await checkDeviceCertificate(der, anchor, now);
  const payload = callPayload(consultationId, proof.fingerprint, proof.commitment);
  if (!(await ecdsaVerifies(device.key, signature, payload))) {
    throw new DeviceProofError("bad_signature", "the signature does not match this connection");
  }
  // The device signed these values: any difference from ours is someone in between.
  if (proof.fingerprint !== negotiatedFingerprint) {
    throw new DeviceProofError("fingerprint_mismatch", "the device signed another connection");
  }
  if (proof.commitment !== commitment) {
    throw new DeviceProofError("commitment_mismatch", "the device saw another commitment");
  }
  return { deviceName: device.deviceName, tenant: device.tenant };
}

/**
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 */
function equalBytes(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * `bytes` in a buffer of their own (WebCrypto takes no views of shared buffers).
 * @param {Uint8Array} bytes
 */
function copy(bytes) {
  return new Uint8Array(bytes);
}
