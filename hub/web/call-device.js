// Which device the customer sits at, per leg (docs/verification.md "Which device"): an enrolled
// kiosk sends device_proof right after its sas_reveal (resume_proof on a later leg); we check it
// against the tenant CA this browser pinned (tenant-anchor.js) and this leg's DTLS certificate.
// The verdict is shown next to the four words; it ends nothing by itself (the words remain the
// decision), except a proof the device made for another connection: that is a man in the
// middle proven, and the call ends as a fingerprint mismatch does ("device_mismatch").

import { settledRemoteCertificate } from "./call-proof.js";
import { DeviceProofError, verifyDeviceProof } from "./device-proof.js";
import { VerificationError } from "./verification.js";

/** @typedef {import("./call-leg.js").Leg} Leg */
/** @typedef {import("./types.js").DeviceProof} DeviceProof */

// The proof follows the reveal at once; a kiosk that sends none has no device certificate.
export const DEVICE_PROOF_WAIT_MS = 3000;

/** @type {Readonly<Record<string, string>>} */
export const DEVICE_WORDS = {
  pending: "Checking which device the customer is at…",
  no_certificate: "Device not verified (no device certificate)",
  no_anchor: "Device not verified: no tenant CA is pinned in this browser",
  anchor_changed: "Device not verified: the tenant CA changed (see the warning above)",
  not_tenant_ca: "Device not verified: certificate not from your tenant CA",
  bad_signature: "Device not verified: signature does not match this connection",
  expired: "Device not verified: its certificate has expired",
  not_yet_valid:
    "Device not verified: its certificate is not valid yet (check this computer's clock)",
  bad_certificate: "Device not verified: not a valid device certificate",
  bad_proof: "Device not verified: its proof cannot be read",
  fingerprint_mismatch: "The device signed another connection: someone is in between",
  commitment_mismatch: "The device signed another connection: someone is in between",
};

/**
 * The kiosk revealed (or proved) itself on `leg`: its device proof, if any, comes next.
 * @param {Leg} leg
 */
export function expectDeviceProof(leg) {
  if (leg.device !== "idle") return;
  leg.device = "awaiting";
  leg.owner.emit("device", { state: "pending", text: DEVICE_WORDS.pending });
  leg.deviceTimer = setTimeout(() => absent(leg), DEVICE_PROOF_WAIT_MS);
}

/**
 * Another message from the kiosk: if it came where the proof belongs, there is none.
 * @param {Leg} leg
 */
export function noteKioskMessage(leg) {
  if (leg.device === "awaiting") absent(leg);
}

/** @param {Leg} leg */
function absent(leg) {
  if (leg.device !== "awaiting" || leg.dead) return;
  report(leg, "no_certificate");
}

/**
 * The kiosk's device_proof on `leg`: one per leg, checked against the pinned CA.
 * @param {Leg} leg
 * @param {DeviceProof} message
 */
export async function checkDeviceProof(leg, message) {
  const call = leg.owner;
  if (leg.device === "checking" || leg.device === "done") return;
  if (leg.deviceTimer !== null) clearTimeout(leg.deviceTimer);
  leg.device = "checking";
  await call.trust?.settled(); // a reloaded tab's first proof may beat the CA's loading
  if (call.closed || leg.dead) return;
  const anchor = call.trust?.current() ?? null;
  if (anchor === null) {
    report(leg, call.trust?.whyNot() ?? "no_anchor");
    return;
  }
  try {
    const commitment = leg.resumed ? leg.kioskMac : call.commitment;
    if (commitment === null) throw new DeviceProofError("bad_proof", "nothing to bind it to");
    const negotiated = await settledRemoteCertificate(leg.pc);
    const named = await verifyDeviceProof({
      proof: message,
      anchor,
      consultationId: call.id,
      commitment,
      negotiatedFingerprint: negotiated,
    });
    if (call.closed || leg.dead) return;
    leg.device = "done";
    const text = `Customer is at ${named.deviceName} (${named.tenant}), verified`;
    call.emit("device", { state: "verified", text });
  } catch (exc) {
    if (call.closed || leg.dead) return;
    const code = exc instanceof DeviceProofError ? exc.code : "bad_proof";
    report(leg, code);
    if (exc instanceof DeviceProofError && exc.proven) {
      call.refuse(leg, new VerificationError("device_mismatch", exc.message));
    }
  }
}

/**
 * @param {Leg} leg
 * @param {string} code
 */
function report(leg, code) {
  leg.device = "done";
  if (leg.deviceTimer !== null) clearTimeout(leg.deviceTimer);
  const text = DEVICE_WORDS[code] ?? DEVICE_WORDS.bad_proof;
  leg.owner.emit("device", { state: "warning", text });
}
