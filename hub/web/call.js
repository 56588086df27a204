// One consultation from the adviser's side: answer the kiosk's offer, trickle our candidates,
// carry chat over the kiosk's "consultation" data channel. Media and chat go peer to peer;
// only SDP and candidates pass through the hub.
//
// A consultation outlives its peer connections (docs/reconnection.md): when the path dies
// (2.5 s without a frame, or the connection fails) we close it and answer the kiosk's next offer
// with a new RTCPeerConnection, a "leg". The first leg is verified with the four words; every
// later leg with resume_proof over the continuity secret the kiosk sent once verified.

import { ProtocolError } from "./protocol.js";
import { PROBLEM_WORDS } from "./signalling.js";
import {
  VerificationError,
  certificateFingerprint,
  commitment,
  continuitySecret,
  newNonce,
  remoteCertificateFingerprint,
  resumeMac,
  sdpFingerprint,
  verifyKiosk,
  verifyResumeProof,
} from "./verification.js";

export const CHANNEL_LABEL = "consultation";
// After the data channel opens, the kiosk's sas_reveal (or resume_proof) must arrive and
// check out within this.
export const VERIFY_TIMEOUT_MS = 10000;
// Liveness on the data channel: a beat every half second; a path silent for 2.5 s is dead (noticed within 3 s).
export const BEAT_INTERVAL_MS = 500;
export const SILENCE_MS = 2500;
// Beyond the hub's grace period the hub has ended the call; this is only a backstop.
const GRACE_SLACK_MS = 5000;
// getStats() may lag DTLS by its cache period: retry the remote certificate this often.
const CERTIFICATE_RETRIES = 20;
const CERTIFICATE_RETRY_MS = 100;
// Messages held back while a leg is being verified (history can be long).
const EARLY_MAX = 2000;

/** Plain words for the peer connection's state, for #call-state. */
export const CALL_STATE_WORDS = {
  waiting: "Connecting to the kiosk…",
  new: "Connecting to the kiosk…",
  connecting: "Connecting to the kiosk…",
  connected: "Connected — end-to-end encrypted (DTLS-SRTP)",
  disconnected: "Connection unstable — trying to recover…",
  failed: "Connection lost",
  closed: "Call ended",
  reconnecting: "Reconnecting…",
  peer_away: "The customer's connection dropped — reconnecting…",
  resuming: "Reconnecting to your call…",
};

// Channel messages this module handles itself; everything else goes out as "exchange".
const OWN_MESSAGES = new Set([
  "sas_reveal",
  "resume_proof",
  "continuity",
  "beat",
  "bye",
  "chat",
  "history_chat",
  "intake",
]);

/** The welcome's ICE servers as RTCIceServer dicts; never a default public server. */
export function rtcIceServers(iceServers) {
  return iceServers.map((server) => {
    const out = { urls: [...server.urls] };
    if (server.username != null) out.username = server.username;
    if (server.credential != null) out.credential = server.credential;
    return out;
  });
}

/**
 * The mid of the offer's screen-share section: the video m-line the kiosk only receives on
 * (docs/exchange.md "Screen share"); null when the offer has none.
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

/** One peer connection of the consultation, with what belongs to it alone. */
class Leg {
  constructor(index, pc, fingerprint) {
    this.index = index; // 0: the first, verified by the words; later: by resume_proof
    this.pc = pc;
    this.fingerprint = fingerprint; // ours, from the certificate made for this leg
    this.offerFingerprint = null;
    this.channel = null;
    this.answered = false;
    this.pendingCandidates = [];
    this.sentEndOfCandidates = false;
    this.verifying = false;
    this.verified = false;
    this.verifyTimer = null;
    this.beatTimer = null;
    this.lastHeard = 0;
    this.beatSeen = false; // silence counts only once the kiosk has shown it beats
    this.dead = false;
    this.screen = null; // the screen-share transceiver, once answered
    this.early = []; // channel messages that came before this leg was verified
    this.proofSent = Promise.resolve(); // our resume_proof on its way (resumed legs)
  }

  get resumed() {
    return this.index > 0;
  }

  close() {
    this.dead = true;
    clearTimeout(this.verifyTimer);
    clearInterval(this.beatTimer);
    if (this.channel !== null) this.channel.close();
    this.pc.close();
  }
}

/**
 * Events: "state" {state, words}, "remote-stream" {stream}, "chat" {message, from} ("customer"
 * or "you": history lines after a resume carry both; merged by id, never twice),
 * "intake" {fields} (the customer's form, end to end; shown, never stored),
 * "chat-ready" {ready} (the channel is open and verified for sending), "problem" {text},
 * "failed" {} (the call must end), "bye" {} (the kiosk ended it on purpose),
 * "verified" {code, resumed} (the four words to read out; a resumed leg keeps the original),
 * "unverified" {code} (why; the call must end), "reconnecting" {words},
 * "resume-state" {} (token, secret, code changed: persist snapshot()),
 * "exchange" {message} (every other channel message: files, scans, photos...).
 *
 * For the exchange UI: sendChannel(message) -> boolean, setScreenTrack(track | null).
 */
export class Consultation extends EventTarget {
  // localMedia: a promise of the adviser's MediaStream (or null when there is none), so the
  // call exists, and the offer is caught, while the browser still asks for the camera.
  // words: a promise of the 256 code words (verification.js loadWords).
  // restore: {secret, code, token} of a call this tab held before a reload: no commitment,
  // the next offer is answered and proven with resume_proof.
  constructor({
    consultationId,
    peer,
    iceServers,
    iceTransportPolicy,
    localMedia,
    protocol,
    send,
    words,
    graceS = 60,
    restore = null,
  }) {
    super();
    this.id = consultationId;
    this.peer = peer;
    this.protocol = protocol;
    this.send = send;
    this.localMedia = Promise.resolve(localMedia);
    this.words = Promise.resolve(words);
    this.iceServers = iceServers;
    this.iceTransportPolicy = iceTransportPolicy;
    this.graceMs = graceS * 1000 + GRACE_SLACK_MS;
    this.closed = false;
    this.leg = null;
    this.legs = 0;
    this.offers = Promise.resolve();
    this.graceTimer = null;
    this.seenChat = new Set();
    this.screenTrack = null;
    // Short authentication string (docs/verification.md): we commit first, the kiosk offers.
    this.nonce = newNonce();
    this.code = restore?.code ?? null;
    this.secret = restore?.secret ?? null;
    this.token = restore?.token ?? null;
    if (restore !== null) {
      this.ready = Promise.resolve(null);
      this.legs = 1; // the words were read out on a leg of the tab before the reload
      this.emitState("resuming");
      this.armGrace();
    } else {
      this.ready = this.startFirstLeg();
      this.ready.catch(() => {}); // reported by startFirstLeg() itself
      this.emitState("waiting");
    }
  }

  // -- public API ---------------------------------------------------------------------

  /** The kiosk's offer: answer at once (a later offer means a new leg), then trickle. */
  handleOffer(sdp) {
    const run = this.offers.then(() => this.answerOffer(sdp));
    this.offers = run.catch(() => {});
    return run;
  }

  /** A candidate from the kiosk (it normally puts all of them in its offer). */
  async handleRemoteCandidate(message) {
    if (this.closed) return;
    try {
      await this.ready;
      await this.offers;
    } catch {
      return;
    }
    const leg = this.leg;
    if (this.closed || leg === null || leg.dead) return;
    const init =
      message.candidate === ""
        ? null
        : {
            candidate: message.candidate,
            sdpMid: message.sdp_mid ?? null,
            sdpMLineIndex: message.sdp_mline_index ?? null,
          };
    try {
      await leg.pc.addIceCandidate(init ?? undefined);
    } catch {
      // On a later leg a straggler of the previous one is expected; say nothing then.
      if (!leg.resumed) {
        this.emit("problem", { text: "The kiosk sent a network address that could not be used." });
      }
    }
  }

  /** Send one chat line; returns the sent message, or null when the channel is not open. */
  sendChat(text) {
    if (!this.chatReady) return null;
    const message = { type: "chat", id: chatId(), text, ts: Date.now() };
    this.leg.channel.send(this.protocol.encode(message, "channel"));
    this.seenChat.add(message.id);
    return message;
  }

  /**
   * Send any channel message (validated by protocol.js, which throws on a bad one); false
   * when there is no open, verified channel right now (e.g. while reconnecting).
   */
  sendChannel(message) {
    const leg = this.leg;
    if (!this.chatReady || !leg.verified) return false;
    leg.channel.send(this.protocol.encode(message, "channel"));
    return true;
  }

  /**
   * Put a track (getDisplayMedia's) on the screen-share sender, or take it off (null). Kept
   * across legs: a resumed connection carries it again. True when a connection carries it now.
   */
  async setScreenTrack(track) {
    this.screenTrack = track;
    const leg = this.leg;
    if (leg === null || leg.dead || leg.screen === null) return false;
    await leg.screen.sender.replaceTrack(track);
    return true;
  }

  /** True when the kiosk's offer had a screen-share section and this leg answered it. */
  get screenShareReady() {
    return this.leg !== null && !this.leg.dead && this.leg.screen !== null;
  }

  get chatReady() {
    const leg = this.leg;
    if (leg === null || leg.dead || leg.channel === null || leg.channel.readyState !== "open") {
      return false;
    }
    // A resumed leg carries nothing of ours before the kiosk proved it is the same kiosk.
    return !leg.resumed || leg.verified;
  }

  /** The hub's resume token for this consultation (resume_grant): kept with the rest. */
  setResumeToken(token) {
    if (this.token === token) return;
    this.token = token;
    this.emit("resume-state", {});
  }

  /** What a reloaded tab needs to get back in (resume.js stores it). */
  snapshot() {
    return {
      consultation_id: this.id,
      token: this.token,
      secret: this.secret,
      code: this.code,
      peer: this.peer,
    };
  }

  /** Whether this call can heal after a lost path: verified, with a secret and a token. */
  get resumable() {
    return this.secret !== null && this.code !== null && this.token !== null;
  }

  /** The hub says the kiosk's connection dropped: drop our path, wait for its new offer. */
  peerAway() {
    this.pathLost(this.leg, "peer_away");
  }

  /** The hub connection came back (resumed) or the kiosk did (peer_back): say so. */
  peerBack() {
    if (this.closed) return;
    if (this.leg === null || this.leg.dead) this.emitState("reconnecting");
  }

  /** End from our side: tell the kiosk (bye) and the hub, then close. */
  hangup(reason = "hangup") {
    if (this.closed) return;
    const leg = this.leg;
    if (leg !== null && leg.channel?.readyState === "open") {
      try {
        leg.channel.send(this.protocol.encode({ type: "bye" }, "channel"));
      } catch {
        // closing anyway
      }
    }
    this.send({ type: "end", consultation_id: this.id, reason });
    this.close();
  }

  /** Close the peer connection (the local camera stays open for the next call). */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.graceTimer);
    if (this.leg !== null) this.leg.close();
    this.emit("chat-ready", { ready: false });
  }

  // -- legs -----------------------------------------------------------------------------

  /** Make our certificate, then the peer connection, then commit to its fingerprint. */
  async startFirstLeg() {
    await null; // never fail synchronously: the caller binds its listeners first
    try {
      const leg = await this.newLeg();
      const committed = await commitment(leg.fingerprint, this.nonce);
      if (this.closed) return null;
      // The kiosk sends its offer only once it holds this.
      this.send({ type: "sas_commit", consultation_id: this.id, commitment: committed });
      return leg;
    } catch (exc) {
      if (!this.closed) this.emit("unverified", { code: exc.code ?? "no_certificate" });
      throw exc;
    }
  }

  /** A new certificate (a new fingerprint) and a new RTCPeerConnection: the current leg. */
  async newLeg() {
    const certificate = await RTCPeerConnection.generateCertificate({
      name: "ECDSA",
      namedCurve: "P-256",
    });
    const fingerprint = certificateFingerprint(certificate);
    if (this.closed) throw new Error("closed");
    const pc = new RTCPeerConnection({
      iceServers: rtcIceServers(this.iceServers),
      iceTransportPolicy: this.iceTransportPolicy === "relay" ? "relay" : "all",
      certificates: [certificate],
    });
    const leg = new Leg(this.legs, pc, fingerprint);
    this.legs += 1;
    this.leg = leg;
    pc.addEventListener("icecandidate", (event) => this.onLocalCandidate(leg, event.candidate));
    pc.addEventListener("track", (event) => this.onTrack(leg, event));
    pc.addEventListener("connectionstatechange", () => this.onConnectionState(leg));
    pc.addEventListener("datachannel", (event) => this.onDataChannel(leg, event.channel));
    return leg;
  }

  async answerOffer(sdp) {
    if (this.closed) return;
    await this.ready;
    let leg = this.leg;
    if (leg === null || leg.answered || leg.dead) {
      // A later offer: the path is new. Only a verified call can be carried over to it.
      if (this.secret === null) {
        this.emit("failed", {});
        return;
      }
      if (leg !== null) this.pathLost(leg, "reconnecting");
      leg = await this.newLeg();
    }
    const stream = await this.localMedia;
    if (this.closed || leg !== this.leg) return;
    // The fingerprint our DTLS will hold the kiosk to; its reveal must name the same.
    leg.offerFingerprint = sdpFingerprint(sdp);
    await leg.pc.setRemoteDescription({ type: "offer", sdp });
    // Added after the offer, so the kiosk's sendrecv transceivers are reused: no renegotiation.
    for (const track of stream?.getTracks() ?? []) leg.pc.addTrack(track, stream);
    leg.screen = this.answerScreen(leg, screenMid(sdp));
    if (leg.screen !== null && this.screenTrack !== null) {
      await leg.screen.sender.replaceTrack(this.screenTrack);
    }
    const answer = await leg.pc.createAnswer();
    await leg.pc.setLocalDescription(answer);
    if (this.closed || leg !== this.leg) return;
    this.send({ type: "answer", consultation_id: this.id, sdp: leg.pc.localDescription.sdp });
    leg.answered = true;
    // Candidates found while we were still answering go out only now: answer first, always.
    for (const message of leg.pendingCandidates) this.send(message);
    leg.pendingCandidates = [];
  }

  /** The screen-share section answered sendonly, no track yet (replaceTrack adds one). */
  answerScreen(leg, mid) {
    if (mid === null) return null;
    const transceiver = leg.pc.getTransceivers().find((t) => t.mid === mid);
    if (transceiver === undefined || transceiver.sender.track !== null) return null;
    transceiver.direction = "sendonly";
    return transceiver;
  }

  /** The path of ``leg`` is dead: close it and wait for the kiosk's next offer. */
  pathLost(leg, why) {
    if (this.closed || leg === null || leg !== this.leg || leg.dead) return;
    leg.close();
    this.emit("chat-ready", { ready: false });
    // A call that was never verified is not resumed (the kiosk ends it too).
    if (this.secret === null) {
      this.emit("failed", {});
      return;
    }
    const state = why === "peer_away" ? "peer_away" : "reconnecting";
    this.emitState(state);
    this.emit("reconnecting", { words: CALL_STATE_WORDS[state] });
    this.armGrace();
  }

  armGrace() {
    if (this.graceTimer !== null) return;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = null;
      const leg = this.leg;
      if (!this.closed && (leg === null || !leg.verified || leg.dead)) this.emit("failed", {});
    }, this.graceMs);
  }

  // -- events of a leg ------------------------------------------------------------------

  onLocalCandidate(leg, candidate) {
    if (this.closed || leg.dead) return;
    let message;
    if (candidate === null || candidate.candidate === "") {
      // End of candidates; Chrome can signal it twice (empty candidate, then null).
      if (leg.sentEndOfCandidates) return;
      leg.sentEndOfCandidates = true;
      message = { type: "ice_candidate", consultation_id: this.id, candidate: "" };
    } else {
      message = {
        type: "ice_candidate",
        consultation_id: this.id,
        candidate: candidate.candidate,
        sdp_mid: candidate.sdpMid,
        sdp_mline_index: candidate.sdpMLineIndex,
      };
    }
    if (leg.answered) this.send(message);
    else leg.pendingCandidates.push(message);
  }

  onTrack(leg, event) {
    if (leg !== this.leg) return;
    const stream = event.streams[0] ?? new MediaStream([event.track]);
    this.emit("remote-stream", { stream });
  }

  onConnectionState(leg) {
    if (this.closed || leg !== this.leg || leg.dead) return;
    const state = leg.pc.connectionState;
    if (state === "failed" || state === "closed") {
      this.pathLost(leg, "failed");
      return;
    }
    // A resumed leg says "connected" only once the kiosk has proven itself.
    if (state === "connected" && leg.resumed && !leg.verified) return;
    this.emitState(state);
  }

  onDataChannel(leg, channel) {
    if (channel.label !== CHANNEL_LABEL || leg.dead) {
      channel.close(); // nothing else is part of the protocol
      return;
    }
    leg.channel = channel;
    channel.binaryType = "arraybuffer"; // protocol.js decodes ArrayBuffers synchronously
    channel.addEventListener("open", () => this.onChannelOpen(leg));
    channel.addEventListener("close", () => {
      if (leg === this.leg) this.pathLost(leg, "closed");
    });
    channel.addEventListener("message", (event) => this.onChannelMessage(leg, event.data));
    if (channel.readyState === "open") this.onChannelOpen(leg);
  }

  onChannelOpen(leg) {
    if (this.closed || leg.dead || leg.verifyTimer !== null) return;
    this.startBeats(leg);
    if (leg.resumed) {
      leg.proofSent = this.sendResumeProof(leg);
    } else {
      // The kiosk's fingerprint is fixed in the offer we applied: now we may reveal.
      const reveal = { type: "sas_reveal", fingerprint: leg.fingerprint, nonce: this.nonce };
      leg.channel.send(this.protocol.encode(reveal, "channel"));
      this.emit("chat-ready", { ready: true });
    }
    leg.verifyTimer = setTimeout(() => {
      if (!leg.verified) this.refuse(leg, new VerificationError("reveal_timeout", "no reveal"));
    }, VERIFY_TIMEOUT_MS);
  }

  async sendResumeProof(leg) {
    try {
      const mac = await resumeMac(this.secret, {
        role: "adviser",
        consultationId: this.id,
        ownFingerprint: leg.fingerprint,
        peerFingerprint: leg.offerFingerprint,
      });
      if (leg.dead || leg.channel.readyState !== "open") return;
      const proof = { type: "resume_proof", fingerprint: leg.fingerprint, mac };
      leg.channel.send(this.protocol.encode(proof, "channel"));
    } catch (exc) {
      this.refuse(leg, exc);
    }
  }

  startBeats(leg) {
    leg.lastHeard = Date.now();
    leg.beatTimer = setInterval(() => {
      if (leg.dead || leg.channel.readyState !== "open") return;
      if (leg.beatSeen && Date.now() - leg.lastHeard > SILENCE_MS) {
        this.pathLost(leg, "silent");
        return;
      }
      leg.channel.send(this.protocol.encode({ type: "beat", ts: Date.now() }, "channel"));
    }, BEAT_INTERVAL_MS);
  }

  async onKioskReveal(leg, message) {
    if (leg.resumed || leg.verifying || leg.verified) {
      this.refuse(leg, new VerificationError("unverified", "a reveal where none belongs"));
      return;
    }
    leg.verifying = true;
    try {
      const words = await this.words;
      const received = await settledRemoteCertificate(leg.pc);
      const code = await verifyKiosk({
        offerFingerprint: leg.offerFingerprint,
        revealedFingerprint: message.fingerprint,
        certificateFingerprint: received,
        adviserFingerprint: leg.fingerprint,
        nonce: this.nonce,
        words,
      });
      if (this.closed || leg.dead) return;
      this.code = code;
      leg.verified = true;
      clearTimeout(leg.verifyTimer);
      this.emit("verified", { code, resumed: false });
      this.emit("resume-state", {});
      this.flushEarly(leg);
    } catch (exc) {
      this.refuse(leg, exc);
    }
  }

  async onResumeProof(leg, message) {
    if (!leg.resumed || leg.verifying || leg.verified || this.secret === null) {
      this.refuse(leg, new VerificationError("no_continuity", "a proof where none belongs"));
      return;
    }
    leg.verifying = true;
    // Our proof goes out before any verdict on theirs: the kiosk judges it for itself even
    // when we are about to refuse and hang up (it may be us who holds the wrong secret).
    await leg.proofSent;
    if (this.closed || leg.dead || leg !== this.leg) return;
    try {
      const received = await settledRemoteCertificate(leg.pc);
      await verifyResumeProof({
        secret: this.secret,
        consultationId: this.id,
        proof: message,
        offerFingerprint: leg.offerFingerprint,
        certificateFingerprint: received,
        adviserFingerprint: leg.fingerprint,
      });
      if (this.closed || leg.dead) return;
      leg.verified = true;
      clearTimeout(leg.verifyTimer);
      clearTimeout(this.graceTimer);
      this.graceTimer = null;
      // The words stay the ones read out on the first leg.
      this.emit("verified", { code: this.code, resumed: true });
      this.emitState(leg.pc.connectionState === "connected" ? "connected" : "connecting");
      this.emit("chat-ready", { ready: true });
      this.flushEarly(leg);
    } catch (exc) {
      this.refuse(leg, exc);
    }
  }

  onContinuity(leg, message) {
    // Once, on the first leg, from the kiosk we are verifying; never replaced afterwards.
    if (leg.resumed || this.secret !== null) {
      if (this.secret !== message.secret) {
        this.refuse(leg, new VerificationError("no_continuity", "a second continuity secret"));
      }
      return;
    }
    try {
      continuitySecret(message.secret);
    } catch (exc) {
      this.refuse(leg, exc);
      return;
    }
    this.secret = message.secret;
    this.emit("resume-state", {});
  }

  refuse(leg, exc) {
    if (this.closed || leg !== this.leg) return;
    leg.verified = false;
    this.emit("unverified", { code: exc instanceof VerificationError ? exc.code : "unverified" });
  }

  /** A chat line, live or from the kiosk's history: shown once per id. */
  mergeChat(message, from) {
    if (this.seenChat.has(message.id)) return;
    this.seenChat.add(message.id);
    this.emit("chat", { message, from });
  }

  onChannelMessage(leg, data) {
    if (leg !== this.leg || leg.dead) return;
    leg.lastHeard = Date.now();
    let message;
    try {
      message = this.protocol.decode(data, "channel");
    } catch (exc) {
      if (!(exc instanceof ProtocolError)) throw exc;
      const what = PROBLEM_WORDS[exc.code] ?? "a message this console cannot read";
      this.emit("problem", { text: `The kiosk sent ${what}; it was not shown.` });
      return;
    }
    if (message.type === "beat") leg.beatSeen = true;
    else if (message.type === "sas_reveal") this.onKioskReveal(leg, message);
    else if (message.type === "resume_proof") this.onResumeProof(leg, message);
    else if (message.type === "bye") this.emit("bye", {});
    else if (!leg.verified) {
      // The kiosk may send (continuity, history...) as soon as it has checked us, while our
      // check of it still runs: held back until then, dropped with the leg if it fails.
      if (leg.early.length >= EARLY_MAX) {
        this.refuse(leg, new VerificationError("unverified", "too much before verification"));
      } else leg.early.push(message);
    } else this.onVerifiedMessage(leg, message);
  }

  /** Deliver what came while the leg was being verified. */
  flushEarly(leg) {
    const early = leg.early;
    leg.early = [];
    for (const message of early) this.onVerifiedMessage(leg, message);
  }

  onVerifiedMessage(leg, message) {
    if (message.type === "continuity") this.onContinuity(leg, message);
    else if (message.type === "chat") this.mergeChat(message, "customer");
    else if (message.type === "history_chat") {
      this.mergeChat(message, message.author === "adviser" ? "you" : "customer");
    } else if (message.type === "intake") this.emit("intake", { fields: message.fields });
    else if (!OWN_MESSAGES.has(message.type)) this.emit("exchange", { message });
  }

  emitState(state) {
    this.emit("state", { state, words: CALL_STATE_WORDS[state] ?? state });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/**
 * The certificate the kiosk presented in DTLS. The data channel can deliver the kiosk's
 * reveal a moment before the browser reports the handshake's certificate: ask again briefly.
 */
async function settledRemoteCertificate(pc) {
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

function chatId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
