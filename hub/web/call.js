// One consultation from the adviser's side: answer the kiosk's offer, trickle our candidates,
// carry chat over the kiosk's "consultation" data channel. Media and chat go peer to peer;
// only SDP and candidates pass through the hub.

import { ProtocolError } from "./protocol.js";
import { PROBLEM_WORDS } from "./signalling.js";

export const CHANNEL_LABEL = "consultation";

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
 * "chat-ready" {ready}, "problem" {text}, "failed" {}.
 */
export class Consultation extends EventTarget {
  // localMedia: a promise of the adviser's MediaStream (or null when there is none), so the
  // call exists, and the offer is caught, while the browser still asks for the camera.
  constructor({ consultationId, peer, iceServers, iceTransportPolicy, localMedia, protocol, send }) {
    super();
    this.id = consultationId;
    this.peer = peer;
    this.protocol = protocol;
    this.send = send;
    this.localMedia = Promise.resolve(localMedia);
    this.channel = null;
    this.answered = false;
    this.pendingCandidates = [];
    this.sentEndOfCandidates = false;
    this.closed = false;
    this.pc = new RTCPeerConnection({
      iceServers: rtcIceServers(iceServers),
      iceTransportPolicy: iceTransportPolicy === "relay" ? "relay" : "all",
    });
    this.pc.addEventListener("icecandidate", (event) => this.onLocalCandidate(event.candidate));
    this.pc.addEventListener("track", (event) => this.onTrack(event));
    this.pc.addEventListener("connectionstatechange", () => this.onConnectionState());
    this.pc.addEventListener("datachannel", (event) => this.onDataChannel(event.channel));
    this.emitState("waiting");
  }

  /** The kiosk's offer: answer at once, then trickle our candidates. */
  async handleOffer(sdp) {
    if (this.closed) return;
    const stream = await this.localMedia;
    if (this.closed) return;
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
    if (this.channel !== null) this.channel.close();
    this.pc.close();
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
    channel.addEventListener("open", () => this.emit("chat-ready", { ready: true }));
    channel.addEventListener("close", () => this.emit("chat-ready", { ready: false }));
    channel.addEventListener("message", (event) => this.onChannelMessage(event.data));
    if (channel.readyState === "open") this.emit("chat-ready", { ready: true });
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
    if (message.type === "chat") this.emit("chat", { message });
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
