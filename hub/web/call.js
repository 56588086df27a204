// One consultation from the adviser's side: answer the kiosk's offer, trickle our candidates,
// carry chat over the kiosk's "consultation" data channel. Media and chat go peer to peer;
// only SDP and candidates pass through the hub.

import { ProtocolError } from "./protocol.js";
import { PROBLEM_WORDS } from "./signalling.js";
import {
  VerificationError,
  certificateFingerprint,
  commitment,
  newNonce,
  remoteCertificateFingerprint,
  sdpFingerprint,
  verifyKiosk,
} from "./verification.js";

export const CHANNEL_LABEL = "consultation";
// After the data channel opens, the kiosk's sas_reveal must arrive and check out within this.
export const VERIFY_TIMEOUT_MS = 10000;

/** Plain words for the peer connection's state, for #call-state. */
export const CALL_STATE_WORDS = {
  waiting: "Connecting to the kiosk…",
  new: "Connecting to the kiosk…",
  connecting: "Connecting to the kiosk…",
  connected: "Connected — end-to-end encrypted (DTLS-SRTP)",
  disconnected: "Connection unstable — trying to recover…",
  failed: "Connection lost",
  closed: "Call ended",
};

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
 * Events: "state" {state, words}, "remote-stream" {stream}, "chat" {message},
 * "intake" {fields} (the customer's form, end to end; shown, never stored),
 * "chat-ready" {ready}, "problem" {text}, "failed" {},
 * "verified" {code} (the four words to read out), "unverified" {code} (why; the call must end).
 */
export class Consultation extends EventTarget {
  // localMedia: a promise of the adviser's MediaStream (or null when there is none), so the
  // call exists, and the offer is caught, while the browser still asks for the camera.
  // words: a promise of the 256 code words (verification.js loadWords).
  constructor({
    consultationId,
    peer,
    iceServers,
    iceTransportPolicy,
    localMedia,
    protocol,
    send,
    words,
  }) {
    super();
    this.id = consultationId;
    this.peer = peer;
    this.protocol = protocol;
    this.send = send;
    this.localMedia = Promise.resolve(localMedia);
    this.words = Promise.resolve(words);
    this.channel = null;
    this.answered = false;
    this.pendingCandidates = [];
    this.sentEndOfCandidates = false;
    this.closed = false;
    this.pc = null;
    // Short authentication string (docs/verification.md): we commit first, the kiosk offers.
    this.nonce = newNonce();
    this.fingerprint = null;
    this.offerFingerprint = null;
    this.verifying = false;
    this.verifyTimer = null;
    this.code = null;
    this.ready = this.start({ iceServers, iceTransportPolicy });
    this.ready.catch(() => {}); // reported by start() itself; handleOffer awaits it again
    this.emitState("waiting");
  }

  /** Make our certificate, then the peer connection, then commit to its fingerprint. */
  async start({ iceServers, iceTransportPolicy }) {
    await null; // never fail synchronously: the caller binds its listeners first
    try {
      // Our own certificate, so our fingerprint is known (and committed) before any SDP.
      const certificate = await RTCPeerConnection.generateCertificate({
        name: "ECDSA",
        namedCurve: "P-256",
      });
      this.fingerprint = certificateFingerprint(certificate);
      const committed = await commitment(this.fingerprint, this.nonce);
      if (this.closed) return;
      this.pc = new RTCPeerConnection({
        iceServers: rtcIceServers(iceServers),
        iceTransportPolicy: iceTransportPolicy === "relay" ? "relay" : "all",
        certificates: [certificate],
      });
      this.pc.addEventListener("icecandidate", (event) => this.onLocalCandidate(event.candidate));
      this.pc.addEventListener("track", (event) => this.onTrack(event));
      this.pc.addEventListener("connectionstatechange", () => this.onConnectionState());
      this.pc.addEventListener("datachannel", (event) => this.onDataChannel(event.channel));
      // The kiosk sends its offer only once it holds this.
      this.send({ type: "sas_commit", consultation_id: this.id, commitment: committed });
    } catch (exc) {
      if (!this.closed) this.emit("unverified", { code: exc.code ?? "no_certificate" });
      throw exc;
    }
  }

  /** The kiosk's offer: answer at once, then trickle our candidates. */
  async handleOffer(sdp) {
    if (this.closed) return;
    await this.ready;
    const stream = await this.localMedia;
    if (this.closed) return;
    // The fingerprint our DTLS will hold the kiosk to; its reveal must name the same.
    this.offerFingerprint = sdpFingerprint(sdp);
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    // Added after the offer, so the kiosk's sendrecv transceivers are reused: no renegotiation.
    for (const track of stream?.getTracks() ?? []) this.pc.addTrack(track, stream);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    if (this.closed) return;
    this.send({ type: "answer", consultation_id: this.id, sdp: this.pc.localDescription.sdp });
    this.answered = true;
    // Candidates found while we were still answering go out only now: answer first, always.
    for (const message of this.pendingCandidates) this.send(message);
    this.pendingCandidates = [];
  }

  /** A candidate from the kiosk (it normally puts all of them in its offer). */
  async handleRemoteCandidate(message) {
    if (this.closed) return;
    try {
      await this.ready;
    } catch {
      return;
    }
    if (this.closed) return;
    const init =
      message.candidate === ""
        ? null
        : {
            candidate: message.candidate,
            sdpMid: message.sdp_mid ?? null,
            sdpMLineIndex: message.sdp_mline_index ?? null,
          };
    try {
      await this.pc.addIceCandidate(init ?? undefined);
    } catch {
      this.emit("problem", { text: "The kiosk sent a network address that could not be used." });
    }
  }

  /** Send one chat line; returns the sent message, or null when the channel is not open. */
  sendChat(text) {
    if (this.channel === null || this.channel.readyState !== "open") return null;
    const message = { type: "chat", id: chatId(), text, ts: Date.now() };
    this.channel.send(this.protocol.encode(message, "channel"));
    return message;
  }

  get chatReady() {
    return this.channel !== null && this.channel.readyState === "open";
  }

  /** End from our side: tell the hub, then close. */
  hangup(reason = "hangup") {
    if (this.closed) return;
    this.send({ type: "end", consultation_id: this.id, reason });
    this.close();
  }

  /** Close the peer connection (the local camera stays open for the next call). */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.verifyTimer);
    if (this.channel !== null) this.channel.close();
    if (this.pc !== null) this.pc.close();
    this.emit("chat-ready", { ready: false });
  }

  onLocalCandidate(candidate) {
    if (this.closed) return;
    let message;
    if (candidate === null || candidate.candidate === "") {
      // End of candidates; Chrome can signal it twice (empty candidate, then null).
      if (this.sentEndOfCandidates) return;
      this.sentEndOfCandidates = true;
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
    if (this.answered) this.send(message);
    else this.pendingCandidates.push(message);
  }

  onTrack(event) {
    const stream = event.streams[0] ?? new MediaStream([event.track]);
    this.emit("remote-stream", { stream });
  }

  onConnectionState() {
    if (this.closed) return;
    const state = this.pc.connectionState;
    this.emitState(state);
    if (state === "failed") this.emit("failed", {});
  }

  onDataChannel(channel) {
    if (channel.label !== CHANNEL_LABEL) {
      channel.close(); // nothing else is part of the protocol
      return;
    }
    this.channel = channel;
    channel.binaryType = "arraybuffer"; // protocol.js decodes ArrayBuffers synchronously
    channel.addEventListener("open", () => this.onChannelOpen());
    channel.addEventListener("close", () => this.emit("chat-ready", { ready: false }));
    channel.addEventListener("message", (event) => this.onChannelMessage(event.data));
    if (channel.readyState === "open") this.onChannelOpen();
  }

  onChannelOpen() {
    if (this.closed || this.verifyTimer !== null) return;
    // The kiosk's fingerprint is fixed in the offer we applied: now we may reveal.
    const reveal = { type: "sas_reveal", fingerprint: this.fingerprint, nonce: this.nonce };
    this.channel.send(this.protocol.encode(reveal, "channel"));
    this.verifyTimer = setTimeout(() => {
      if (this.code === null) this.refuse(new VerificationError("reveal_timeout", "no reveal"));
    }, VERIFY_TIMEOUT_MS);
    this.emit("chat-ready", { ready: true });
  }

  async onKioskReveal(message) {
    if (this.verifying || this.code !== null) {
      this.refuse(new VerificationError("unverified", "a second reveal"));
      return;
    }
    this.verifying = true;
    try {
      const words = await this.words;
      const received = await remoteCertificateFingerprint(this.pc);
      const code = await verifyKiosk({
        offerFingerprint: this.offerFingerprint,
        revealedFingerprint: message.fingerprint,
        certificateFingerprint: received,
        adviserFingerprint: this.fingerprint,
        nonce: this.nonce,
        words,
      });
      if (this.closed) return;
      this.code = code;
      clearTimeout(this.verifyTimer);
      this.emit("verified", { code });
    } catch (exc) {
      this.refuse(exc);
    }
  }

  refuse(exc) {
    if (this.closed) return;
    this.code = null;
    this.emit("unverified", { code: exc instanceof VerificationError ? exc.code : "unverified" });
  }

  onChannelMessage(data) {
    let message;
    try {
      message = this.protocol.decode(data, "channel");
    } catch (exc) {
      if (!(exc instanceof ProtocolError)) throw exc;
      const what = PROBLEM_WORDS[exc.code] ?? "a message this console cannot read";
      this.emit("problem", { text: `The kiosk sent ${what}; it was not shown.` });
      return;
    }
    if (message.type === "sas_reveal") this.onKioskReveal(message);
    else if (message.type === "chat") this.emit("chat", { message });
    else if (message.type === "intake") this.emit("intake", { fields: message.fields });
  }

  emitState(state) {
    this.emit("state", { state, words: CALL_STATE_WORDS[state] ?? state });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function chatId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
