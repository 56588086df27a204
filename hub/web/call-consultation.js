// One consultation from the adviser's side: answer the kiosk's offer, trickle our candidates,
// carry chat over the kiosk's "consultation" data channel. Media and chat go peer to peer;
// only SDP and candidates pass through the hub.
//
// A consultation outlives its peer connections (docs/reconnection.md): when the path dies
// (2.5 s without a frame, or the connection fails) we close it and answer the kiosk's next offer
// with a new RTCPeerConnection, a leg (call-leg.js). The first leg is verified with the four
// words; every later leg with resume_proof over the continuity secret the kiosk sent once verified.

import { Leg, newCertificate } from "./call-leg.js";
import { acceptContinuity } from "./call-proof.js";
import { Emitter } from "./events.js";
import { VerificationError, commitment, newNonce } from "./verification.js";

/** @typedef {import("./types.js").IceCandidateMessage} IceCandidateMessage */
/** @typedef {import("./types.js").ConsoleMessage} ConsoleMessage */
/** @typedef {import("./types.js").ChannelMessage} ChannelMessage */
/** @typedef {import("./types.js").Chat} Chat */
/** @typedef {import("./types.js").HistoryChat} HistoryChat */
/** @typedef {import("./types.js").CallSnapshot} CallSnapshot */
/** @typedef {import("./types.js").EndReason} EndReason */
/** @typedef {import("./types.js").ConsultationEvents} ConsultationEvents */
/** @typedef {import("./types.js").ConsultationOptions} ConsultationOptions */

// Beyond the hub's grace period the hub has ended the call; this is only a backstop.
const GRACE_SLACK_MS = 5000;

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
  "device_proof",
  "resume_proof",
  "continuity",
  "beat",
  "bye",
  "chat",
  "history_chat",
  "intake",
]);

/**
 * The consultation over one or more legs; events: ConsultationEvents.
 * For the exchange UI: sendChannel(message) -> boolean, setScreenTrack(track | null).
 * @extends {Emitter<ConsultationEvents>}
 */
export class Consultation extends Emitter {
  /** @param {ConsultationOptions} options */
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
    trust = null,
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
    /** @type {Leg | null} the current leg */
    this.leg = null;
    this.legs = 0;
    /** @type {Promise<void>} the offers answered so far, in order */
    this.offers = Promise.resolve();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.graceTimer = null;
    /** @type {Set<string>} */
    this.seenChat = new Set();
    /** @type {MediaStreamTrack | null} */
    this.screenTrack = null;
    // Short authentication string (docs/verification.md): we commit first, the kiosk offers.
    this.nonce = newNonce();
    /** @type {string | null} our sas_commit: the kiosk's device proof signs it (call-device.js) */
    this.commitment = null;
    /** The pinned tenant CA the kiosk's device proof is checked against (tenant-anchor.js). */
    this.trust = trust;
    /** @type {string | null} */
    this.code = restore?.code ?? null;
    /** @type {string | null} */
    this.secret = restore?.secret ?? null;
    /** @type {string | null} */
    this.token = restore?.token ?? null;
    /** @type {Promise<Leg | null>} the first leg, committed to (none for a restored call) */
    this.ready = Promise.resolve(null);
    if (restore !== null) {
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

  /**
   * The kiosk's offer: answer at once (a later offer means a new leg), then trickle.
   * @param {string} sdp
   */
  handleOffer(sdp) {
    const run = this.offers.then(() => this.answerOffer(sdp));
    this.offers = run.catch(() => {});
    return run;
  }

  /**
   * A candidate from the kiosk (it normally puts all of them in its offer).
   * @param {IceCandidateMessage} message
   */
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
    try {
      await leg.addRemoteCandidate(message);
    } catch {
      // On a later leg a straggler of the previous one is expected; say nothing then.
      if (!leg.resumed) {
        this.emit("problem", { text: "The kiosk sent a network address that could not be used." });
      }
    }
  }

  /**
   * Send one chat line; returns the sent message, or null when the channel is not open.
   * @param {string} text
   * @returns {Chat | null}
   */
  sendChat(text) {
    const leg = this.leg;
    if (!this.chatReady || leg === null) return null;
    /** @type {Chat} */
    const message = { type: "chat", id: chatId(), text, ts: Date.now() };
    leg.sendChannel(message);
    this.seenChat.add(message.id);
    return message;
  }

  /**
   * Send any channel message (validated by protocol.js, which throws on a bad one); false
   * when there is no open, verified channel right now (e.g. while reconnecting).
   * @param {ChannelMessage} message
   */
  sendChannel(message) {
    const leg = this.leg;
    if (!this.chatReady || leg === null || !leg.verified) return false;
    leg.sendChannel(message);
    return true;
  }

  /**
   * Put a track (getDisplayMedia's) on the screen-share sender, or take it off (null). Kept
   * across legs: a resumed connection carries it again. True when a connection carries it now.
   * @param {MediaStreamTrack | null} track
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
    if (leg === null || leg.dead || !leg.open) return false;
    // A resumed leg carries nothing of ours before the kiosk proved it is the same kiosk.
    return !leg.resumed || leg.verified;
  }

  /**
   * The hub's resume token for this consultation (resume_grant): kept with the rest.
   * @param {string} token
   */
  setResumeToken(token) {
    if (this.token === token) return;
    this.token = token;
    this.emit("resume-state", {});
  }

  /**
   * What a reloaded tab needs to get back in (resume.js stores it).
   * @returns {CallSnapshot}
   */
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

  /**
   * End from our side: tell the kiosk (bye) and the hub, then close.
   * @param {EndReason} reason
   */
  hangup(reason = "hangup") {
    if (this.closed) return;
    const leg = this.leg;
    if (leg !== null && leg.open) {
      try {
        leg.sendChannel({ type: "bye" });
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
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
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
      this.commitment = committed;
      // The kiosk sends its offer only once it holds this.
      this.send({ type: "sas_commit", consultation_id: this.id, commitment: committed });
      return leg;
    } catch (exc) {
      const code = exc instanceof VerificationError ? exc.code : "no_certificate";
      if (!this.closed) this.emit("unverified", { code });
      throw exc;
    }
  }

  /** A new certificate (a new fingerprint) and a new RTCPeerConnection: the current leg. */
  async newLeg() {
    const certificate = await newCertificate();
    if (this.closed) throw new Error("closed");
    const ice = { iceServers: this.iceServers, iceTransportPolicy: this.iceTransportPolicy };
    const leg = new Leg(this.legs, this, certificate, ice);
    this.legs += 1;
    this.leg = leg;
    return leg;
  }

  /** @param {string} sdp */
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
    const answer = await leg.answer(sdp, stream, this.screenTrack);
    if (this.closed || leg !== this.leg) return;
    this.send({ type: "answer", consultation_id: this.id, sdp: answer });
    // Candidates found while we were still answering go out only now: answer first, always.
    for (const message of leg.markAnswered()) this.send(message);
  }

  /**
   * The path of `leg` is dead: close it and wait for the kiosk's next offer.
   * @param {Leg | null} leg
   * @param {string} why
   */
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

  // -- what a leg reports (call-leg.js) -------------------------------------------------

  /**
   * @param {Leg} leg
   * @param {RTCTrackEvent} event
   */
  onTrack(leg, event) {
    if (leg !== this.leg) return;
    const stream = event.streams[0] ?? new MediaStream([event.track]);
    this.emit("remote-stream", { stream });
  }

  /** @param {Leg} leg */
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

  /**
   * The first leg checked out: these are the words to read out.
   * @param {Leg} leg
   * @param {string} code
   */
  onLegVerified(leg, code) {
    this.code = code;
    this.emit("verified", { code, resumed: false });
    this.emit("resume-state", {});
    this.flushEarly(leg);
  }

  /**
   * A later leg proved it is the same kiosk: the call goes on, grace is over.
   * @param {Leg} leg
   */
  onLegResumed(leg) {
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    // The words stay the ones read out on the first leg.
    this.emit("verified", { code: this.code, resumed: true });
    this.emitState(leg.pc.connectionState === "connected" ? "connected" : "connecting");
    this.emit("chat-ready", { ready: true });
    this.flushEarly(leg);
  }

  /**
   * The leg could not be verified: the call must end.
   * @param {Leg} leg
   * @param {unknown} exc
   */
  refuse(leg, exc) {
    if (this.closed || leg !== this.leg) return;
    leg.verified = false;
    this.emit("unverified", { code: exc instanceof VerificationError ? exc.code : "unverified" });
  }

  /**
   * Deliver what came while the leg was being verified.
   * @param {Leg} leg
   */
  flushEarly(leg) {
    for (const message of leg.takeEarly()) this.onVerifiedMessage(leg, message);
  }

  /**
   * A message on a verified leg.
   * @param {Leg} leg
   * @param {ChannelMessage} message
   */
  onVerifiedMessage(leg, message) {
    if (message.type === "continuity") acceptContinuity(leg, message);
    else if (message.type === "chat") this.mergeChat(message, "customer");
    else if (message.type === "history_chat") {
      this.mergeChat(message, message.author === "adviser" ? "you" : "customer");
    } else if (message.type === "intake") this.emit("intake", { fields: message.fields });
    else if (!OWN_MESSAGES.has(message.type)) this.emit("exchange", { message });
  }

  /**
   * A chat line, live or from the kiosk's history: shown once per id.
   * @param {Chat | HistoryChat} message
   * @param {"customer" | "you"} from
   */
  mergeChat(message, from) {
    if (this.seenChat.has(message.id)) return;
    this.seenChat.add(message.id);
    this.emit("chat", { message, from });
  }

  /** @param {string} state a CallState, or the browser's connectionState */
  emitState(state) {
    const words = /** @type {Record<string, string>} */ (CALL_STATE_WORDS)[state] ?? state;
    this.emit("state", { state, words });
  }
}

/** A random chat message id: 24 hex digits. */
function chatId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
