// One leg of a consultation: one RTCPeerConnection with its own certificate, its data channel,
// its liveness beats and the kiosk's proof on it (the four words on the first leg,
// resume_proof on later ones; docs/verification.md, docs/reconnection.md). What outlives a
// leg (the words, the continuity secret, chat, grace) is the consultation's
// (call-consultation.js), which decides what a dead or refused leg means.

import { checkDeviceProof, expectDeviceProof, noteKioskMessage } from "./call-device.js";
import { checkResumeProof, checkReveal, startProof } from "./call-proof.js";
import { ProtocolError } from "./protocol.js";
import { PROBLEM_WORDS } from "./signalling.js";
import { VerificationError, certificateFingerprint, sdpFingerprint } from "./verification.js";

/** @typedef {import("./call-consultation.js").Consultation} Consultation */
/** @typedef {import("./types.js").IceServer} IceServer */
/** @typedef {import("./types.js").IceCandidateMessage} IceCandidateMessage */
/** @typedef {import("./types.js").ChannelMessage} ChannelMessage */

export const CHANNEL_LABEL = "consultation";
// Liveness on the data channel: a beat every half second; a path silent for 2.5 s is dead (noticed within 3 s).
export const BEAT_INTERVAL_MS = 500;
export const SILENCE_MS = 2500;
// Messages held back while a leg is being verified (history can be long).
const EARLY_MAX = 2000;

/**
 * The welcome's ICE servers as RTCIceServer dicts; never a default public server.
 * @param {IceServer[]} iceServers
 * @returns {RTCIceServer[]}
 */
export function rtcIceServers(iceServers) {
  return iceServers.map((server) => {
    /** @type {RTCIceServer} */
    const out = { urls: [...server.urls] };
    if (server.username != null) out.username = server.username;
    if (server.credential != null) out.credential = server.credential;
    return out;
  });
}

/**
 * The mid of the offer's screen-share section: the video m-line the kiosk only receives on
 * (docs/exchange.md "Screen share"); null when the offer has none.
 * @param {string} sdp
 * @returns {string | null}
 */
export function screenMid(sdp) {
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    if (!section.startsWith("video")) continue;
    if (!/^a=recvonly\s*$/m.test(section)) continue;
    const mid = /^a=mid:(\S+)\s*$/m.exec(section);
    if (mid !== null) return mid[1];
  }
  return null;
}

/** A new certificate for a new leg: a new DTLS fingerprint. */
export function newCertificate() {
  /** @type {EcKeyGenParams} */
  const algorithm = { name: "ECDSA", namedCurve: "P-256" };
  return RTCPeerConnection.generateCertificate(algorithm);
}

/** One peer connection of the consultation, with what belongs to it alone. */
export class Leg {
  /**
   * @param {number} index 0: the first, verified by the words; later: by resume_proof
   * @param {Consultation} owner
   * @param {RTCCertificate} certificate made for this leg (newCertificate)
   * @param {{iceServers: IceServer[], iceTransportPolicy: string}} ice the tenant's (welcome)
   */
  constructor(index, owner, certificate, { iceServers, iceTransportPolicy }) {
    this.index = index;
    this.owner = owner;
    /** Ours, from the certificate made for this leg. */
    this.fingerprint = certificateFingerprint(certificate);
    this.pc = new RTCPeerConnection({
      iceServers: rtcIceServers(iceServers),
      iceTransportPolicy: iceTransportPolicy === "relay" ? "relay" : "all",
      certificates: [certificate],
    });
    /** @type {string | null} the kiosk's, from the offer we applied */
    this.offerFingerprint = null;
    /** @type {RTCDataChannel | null} */
    this.channel = null;
    this.answered = false;
    /** @type {IceCandidateMessage[]} */
    this.pendingCandidates = [];
    this.sentEndOfCandidates = false;
    this.verifying = false;
    this.verified = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.verifyTimer = null;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.beatTimer = undefined;
    this.lastHeard = 0;
    this.beatSeen = false; // silence counts only once the kiosk has shown it beats
    this.dead = false;
    /** @type {RTCRtpTransceiver | null} the screen-share transceiver, once answered */
    this.screen = null;
    /** @type {ChannelMessage[]} channel messages that came before this leg was verified */
    this.early = [];
    /** @type {Promise<void>} our resume_proof on its way (resumed legs) */
    this.proofSent = Promise.resolve();
    // The kiosk's device proof (call-device.js): expected after its reveal or resume proof.
    /** @type {"idle" | "awaiting" | "checking" | "done"} */
    this.device = "idle";
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.deviceTimer = null;
    /** @type {string | null} the mac of the kiosk's resume_proof: what its device proof signs */
    this.kioskMac = null;
    const pc = this.pc;
    pc.addEventListener("icecandidate", (event) => this.onLocalCandidate(event.candidate));
    pc.addEventListener("track", (event) => owner.onTrack(this, event));
    pc.addEventListener("connectionstatechange", () => owner.onConnectionState(this));
    pc.addEventListener("datachannel", (event) => this.onDataChannel(event.channel));
  }

  get resumed() {
    return this.index > 0;
  }

  /** The channel is open and may carry the call's messages. */
  get open() {
    return this.channel !== null && this.channel.readyState === "open";
  }

  close() {
    this.dead = true;
    if (this.verifyTimer !== null) clearTimeout(this.verifyTimer);
    if (this.deviceTimer !== null) clearTimeout(this.deviceTimer);
    clearInterval(this.beatTimer);
    if (this.channel !== null) this.channel.close();
    this.pc.close();
  }

  /**
   * Validate and send one message on the data channel (throws ProtocolError on a bad one).
   * @param {ChannelMessage} message
   */
  sendChannel(message) {
    if (this.channel === null) throw new Error("the data channel is not open");
    this.channel.send(this.owner.protocol.encode(message, "channel"));
  }

  // -- answering the kiosk's offer ------------------------------------------------------

  /**
   * Apply the kiosk's offer and make our answer: our media on the kiosk's transceivers,
   * `screenTrack` on its screen-share section. Returns the answer's SDP (not sent yet).
   * @param {string} sdp
   * @param {MediaStream | null} stream the adviser's camera and microphone
   * @param {MediaStreamTrack | null} screenTrack
   * @returns {Promise<string>}
   */
  async answer(sdp, stream, screenTrack) {
    const pc = this.pc;
    // The fingerprint our DTLS will hold the kiosk to; its reveal must name the same.
    this.offerFingerprint = sdpFingerprint(sdp);
    await pc.setRemoteDescription({ type: "offer", sdp });
    // Added after the offer, so the kiosk's sendrecv transceivers are reused: no renegotiation.
    if (stream !== null) for (const track of stream.getTracks()) pc.addTrack(track, stream);
    this.screen = this.answerScreen(screenMid(sdp));
    if (this.screen !== null && screenTrack !== null) {
      await this.screen.sender.replaceTrack(screenTrack);
    }
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    return pc.localDescription?.sdp ?? "";
  }

  /**
   * The screen-share section answered sendonly, no track yet (replaceTrack adds one).
   * @param {string | null} mid
   */
  answerScreen(mid) {
    if (mid === null) return null;
    const transceiver = this.pc.getTransceivers().find((t) => t.mid === mid);
    if (transceiver === undefined || transceiver.sender.track !== null) return null;
    transceiver.direction = "sendonly";
    return transceiver;
  }

  /** The answer went out: candidates found meanwhile may follow it now (answer first, always). */
  markAnswered() {
    this.answered = true;
    const pending = this.pendingCandidates;
    this.pendingCandidates = [];
    return pending;
  }

  // -- candidates -----------------------------------------------------------------------

  /** @param {RTCIceCandidate | null} candidate */
  onLocalCandidate(candidate) {
    const owner = this.owner;
    if (owner.closed || this.dead) return;
    /** @type {IceCandidateMessage} */
    let message;
    if (candidate === null || candidate.candidate === "") {
      // End of candidates; Chrome can signal it twice (empty candidate, then null).
      if (this.sentEndOfCandidates) return;
      this.sentEndOfCandidates = true;
      message = { type: "ice_candidate", consultation_id: owner.id, candidate: "" };
    } else {
      message = {
        type: "ice_candidate",
        consultation_id: owner.id,
        candidate: candidate.candidate,
        sdp_mid: candidate.sdpMid,
        sdp_mline_index: candidate.sdpMLineIndex,
      };
    }
    if (this.answered) owner.send(message);
    else this.pendingCandidates.push(message);
  }

  /**
   * A candidate from the kiosk; rejects when the browser refuses it.
   * @param {IceCandidateMessage} message
   */
  async addRemoteCandidate(message) {
    const init =
      message.candidate === ""
        ? undefined
        : {
            candidate: message.candidate,
            sdpMid: message.sdp_mid ?? null,
            sdpMLineIndex: message.sdp_mline_index ?? null,
          };
    await this.pc.addIceCandidate(init);
  }

  // -- the data channel -----------------------------------------------------------------

  /** @param {RTCDataChannel} channel */
  onDataChannel(channel) {
    if (channel.label !== CHANNEL_LABEL || this.dead) {
      channel.close(); // nothing else is part of the protocol
      return;
    }
    this.channel = channel;
    channel.binaryType = "arraybuffer"; // protocol.js decodes ArrayBuffers synchronously
    channel.addEventListener("open", () => this.onChannelOpen());
    channel.addEventListener("close", () => {
      if (this === this.owner.leg) this.owner.pathLost(this, "closed");
    });
    channel.addEventListener("message", (event) => this.onChannelMessage(event.data));
    if (channel.readyState === "open") this.onChannelOpen();
  }

  onChannelOpen() {
    const owner = this.owner;
    if (owner.closed || this.dead || this.verifyTimer !== null) return;
    this.startBeats();
    startProof(this);
  }

  startBeats() {
    this.lastHeard = Date.now();
    this.beatTimer = setInterval(() => {
      if (this.dead || !this.open) return;
      if (this.beatSeen && Date.now() - this.lastHeard > SILENCE_MS) {
        this.owner.pathLost(this, "silent");
        return;
      }
      this.sendChannel({ type: "beat", ts: Date.now() });
    }, BEAT_INTERVAL_MS);
  }

  /** @param {string | ArrayBuffer} data a frame (binaryType "arraybuffer") */
  onChannelMessage(data) {
    const owner = this.owner;
    if (this !== owner.leg || this.dead) return;
    this.lastHeard = Date.now();
    /** @type {ChannelMessage} */
    let message;
    try {
      message = /** @type {ChannelMessage} */ (owner.protocol.decode(data, "channel"));
    } catch (exc) {
      if (!(exc instanceof ProtocolError)) throw exc;
      const what = PROBLEM_WORDS[exc.code] ?? "a message this console cannot read";
      owner.emit("problem", { text: `The kiosk sent ${what}; it was not shown.` });
      return;
    }
    if (message.type === "beat") {
      this.beatSeen = true;
      return;
    }
    if (message.type === "device_proof") {
      checkDeviceProof(this, message);
      return;
    }
    noteKioskMessage(this); // where the device proof belonged, something else came
    if (message.type === "sas_reveal") {
      checkReveal(this, message);
      expectDeviceProof(this);
    } else if (message.type === "resume_proof") {
      this.kioskMac = message.mac;
      checkResumeProof(this, message);
      expectDeviceProof(this);
    } else if (message.type === "bye") owner.emit("bye", {});
    else if (!this.verified) {
      // The kiosk may send (continuity, history...) as soon as it has checked us, while our
      // check of it still runs: held back until then, dropped with the leg if it fails.
      if (this.early.length >= EARLY_MAX) {
        owner.refuse(this, new VerificationError("unverified", "too much before verification"));
      } else this.early.push(message);
    } else owner.onVerifiedMessage(this, message);
  }

  /** What came while the leg was being verified, handed over once. */
  takeEarly() {
    const early = this.early;
    this.early = [];
    return early;
  }

  /** Verified: the verification deadline is off. */
  settle() {
    this.verified = true;
    if (this.verifyTimer !== null) clearTimeout(this.verifyTimer);
  }
}
