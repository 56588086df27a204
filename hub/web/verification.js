// The short authentication string, console side (the same computations as appliance/call/sas.py;
// docs/verification.md). The adviser commits to its DTLS fingerprint and a nonce before the
// kiosk's offer travels, reveals both once the data channel is open, and checks the kiosk's
// reveal against the offer it applied and the certificate its DTLS received (getStats).

export const DOMAIN = "branch-kiosk sas v1";
export const CODE_WORDS = 4;
const FINGERPRINT = /^sha-256 [0-9A-F]{2}(?::[0-9A-F]{2}){31}$/;
const NONCE = /^[0-9a-f]{64}$/;
const SDP_FINGERPRINT = /^a=fingerprint:(\S+) (\S+)\s*$/gm;

/** Why a peer could not be verified; ``code`` matches appliance.call.sas's error codes. */
export class VerificationError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "VerificationError";
    this.code = code;
  }
}

/**
 * The 256 shared words (hub/web/sas-words.json), checked like the Python side does.
 * @returns {Promise<string[]>}
 */
export async function loadWords(url = "/static/sas-words.json") {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`could not load the code words (${response.status})`);
  /** @type {unknown} */
  const words = (await response.json()).words;
  if (
    !Array.isArray(words) ||
    words.length !== 256 ||
    new Set(words).size !== 256 ||
    !words.every((w) => typeof w === "string" && /^[a-z]{3,8}$/.test(w))
  ) {
    throw new Error("sas-words.json must hold 256 distinct lower-case words");
  }
  return words;
}

/**
 * `fingerprint` itself when it is a sha-256 fingerprint in SDP form ("sha-256 AB:CD:...").
 * @param {unknown} fingerprint
 * @returns {string}
 */
export function checkFingerprint(fingerprint) {
  if (typeof fingerprint !== "string" || !FINGERPRINT.test(fingerprint)) {
    throw new VerificationError("bad_fingerprint", "not a sha-256 fingerprint in SDP form");
  }
  return fingerprint;
}

/**
 * @param {unknown} nonce
 * @returns {Uint8Array}
 */
function nonceBytes(nonce) {
  if (typeof nonce !== "string" || !NONCE.test(nonce)) {
    throw new VerificationError("bad_nonce", "the nonce must be 64 lower-case hex digits");
  }
  return fromHex(nonce);
}

/**
 * The bytes of an even-length hex string (already checked by its caller).
 * @param {string} hex
 */
function fromHex(hex) {
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/**
 * Lower-case hex digits of `bytes`.
 * @param {Iterable<number> | ArrayLike<number>} bytes
 */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A fresh 32-byte nonce as 64 lower-case hex digits. */
export function newNonce() {
  return toHex(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * Each part length-prefixed (4 bytes, big-endian): the encoding appliance/call/sas.py uses.
 * @param {string} purpose
 * @param {...Uint8Array} parts
 */
async function digest(purpose, ...parts) {
  const encoder = new TextEncoder();
  const all = [encoder.encode(DOMAIN), encoder.encode(purpose), ...parts];
  const size = all.reduce((n, p) => n + 4 + p.length, 0);
  const buffer = new Uint8Array(size);
  const view = new DataView(buffer.buffer);
  let at = 0;
  for (const part of all) {
    view.setUint32(at, part.length);
    buffer.set(part, at + 4);
    at += 4 + part.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
}

/**
 * hex SHA-256 over domain, "commit", our fingerprint and the nonce.
 * @param {string} fingerprint
 * @param {string} nonce
 */
export async function commitment(fingerprint, nonce) {
  const fp = new TextEncoder().encode(checkFingerprint(fingerprint));
  return toHex(await digest("commit", fp, nonceBytes(nonce)));
}

/**
 * The four words: SHA-256 over domain, "code", both fingerprints and the nonce.
 * @param {string} kioskFingerprint
 * @param {string} adviserFingerprint
 * @param {string} nonce
 * @param {string[]} words the 256 code words
 */
export async function code(kioskFingerprint, adviserFingerprint, nonce, words) {
  const encoder = new TextEncoder();
  const d = await digest(
    "code",
    encoder.encode(checkFingerprint(kioskFingerprint)),
    encoder.encode(checkFingerprint(adviserFingerprint)),
    nonceBytes(nonce),
  );
  return Array.from(d.slice(0, CODE_WORDS), (b) => words[b]).join(" ");
}

/**
 * The one sha-256 fingerprint of an SDP (every section must carry the same one).
 * @param {string} sdp
 */
export function sdpFingerprint(sdp) {
  const found = new Set();
  for (const [, algorithm, value] of sdp.matchAll(SDP_FINGERPRINT)) {
    if (algorithm.toLowerCase() === "sha-256") found.add(value.toUpperCase());
  }
  if (found.size !== 1) {
    throw new VerificationError(
      "bad_fingerprint",
      `the SDP carries ${found.size} distinct sha-256 fingerprints`,
    );
  }
  return checkFingerprint(`sha-256 ${[...found][0]}`);
}

/**
 * Our own fingerprint, from the certificate we made before any SDP existed.
 * @param {RTCCertificate} certificate
 */
export function certificateFingerprint(certificate) {
  const fp = certificate.getFingerprints().find((f) => f.algorithm?.toLowerCase() === "sha-256");
  if (fp?.value === undefined) {
    throw new VerificationError("bad_fingerprint", "no sha-256 fingerprint");
  }
  return checkFingerprint(`sha-256 ${fp.value.toUpperCase()}`);
}

/**
 * The fingerprint of the certificate the remote peer presented in DTLS: from the DTLS
 * transport itself (getRemoteCertificates), else from getStats(). Chrome caches certificate
 * stats from the first getStats() of a connection, so one taken before DTLS finished (by a
 * debugging page such as webrtc-internals, say) would never show the remote certificate.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<string>}
 */
export async function remoteCertificateFingerprint(pc) {
  /** @type {(RTCDtlsTransport & {getRemoteCertificates?: () => ArrayBuffer[]}) | null} */
  const transport = pc.sctp?.transport ?? null;
  if (transport !== null && typeof transport.getRemoteCertificates === "function") {
    const certificates = transport.getRemoteCertificates();
    if (certificates.length > 0) {
      // The SDP fingerprint is the SHA-256 of the peer's (leaf) certificate in DER.
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", certificates[0]));
      const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase());
      return checkFingerprint(`sha-256 ${hex.join(":")}`);
    }
  }
  const stats = await pc.getStats();
  for (const s of stats.values()) {
    if (s.type !== "transport" || !s.remoteCertificateId) continue;
    const cert = stats.get(s.remoteCertificateId);
    if (cert === undefined || String(cert.fingerprintAlgorithm).toLowerCase() !== "sha-256") {
      break;
    }
    return checkFingerprint(`sha-256 ${cert.fingerprint.toUpperCase()}`);
  }
  throw new VerificationError("no_certificate", "DTLS reports no remote certificate");
}

/**
 * The console's checks of the kiosk's sas_reveal: the revealed fingerprint must be the
 * offer's and the certificate's DTLS received. Returns the four words.
 * @param {object} checks
 * @param {string | null} checks.offerFingerprint from the offer we applied
 * @param {unknown} checks.revealedFingerprint from the kiosk's sas_reveal
 * @param {string} checks.certificateFingerprint the one DTLS received
 * @param {string} checks.adviserFingerprint ours
 * @param {string} checks.nonce ours, committed to
 * @param {string[]} checks.words the 256 code words
 * @returns {Promise<string>}
 */
export async function verifyKiosk({
  offerFingerprint,
  revealedFingerprint,
  certificateFingerprint: received,
  adviserFingerprint,
  nonce,
  words,
}) {
  const revealed = checkFingerprint(revealedFingerprint);
  if (revealed !== checkFingerprint(offerFingerprint)) {
    throw new VerificationError("fingerprint_mismatch", "the kiosk's fingerprint is not the offer's");
  }
  if (revealed !== checkFingerprint(received)) {
    throw new VerificationError(
      "fingerprint_mismatch",
      "the kiosk's fingerprint is not its certificate's",
    );
  }
  return code(revealed, adviserFingerprint, nonce, words);
}

// -- staying verified across peer connections (docs/reconnection.md) ----------------------

export const RESUME_DOMAIN = "branch-kiosk resume v1";
const SECRET = /^[0-9a-f]{64}$/;
const MAC = /^[0-9a-f]{64}$/;
const ROLES = new Set(["kiosk", "adviser"]);

/**
 * The continuity secret's 32 raw bytes; "no_continuity" for anything but 64 hex digits.
 * @param {unknown} secret
 */
export function continuitySecret(secret) {
  if (typeof secret !== "string" || !SECRET.test(secret)) {
    throw new VerificationError("no_continuity", "the continuity secret must be 64 hex digits");
  }
  return fromHex(secret);
}

/**
 * domain 0x00 role 0x00 consultation_id 0x00 sender's fingerprint 0x00 receiver's fingerprint:
 * the byte layout of appliance/call/sas.py resume_mac (no part can hold a 0x00).
 * @param {string} role
 * @param {string} consultationId
 * @param {unknown} ownFingerprint
 * @param {unknown} peerFingerprint
 */
function resumeMessage(role, consultationId, ownFingerprint, peerFingerprint) {
  if (!ROLES.has(role)) throw new VerificationError("unverified", "role must be kiosk or adviser");
  const parts = [
    RESUME_DOMAIN,
    role,
    String(consultationId),
    checkFingerprint(ownFingerprint),
    checkFingerprint(peerFingerprint),
  ];
  if (parts.some((p) => p.includes("\u0000"))) {
    throw new VerificationError("unverified", "no part of a resume proof may hold a NUL");
  }
  return new TextEncoder().encode(parts.join("\u0000"));
}

/**
 * @param {unknown} secret the continuity secret, checked here
 * @param {"sign" | "verify"} usage
 */
function hmacKey(secret, usage) {
  return crypto.subtle.importKey(
    "raw",
    continuitySecret(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [usage],
  );
}

/**
 * The ``mac`` of a resume_proof (hex): HMAC-SHA256 keyed with the continuity secret over the
 * sender's role, the consultation, the sender's fingerprint and the receiver's as negotiated.
 * @param {unknown} secret the continuity secret (64 hex digits, checked here)
 * @param {{role: string, consultationId: string, ownFingerprint: unknown,
 *   peerFingerprint: unknown}} parties
 */
export async function resumeMac(secret, { role, consultationId, ownFingerprint, peerFingerprint }) {
  const message = resumeMessage(role, consultationId, ownFingerprint, peerFingerprint);
  const key = await hmacKey(secret, "sign");
  return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, message)));
}

/**
 * The console's checks of the kiosk's resume_proof: its fingerprint must be the offer's and
 * the certificate's DTLS received, and its MAC (made as the kiosk makes it: its fingerprint
 * first, ours second) must check out. WebCrypto's verify compares in constant time.
 * @param {object} checks
 * @param {string} checks.secret the continuity secret
 * @param {string} checks.consultationId
 * @param {{fingerprint?: unknown, mac?: unknown}} checks.proof the kiosk's resume_proof
 * @param {string | null} checks.offerFingerprint from the offer we applied
 * @param {string} checks.certificateFingerprint the one DTLS received
 * @param {string} checks.adviserFingerprint ours
 */
export async function verifyResumeProof({
  secret,
  consultationId,
  proof,
  offerFingerprint,
  certificateFingerprint: received,
  adviserFingerprint,
}) {
  const revealed = checkFingerprint(proof?.fingerprint);
  if (revealed !== checkFingerprint(offerFingerprint)) {
    throw new VerificationError("fingerprint_mismatch", "the proof's fingerprint is not the offer's");
  }
  if (revealed !== checkFingerprint(received)) {
    throw new VerificationError(
      "fingerprint_mismatch",
      "the proof's fingerprint is not the kiosk's certificate's",
    );
  }
  if (typeof proof.mac !== "string" || !MAC.test(proof.mac)) {
    throw new VerificationError("proof_mismatch", "the proof's MAC is not 64 hex digits");
  }
  const message = resumeMessage("kiosk", consultationId, revealed, adviserFingerprint);
  const key = await hmacKey(secret, "verify");
  const mac = fromHex(proof.mac);
  if (!(await crypto.subtle.verify("HMAC", key, mac, message))) {
    throw new VerificationError("proof_mismatch", "the resume proof's MAC does not match");
  }
}
