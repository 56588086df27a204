// The kiosk's proof on a leg (docs/verification.md, docs/reconnection.md): on the first leg we
// reveal what we committed to and check the kiosk's reveal (the four words); on every later
// leg both sides send resume_proof, a MAC over both fingerprints keyed with the continuity
// secret the kiosk sent once verified. The verdicts go to the consultation (onLegVerified,
// onLegResumed, refuse), which decides what they mean for the call.

import {
  VerificationError,
  continuitySecret,
  remoteCertificateFingerprint,
  resumeMac,
  verifyKiosk,
  verifyResumeProof,
} from "./verification.js";

/** @typedef {import("./call-leg.js").Leg} Leg */
/** @typedef {import("./types.js").SasReveal} SasReveal */
/** @typedef {import("./types.js").ResumeProof} ResumeProof */
/** @typedef {import("./types.js").Continuity} Continuity */

// After the data channel opens, the kiosk's sas_reveal (or resume_proof) must arrive and
// check out within this.
export const VERIFY_TIMEOUT_MS = 10000;
// getStats() may lag DTLS by its cache period: retry the remote certificate this often.
const CERTIFICATE_RETRIES = 20;
const CERTIFICATE_RETRY_MS = 100;

/**
 * The leg's channel is open: reveal (first leg) or prove (later legs), and give the kiosk
 * VERIFY_TIMEOUT_MS to do the same.
 * @param {Leg} leg
 */
export function startProof(leg) {
  const call = leg.owner;
  if (leg.resumed) {
    leg.proofSent = sendResumeProof(leg);
  } else {
    // The kiosk's fingerprint is fixed in the offer we applied: now we may reveal.
    leg.sendChannel({ type: "sas_reveal", fingerprint: leg.fingerprint, nonce: call.nonce });
    call.emit("chat-ready", { ready: true });
  }
  leg.verifyTimer = setTimeout(() => {
    if (!leg.verified) call.refuse(leg, new VerificationError("reveal_timeout", "no reveal"));
  }, VERIFY_TIMEOUT_MS);
}

/**
 * The first leg: the kiosk's reveal must match its offer and its DTLS certificate.
 * @param {Leg} leg
 * @param {SasReveal} message
 */
export async function checkReveal(leg, message) {
  const call = leg.owner;
  if (leg.resumed || leg.verifying || leg.verified) {
    call.refuse(leg, new VerificationError("unverified", "a reveal where none belongs"));
    return;
  }
  leg.verifying = true;
  try {
    const words = await call.words;
    const received = await settledRemoteCertificate(leg.pc);
    const code = await verifyKiosk({
      offerFingerprint: leg.offerFingerprint,
      revealedFingerprint: message.fingerprint,
      certificateFingerprint: received,
      adviserFingerprint: leg.fingerprint,
      nonce: call.nonce,
      words,
    });
    if (call.closed || leg.dead) return;
    leg.settle();
    call.onLegVerified(leg, code);
  } catch (exc) {
    call.refuse(leg, exc);
  }
}

/**
 * Our resume_proof on a later leg: the continuity secret over both fingerprints.
 * @param {Leg} leg
 */
async function sendResumeProof(leg) {
  const call = leg.owner;
  try {
    const mac = await resumeMac(call.secret, {
      role: "adviser",
      consultationId: call.id,
      ownFingerprint: leg.fingerprint,
      peerFingerprint: leg.offerFingerprint,
    });
    if (leg.dead || !leg.open) return;
    leg.sendChannel({ type: "resume_proof", fingerprint: leg.fingerprint, mac });
  } catch (exc) {
    call.refuse(leg, exc);
  }
}

/**
 * A later leg: the kiosk proves it holds the continuity secret of the first.
 * @param {Leg} leg
 * @param {ResumeProof} message
 */
export async function checkResumeProof(leg, message) {
  const call = leg.owner;
  const secret = call.secret;
  if (!leg.resumed || leg.verifying || leg.verified || secret === null) {
    call.refuse(leg, new VerificationError("no_continuity", "a proof where none belongs"));
    return;
  }
  leg.verifying = true;
  // Our proof goes out before any verdict on theirs: the kiosk judges it for itself even
  // when we are about to refuse and hang up (it may be us who holds the wrong secret).
  await leg.proofSent;
  if (call.closed || leg.dead || leg !== call.leg) return;
  try {
    const received = await settledRemoteCertificate(leg.pc);
    await verifyResumeProof({
      secret,
      consultationId: call.id,
      proof: message,
      offerFingerprint: leg.offerFingerprint,
      certificateFingerprint: received,
      adviserFingerprint: leg.fingerprint,
    });
    if (call.closed || leg.dead) return;
    leg.settle();
    call.onLegResumed(leg);
  } catch (exc) {
    call.refuse(leg, exc);
  }
}

/**
 * The kiosk's continuity secret: once, on the first leg, from the kiosk we are verifying;
 * never replaced afterwards.
 * @param {Leg} leg
 * @param {Continuity} message
 */
export function acceptContinuity(leg, message) {
  const call = leg.owner;
  if (leg.resumed || call.secret !== null) {
    if (call.secret !== message.secret) {
      call.refuse(leg, new VerificationError("no_continuity", "a second continuity secret"));
    }
    return;
  }
  try {
    continuitySecret(message.secret);
  } catch (exc) {
    call.refuse(leg, exc);
    return;
  }
  call.secret = message.secret;
  call.emit("resume-state", {});
}

/**
 * The certificate the kiosk presented in DTLS. The data channel can deliver the kiosk's
 * reveal a moment before the browser reports the handshake's certificate: ask again briefly.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<string>}
 */
export async function settledRemoteCertificate(pc) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await remoteCertificateFingerprint(pc);
    } catch (exc) {
      if (!(exc instanceof VerificationError) || exc.code !== "no_certificate") throw exc;
      if (attempt >= CERTIFICATE_RETRIES || pc.connectionState === "closed") throw exc;
    }
    await new Promise((resolve) => setTimeout(resolve, CERTIFICATE_RETRY_MS));
  }
}
