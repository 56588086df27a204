// The adviser's one call at a time: accept a customer from the queue, hold the consultation
// (call.js) and show it (console-call-view.js), get back into it after a lost hub connection or
// a reload (docs/reconnection.md), and end it.

import { CALL_STATE_WORDS, Consultation } from "./call.js";
import { clearResume, saveResume } from "./resume.js";

/** @typedef {import("./protocol.js").Protocol} Protocol */
/** @typedef {import("./signalling.js").SignallingConnection} SignallingConnection */
/** @typedef {import("./exchange.js").Exchange} Exchange */
/** @typedef {import("./views.js").QueueList} QueueList */
/** @typedef {import("./console-call-view.js").CallView} CallView */
/** @typedef {import("./console-media.js").LocalMedia} LocalMedia */
/** @typedef {import("./console-status.js").StatusLine} StatusLine */
/** @typedef {import("./types.js").Welcome} Welcome */
/** @typedef {import("./types.js").IceServer} IceServer */
/** @typedef {import("./types.js").QueueEntry} QueueEntry */
/** @typedef {import("./types.js").Accepted} Accepted */
/** @typedef {import("./types.js").Offer} Offer */
/** @typedef {import("./types.js").IceCandidateMessage} IceCandidateMessage */
/** @typedef {import("./types.js").Ended} Ended */
/** @typedef {import("./types.js").ResumeGrant} ResumeGrant */
/** @typedef {import("./types.js").Resumed} Resumed */
/** @typedef {import("./types.js").ResumeRecord} ResumeRecord */
/** @typedef {import("./types.js").EndReason} EndReason */
/** @typedef {import("./types.js").DeviceTrust} DeviceTrust */

// How long "Call ended by the customer" stays on screen before the queue comes back.
const ENDED_NOTICE_MS = 2500;

/** @type {Readonly<Record<string, string>>} */
const ENDED_WORDS = {
  hangup: "Call ended by the customer",
  customer_left: "The customer left the kiosk",
  peer_gone: "The kiosk lost its connection to the hub",
  failed: "Connection lost",
  timeout: "Call ended after inactivity",
};

// Said when the kiosk's reveal does not check out (docs/verification.md).
const UNVERIFIED_WORDS =
  "The connection could not be verified and was ended for your protection.";

// The kiosk's device proof was made for another connection (call-device.js): proof of someone
// in between, not a mere doubt.
const DEVICE_MISMATCH_WORDS =
  "The kiosk signed a different connection than this one: someone is in between. " +
  "The call was ended for your protection.";

// The hub no longer knows the call this console tried to get back into (docs/reconnection.md).
const RESUME_FAILED_WORDS = "The consultation could not be resumed";

export class CallDesk {
  /**
   * @param {object} parts
   * @param {CallView} parts.view
   * @param {QueueList} parts.queue
   * @param {LocalMedia} parts.media
   * @param {StatusLine} parts.status
   * @param {Exchange} parts.exchange files, scans, photos and screen share of the call
   * @param {DeviceTrust | null} [parts.trust] the pinned tenant CA (device proofs)
   */
  constructor({ view, queue, media, status, exchange, trust = null }) {
    this.view = view;
    this.trust = trust;
    this.queue = queue;
    this.media = media;
    this.status = status;
    this.exchange = exchange;
    /** @type {Protocol | null} set once loaded */
    this.protocol = null;
    /** @type {Promise<string[]> | null} the 256 code words, set once asked for */
    this.words = null;
    /** @type {SignallingConnection | null} the hub connection of the session, if any */
    this.signalling = null;
    // The tenant's settings, from the welcome.
    /** @type {IceServer[]} */
    this.iceServers = [];
    this.iceTransportPolicy = "all";
    this.graceS = 60;
    /** @type {number | null} the tenant's limit for one exchanged file */
    this.maxFileBytes = null;
    /** @type {Consultation | null} */
    this.call = null;
    /** @type {{consultationId: string, device: string} | null} */
    this.pendingAccept = null;
    /** @type {ResumeRecord | null} a call this tab held before a reload, until resumed */
    this.restoring = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.endTimer = undefined;
    view.el.end.addEventListener("click", () => this.endCall());
    // A form, so Enter in the input sends, as the Send button does.
    view.el.chatForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendChat();
    });
  }

  /**
   * The hub's welcome: the tenant's ICE servers and limits for the calls to come.
   * @param {Welcome} message
   */
  welcome(message) {
    this.iceServers = message.ice_servers;
    // "relay": the tenant wants media only through its TURN server (no direct addresses).
    this.iceTransportPolicy = message.ice_transport_policy ?? "all";
    this.graceS = message.grace_s ?? 60;
    this.maxFileBytes = message.max_file_bytes ?? null;
  }

  /** A call or an accept is under way: the queue's Accept buttons stay off. */
  get busy() {
    return this.call !== null || this.pendingAccept !== null;
  }

  // -- taking a customer from the queue -----------------------------------------------------

  /**
   * @param {string} consultationId
   * @param {string} device
   */
  async accept(consultationId, device) {
    if (this.busy) return;
    this.status.hideNotice();
    this.pendingAccept = { consultationId, device };
    this.queue.setBusy(true);
    // Ask for camera and microphone now, within the click, so the offer is not kept waiting.
    const media = this.media.ensure();
    const sent = this.signalling?.send({ type: "accept", consultation_id: consultationId });
    if (sent !== true) {
      this.pendingAccept = null;
      this.queue.setBusy(false);
      this.status.showNotice("Not connected to the hub; try again in a moment.");
      return;
    }
    await media;
  }

  releasePendingAccept() {
    this.pendingAccept = null;
    this.queue.setBusy(false);
  }

  /**
   * The hub's latest queue: the kiosk we tried to accept may have left it before we were paired.
   * @param {QueueEntry[]} entries
   */
  onQueue(entries) {
    const pending = this.pendingAccept;
    if (
      pending !== null &&
      this.call === null &&
      !entries.some((e) => e.consultation_id === pending.consultationId)
    ) {
      this.releasePendingAccept();
    }
  }

  /** The hub refused something: an accept pending (taken by a colleague...) is off. */
  onRefused() {
    // Otherwise every Accept button would stay disabled.
    if (this.pendingAccept !== null && this.call === null) this.releasePendingAccept();
  }

  /** @param {Accepted} message */
  onAccepted(message) {
    const pending = this.pendingAccept;
    if (pending === null || message.consultation_id !== pending.consultationId) return;
    this.pendingAccept = null;
    clearTimeout(this.endTimer);
    this.signalling?.setCall(message.consultation_id);
    // Created at once (not after the camera prompt), because the kiosk's offer follows at once.
    this.call = this.newConsultation(message.consultation_id, message.peer);
    this.bindCall(this.call);
    this.showCall(message.peer);
  }

  // -- resuming a call (docs/reconnection.md) ---------------------------------------------

  /**
   * A call this tab held before a reload: shown as reconnecting; resumed after welcome.
   * @param {ResumeRecord} saved
   */
  restoreCall(saved) {
    this.restoring = saved;
    this.signalling?.setCall(saved.consultation_id, saved.token);
    this.showCall(saved.peer);
    this.view.setState(CALL_STATE_WORDS.resuming);
  }

  /** @param {ResumeGrant} message */
  onResumeGrant(message) {
    if (this.call?.id === message.consultation_id) {
      this.call.setResumeToken(message.token);
    } else if (this.restoring?.consultation_id === message.consultation_id) {
      this.restoring = { ...this.restoring, token: message.token }; // the old one is dead now
      saveResume(this.restoring);
    }
  }

  /** @param {Resumed} message */
  onResumed(message) {
    const saved = this.restoring;
    if (saved !== null && saved.consultation_id === message.consultation_id && this.call === null) {
      // A reloaded tab: the call again, without a commitment; the kiosk offers anew.
      this.restoring = null;
      this.call = this.newConsultation(saved.consultation_id, message.peer, saved);
      this.bindCall(this.call);
      saveResume(this.call.snapshot());
    } else if (this.call?.id !== message.consultation_id) {
      return;
    }
    if (message.peer_present) this.call?.peerBack();
    else this.view.setState(CALL_STATE_WORDS.peer_away);
  }

  /** @param {string} consultationId the call the hub no longer knows */
  onResumeFailed(consultationId) {
    if (this.restoring?.consultation_id === consultationId) {
      this.restoring = null;
      this.finishCall(RESUME_FAILED_WORDS);
    } else if (this.call?.id === consultationId) {
      this.call.close();
      this.finishCall(RESUME_FAILED_WORDS);
    }
  }

  /**
   * The hub connection is lost: a verified call heals (the hub keeps it through its grace
   * period); any other call's signalling path is gone and the hub has told the kiosk: end it.
   */
  onHubLost() {
    if (this.call?.resumable || this.restoring !== null) {
      if (this.call !== null) this.view.chat.note("Connection to the hub lost — reconnecting…");
    } else if (this.busy) {
      this.leaveCall(null);
      this.status.showNotice("The call ended because the connection to the hub was lost.");
    }
  }

  // -- the call -----------------------------------------------------------------------------

  /**
   * A Consultation for `consultationId`; `restore` is a reloaded tab's saved record.
   * @param {string} consultationId
   * @param {string} peer
   * @param {ResumeRecord | null} restore
   */
  newConsultation(consultationId, peer, restore = null) {
    if (this.protocol === null || this.words === null) {
      throw new Error("the console has not started");
    }
    return new Consultation({
      consultationId,
      peer,
      iceServers: this.iceServers,
      iceTransportPolicy: this.iceTransportPolicy,
      localMedia: this.media.ensure(),
      protocol: this.protocol,
      send: (m) => this.signalling?.send(m),
      words: this.words,
      graceS: this.graceS,
      restore,
      trust: this.trust,
    });
  }

  /** @param {Consultation} call */
  bindCall(call) {
    const view = this.view;
    this.exchange.attach(call);
    call.on("state", ({ words }) => {
      if (call === this.call) view.setState(words);
    });
    call.on("remote-stream", ({ stream }) => {
      if (call === this.call) view.showRemote(stream);
    });
    call.on("chat-ready", ({ ready }) => {
      if (call === this.call) view.setChatReady(ready);
    });
    call.on("chat", ({ message, from }) => {
      // Live lines and, after a resume, the kiosk's history (merged by id in call.js).
      if (call === this.call) view.chat.add(from, message.text, message.ts);
    });
    call.on("resume-state", () => {
      if (call === this.call) saveResume(call.snapshot());
    });
    call.on("bye", () => {
      if (call !== this.call) return;
      call.close();
      this.finishCall(ENDED_WORDS.hangup);
    });
    call.on("intake", ({ fields }) => {
      if (call === this.call) view.details.show(fields);
    });
    call.on("problem", ({ text }) => {
      if (call === this.call) view.chat.note(text);
    });
    call.on("verified", ({ code }) => {
      if (call === this.call) view.showCode(code);
    });
    call.on("device", ({ state, text }) => {
      if (call === this.call) view.showDevice(state, text);
    });
    call.on("unverified", ({ code }) => {
      if (call !== this.call) return;
      call.hangup("failed");
      view.hideCode();
      const words = code === "device_mismatch" ? DEVICE_MISMATCH_WORDS : UNVERIFIED_WORDS;
      this.finishCall(words);
      this.status.showNotice(words);
    });
    call.on("failed", () => {
      if (call !== this.call) return;
      call.hangup("failed");
      this.finishCall(CALL_STATE_WORDS.failed);
    });
  }

  /** @param {Offer} message */
  async onOffer(message) {
    const call = this.call;
    if (call === null || message.consultation_id !== call.id) return;
    try {
      await call.handleOffer(message.sdp);
    } catch {
      if (call !== this.call) return;
      call.hangup("failed");
      this.finishCall("The kiosk's call could not be set up");
    }
  }

  /** @param {IceCandidateMessage} message */
  onCandidate(message) {
    if (this.call !== null && message.consultation_id === this.call.id) {
      this.call.handleRemoteCandidate(message);
    }
  }

  /** @param {string} consultationId */
  onPeerAway(consultationId) {
    if (this.call?.id === consultationId) this.call.peerAway();
  }

  /** @param {string} consultationId */
  onPeerBack(consultationId) {
    if (this.call?.id === consultationId) this.call.peerBack();
  }

  /** @param {Ended} message */
  onEnded(message) {
    if (this.call !== null && message.consultation_id === this.call.id) {
      this.call.close();
      this.finishCall(ENDED_WORDS[message.reason] ?? "Call ended");
    } else if (this.pendingAccept?.consultationId === message.consultation_id) {
      this.pendingAccept = null;
      this.queue.setBusy(false);
      this.status.showNotice(ENDED_WORDS[message.reason] ?? "Call ended");
    }
  }

  /** The End call button. */
  endCall() {
    if (this.call === null && this.restoring !== null) {
      const consultationId = this.restoring.consultation_id;
      this.signalling?.send({ type: "end", consultation_id: consultationId, reason: "hangup" });
      this.restoring = null;
      this.finishCall(null);
      return;
    }
    if (this.call === null) return;
    this.call.hangup("hangup");
    this.finishCall(null);
  }

  /**
   * End whatever call is running or pending, without the "ended" pause.
   * @param {EndReason | null} reason told the kiosk (bye); null: just close
   */
  leaveCall(reason) {
    this.forgetCall();
    if (this.call !== null) {
      if (reason !== null) this.call.hangup(reason);
      else this.call.close();
      this.call = null;
    }
    this.pendingAccept = null;
    clearTimeout(this.endTimer);
    this.view.reset();
    this.showQueue();
  }

  /**
   * The call is over. `words`: shown for a moment in the call view; null goes straight back
   * to the queue.
   * @param {string | null} words
   */
  finishCall(words) {
    this.forgetCall();
    this.call = null;
    this.view.setChatReady(false);
    if (words === null) {
      this.view.reset();
      this.showQueue();
      return;
    }
    this.view.showEnded(words);
    this.endTimer = setTimeout(() => {
      if (this.call !== null) return;
      this.view.reset();
      this.showQueue();
      this.status.showNotice(words);
    }, ENDED_NOTICE_MS);
  }

  /** The call is over: nothing of it may resume, in this tab or after a reload. */
  forgetCall() {
    this.exchange.detach(); // its files, requests and screen share go with it
    this.restoring = null;
    this.signalling?.clearCall();
    clearResume();
  }

  /** @param {string} peer */
  showCall(peer) {
    this.media.reset();
    this.view.show(peer);
  }

  showQueue() {
    this.view.showQueue(this.busy);
  }

  sendChat() {
    const text = this.view.typedLine();
    if (text === "" || this.call === null) return;
    let sent;
    try {
      sent = this.call.sendChat(text);
    } catch {
      this.view.chat.note("That message is too long to send.");
      return;
    }
    if (sent === null) {
      this.view.chat.note("The chat is not connected yet.");
      return;
    }
    this.view.chat.add("you", text, sent.ts);
    this.view.clearTyped();
  }
}
