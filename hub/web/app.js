// The adviser console: sign in, watch the queue, take a customer, hold the video call.
// Wiring only: the page's parts are console-*.js (login, call desk and view, media, status);
// the hub API, signalling, the call and the exchange live in their own modules.

import { HubApi } from "./api.js";
import { CallView } from "./console-call-view.js";
import { CallDesk } from "./console-call.js";
import { consoleElements, exchangeElements } from "./console-elements.js";
import { LoginView } from "./console-login.js";
import { LocalMedia } from "./console-media.js";
import { StatusLine } from "./console-status.js";
import { TrustView } from "./console-trust.js";
import { Exchange } from "./exchange.js";
import { loadProtocol } from "./protocol.js";
import { loadResume } from "./resume.js";
import { SignallingConnection } from "./signalling.js";
import { TenantTrust } from "./tenant-anchor.js";
import { loadWords } from "./verification.js";
import { QueueList } from "./views.js";

/** @typedef {import("./protocol.js").Protocol} Protocol */
/** @typedef {import("./signalling.js").HubState} HubState */
/** @typedef {import("./types.js").HubMessage} HubMessage */
/** @typedef {import("./types.js").HubError} HubError */
/** @typedef {import("./types.js").Session} Session */

/** @type {Readonly<Record<string, string>>} */
const HUB_ERROR_WORDS = {
  conflict: "Another adviser has already taken this customer, or you are already in a call.",
  not_found: "That consultation no longer exists.",
  forbidden: "You are not allowed to do that.",
  rate_limited: "Too many requests; please wait a moment.",
  internal: "The hub had a problem; please try again.",
};

class AdviserConsole {
  constructor() {
    const el = consoleElements();
    this.api = new HubApi();
    /** @type {Protocol | null} loaded by boot() */
    this.protocol = null;
    /** @type {SignallingConnection | null} the hub connection of the signed-in session */
    this.signalling = null;
    this.status = new StatusLine(el);
    this.login = new LoginView({
      el,
      api: this.api,
      status: this.status,
      onSignedIn: (session) => this.startSession(session),
    });
    this.queue = new QueueList({
      list: el.queueList,
      empty: el.queueEmpty,
      count: el.queueCount,
      onAccept: (id, device) => this.calls.accept(id, device),
    });
    this.media = new LocalMedia({
      preview: el.localVideo,
      mute: el.mute,
      camera: el.camera,
      onUnavailable: (text) => this.status.showNotice(text),
    });
    // Files, scans, photos and screen share of the current call (docs/exchange.md).
    /** @type {Exchange} */
    const exchange = new Exchange({
      elements: exchangeElements(),
      csrf: () => this.api.csrf,
      maxFileBytes: () => this.calls.maxFileBytes,
    });
    // The tenant CA pinned in this browser: device proofs are checked against it.
    this.trust = new TenantTrust({ fetchCa: () => this.api.request("GET", "/api/tenant-ca") });
    new TrustView(this.trust);
    /** @type {CallDesk} */
    this.calls = new CallDesk({
      view: new CallView(el, this.queue),
      queue: this.queue,
      media: this.media,
      status: this.status,
      exchange,
      trust: this.trust,
    });
    el.logout.addEventListener("click", () => this.logout());
  }

  async boot() {
    try {
      this.protocol = await loadProtocol();
      this.calls.protocol = this.protocol;
      const words = loadWords();
      words.catch(() => {}); // a call without them cannot be verified, and ends
      this.calls.words = words;
      const session = await this.api.session();
      if (session === null) this.login.show();
      else this.startSession(session);
    } catch (exc) {
      this.login.showBootError(exc);
    }
  }

  // -- the session ---------------------------------------------------------------------------

  /** @param {Session} session */
  startSession(session) {
    if (this.protocol === null) throw new Error("the console has not started");
    if (session.role === "admin" || session.role === "dpo") {
      // Same sign-in page, other work: the hub refuses these roles a place in the queue.
      location.assign("/admin");
      return;
    }
    this.login.showWorkspace(session);
    this.trust.load(session.tenant).catch(() => {}); // a failure leaves devices "not verified"
    this.calls.showQueue();
    this.queue.clear();
    this.queue.start();
    const signalling = new SignallingConnection({ protocol: this.protocol, csrf: session.csrf });
    this.signalling = signalling;
    this.calls.signalling = signalling;
    signalling.on("state", (state) => this.onHubState(state));
    signalling.on("welcome", ({ message }) => this.calls.welcome(message));
    signalling.on("message", ({ message }) => this.onMessage(message));
    signalling.on("resume-failed", (e) => this.calls.onResumeFailed(e.consultation_id));
    signalling.on("problem", ({ text }) => this.status.showNotice(text));
    signalling.on("unauthorized", () => this.sessionExpired());
    const saved = loadResume();
    if (saved !== null) this.calls.restoreCall(saved);
    signalling.start();
  }

  stopSession() {
    this.queue.stop();
    this.queue.clear();
    if (this.signalling !== null) {
      this.signalling.stop();
      this.signalling = null;
      this.calls.signalling = null;
    }
  }

  async logout() {
    this.calls.leaveCall("hangup");
    this.stopSession();
    try {
      await this.api.logout();
    } catch {
      // Signed out locally either way; the hub expires the session on its own.
    }
    this.media.release();
    this.login.show();
  }

  sessionExpired() {
    this.calls.leaveCall(null);
    this.stopSession();
    this.media.release();
    this.login.show("Your session has ended. Please sign in again.");
  }

  async checkSession() {
    // The hub refuses the WebSocket of an expired session before any hello is answered.
    try {
      if ((await this.api.session()) === null && this.signalling !== null) this.sessionExpired();
    } catch {
      // Unreachable hub: keep retrying the WebSocket.
    }
  }

  // -- the hub connection ------------------------------------------------------------------

  /** @param {HubState} hub */
  onHubState(hub) {
    const status = this.status;
    if (hub.state === "connecting") status.setHubState("connecting", "Connecting to the hub…");
    else if (hub.state === "connected") status.setHubState("online", "Connected to the hub");
    else if (hub.state === "lost") {
      const words = `Connection to the hub lost — reconnecting in ${hub.retryInS} s…`;
      status.setHubState("offline", words);
      this.calls.onHubLost();
      if (!hub.wasWelcomed) this.checkSession();
    }
  }

  /** @param {HubMessage} message */
  onMessage(message) {
    const calls = this.calls;
    switch (message.type) {
      case "queue":
        this.queue.update(message.entries);
        calls.onQueue(message.entries);
        break;
      case "accepted":
        calls.onAccepted(message);
        break;
      case "offer":
        calls.onOffer(message);
        break;
      case "ice_candidate":
        calls.onCandidate(message);
        break;
      case "ended":
        calls.onEnded(message);
        break;
      case "resume_grant":
        calls.onResumeGrant(message);
        break;
      case "resumed":
        calls.onResumed(message);
        break;
      case "peer_away":
        calls.onPeerAway(message.consultation_id);
        break;
      case "peer_back":
        calls.onPeerBack(message.consultation_id);
        break;
      case "error":
        this.onHubError(message);
        break;
      default:
        break; // valid, but not for advisers (e.g. queue_position): nothing to do
    }
  }

  /** @param {HubError} message */
  onHubError(message) {
    // Any refusal while an accept is pending (taken by a colleague, the customer left, ...)
    // releases the queue.
    this.calls.onRefused();
    this.status.showNotice(
      HUB_ERROR_WORDS[message.code] ?? "The hub refused a request from this console.",
    );
  }
}

new AdviserConsole().boot();
