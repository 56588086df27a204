// The adviser's WebSocket to the hub (/ws/adviser): hello, heartbeats, reconnect with backoff.
// Every incoming frame is validated with protocol.js before anyone sees it. While a
// consultation is live, a new connection puts us back in it with the hub's single-use resume
// token (docs/reconnection.md): resume right after welcome, the latest resume_grant kept.

import { Emitter } from "./events.js";
import { ProtocolError } from "./protocol.js";

/** @typedef {import("./protocol.js").Protocol} Protocol */
/** @typedef {import("./types.js").HubMessage} HubMessage */
/** @typedef {import("./types.js").ConsoleMessage} ConsoleMessage */
/** @typedef {import("./types.js").Welcome} Welcome */

const CLIENT = "branch-kiosk-console/0.1";
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;
// While a call waits to be resumed the hub's grace period runs: retry at least every second.
const RESUME_BACKOFF_FIRST_MS = 250;
const RESUME_BACKOFF_MAX_MS = 1000;
// The hub closes a connection silent for three heartbeat periods; we do the same.
const SILENT_PERIODS = 3;

/**
 * Plain words for protocol error codes, ours or the hub's.
 * @type {Readonly<Record<string, string>>}
 */
export const PROBLEM_WORDS = {
  malformed: "a message that is not valid JSON",
  too_large: "a message that is too large",
  unsupported_version: "a message in a protocol version this console does not speak",
  unknown_type: "a message of a kind this console does not know",
  unknown_field: "a message with a field this console does not know",
  missing_field: "a message with a field missing",
  wrong_type: "a message with a field of the wrong kind",
  invalid_value: "a message with a value out of range",
};

/**
 * The connection's state: "lost" says when the next try is (retryInS) and whether the hub had
 * welcomed the lost connection (false: refused before the hello was answered).
 * @typedef {{state: "connecting" | "connected" | "stopped"}
 *   | {state: "lost", retryInS: number, wasWelcomed: boolean}} HubState
 */

/**
 * The events of a SignallingConnection and their details.
 * @typedef {object} SignallingEvents
 * @property {HubState} state
 * @property {{message: Welcome}} welcome
 * @property {{message: HubMessage}} message every other valid frame
 * @property {{text: string}} problem something the adviser should know
 * @property {{}} unauthorized the session is gone: sign in again
 * @property {{consultation_id: string}} resume-failed the hub answered our resume with
 *   not_found: the call is over
 */

/**
 * The adviser's WebSocket to the hub; events: SignallingEvents.
 * @extends {Emitter<SignallingEvents>}
 */
export class SignallingConnection extends Emitter {
  /**
   * @param {object} options
   * @param {Protocol} options.protocol
   * @param {string | null} options.csrf the session's CSRF token, sent in the hello
   * @param {string} [options.url]
   */
  constructor({ protocol, csrf, url = defaultUrl() }) {
    super();
    this.protocol = protocol;
    this.csrf = csrf;
    this.url = url;
    /** @type {WebSocket | null} */
    this.socket = null;
    this.stopped = true;
    this.attempt = 0;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.heartbeatTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.silenceTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.reconnectTimer = undefined;
    /** @type {number | null} */
    this.heartbeatS = null;
    this.welcomed = false;
    /**
     * The live consultation and its latest resume token (null: none to resume).
     * @type {{consultation_id: string, token: string | null} | null}
     */
    this.resume = null;
    /** @type {string | null} the consultation we asked to resume, until the hub answers */
    this.resuming = null;
  }

  /**
   * The console holds this consultation now (token: a stored one, e.g. after a reload).
   * @param {string} consultationId
   * @param {string | null} token
   */
  setCall(consultationId, token = null) {
    this.resume = { consultation_id: consultationId, token };
  }

  /** The consultation is over: never resume it. */
  clearCall() {
    this.resume = null;
    this.resuming = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.clearTimers();
    if (this.socket !== null) {
      this.socket.close(1000, "signed out");
      this.socket = null;
    }
    this.emit("state", { state: "stopped" });
  }

  /**
   * Validate and send one message; false when the hub is not connected.
   * @param {ConsoleMessage} message
   */
  send(message) {
    const text = this.protocol.encode(message, "signalling");
    if (this.socket === null || this.socket.readyState !== WebSocket.OPEN || !this.welcomed) {
      return false;
    }
    this.socket.send(text);
    return true;
  }

  get connected() {
    return this.welcomed && this.socket?.readyState === WebSocket.OPEN;
  }

  connect() {
    this.emit("state", { state: "connecting" });
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.welcomed = false;
    socket.addEventListener("open", () => {
      const hello = { type: "hello", role: "adviser", csrf: this.csrf, client: CLIENT };
      socket.send(this.protocol.encode(hello, "signalling"));
    });
    socket.addEventListener("message", (event) => this.onFrame(socket, event.data));
    socket.addEventListener("close", (event) => this.onClose(socket, event));
  }

  /**
   * @param {WebSocket} socket
   * @param {string | ArrayBuffer} data a text frame (a binary one is refused as malformed)
   */
  onFrame(socket, data) {
    if (socket !== this.socket) return;
    this.armSilenceTimer();
    /** @type {HubMessage} */
    let message;
    try {
      message = /** @type {HubMessage} */ (this.protocol.decode(data, "signalling"));
    } catch (exc) {
      if (!(exc instanceof ProtocolError)) throw exc;
      this.emit("problem", { text: `The hub sent ${PROBLEM_WORDS[exc.code] ?? "a bad message"}; it was ignored.` });
      // Tell the hub too, as every side does with a frame it refuses (never in reply to an error).
      this.trySend(socket, { type: "error", code: exc.code, message: exc.message.slice(0, 200) });
      return;
    }
    if (message.type === "welcome") {
      this.welcomed = true;
      this.attempt = 0;
      this.heartbeatS = message.heartbeat_s;
      this.startHeartbeat(socket, message.heartbeat_s);
      this.emit("state", { state: "connected" });
      this.emit("welcome", { message });
      this.sendResume();
      return;
    }
    if (!this.onResumeMessage(message)) return;
    if (message.type === "heartbeat") return; // the hub's answer; the silence timer is reset
    if (message.type === "error" && message.fatal) {
      if (message.code === "unauthorized" || message.code === "forbidden") {
        this.stopped = true;
        this.emit("unauthorized", {});
      }
      return;
    }
    this.emit("message", { message });
  }

  /** Right after welcome, when a consultation is live: ask to be put back in it. */
  sendResume() {
    const resume = this.resume;
    this.resuming = null;
    if (resume === null || resume.token === null) return;
    const { consultation_id: consultationId, token } = resume;
    if (this.send({ type: "resume", consultation_id: consultationId, token })) {
      this.resuming = consultationId;
    }
  }

  /**
   * Keep the latest token; turn the hub's refusal of our resume into "resume-failed".
   * @param {HubMessage} message
   * @returns {boolean} whether anyone else should see the message
   */
  onResumeMessage(message) {
    if (message.type === "resume_grant") {
      if (this.resume?.consultation_id === message.consultation_id) {
        this.resume.token = message.token;
      }
    } else if (message.type === "resumed") {
      if (message.consultation_id === this.resuming) this.resuming = null;
    } else if (message.type === "error" && this.resuming !== null) {
      // The hub answers a resume in order: the first error after it is its answer.
      const consultationId = this.resuming;
      this.resuming = null;
      if (message.code === "not_found") {
        this.resume = null;
        this.emit("resume-failed", { consultation_id: consultationId });
        return false;
      }
    }
    return true;
  }

  /**
   * @param {WebSocket} socket
   * @param {CloseEvent} event
   */
  onClose(socket, event) {
    if (socket !== this.socket) return;
    this.clearTimers();
    const wasWelcomed = this.welcomed;
    this.socket = null;
    this.welcomed = false;
    if (this.stopped) return;
    // 1008: the hub refused the session; 4003: this session was logged out (another tab).
    if (event.code === 1008 || event.code === 4003) {
      this.stopped = true;
      this.emit("unauthorized", {});
      return;
    }
    const delay =
      this.resume !== null
        ? Math.min(RESUME_BACKOFF_MAX_MS, RESUME_BACKOFF_FIRST_MS * 2 ** this.attempt)
        : Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const jittered = Math.min(
      this.resume !== null ? RESUME_BACKOFF_MAX_MS : BACKOFF_MAX_MS,
      Math.round(delay * (0.75 + Math.random() * 0.5)),
    );
    this.attempt += 1;
    // wasWelcomed false: refused before the hello was answered (maybe an expired session).
    this.emit("state", { state: "lost", retryInS: Math.ceil(jittered / 1000), wasWelcomed });
    this.reconnectTimer = setTimeout(() => {
      if (!this.stopped) this.connect();
    }, jittered);
  }

  /**
   * @param {WebSocket} socket
   * @param {number} heartbeatS the welcome's period
   */
  startHeartbeat(socket, heartbeatS) {
    this.clearTimers();
    const periodMs = heartbeatS * 1000;
    this.heartbeatTimer = setInterval(() => {
      this.trySend(socket, { type: "heartbeat", ts: Date.now() });
    }, periodMs);
    this.armSilenceTimer();
  }

  armSilenceTimer() {
    clearTimeout(this.silenceTimer);
    if (this.heartbeatS === null || !this.welcomed) return;
    const socket = this.socket;
    const heartbeatS = this.heartbeatS;
    this.silenceTimer = setTimeout(() => {
      // A half-open TCP connection never reports close; give up on it ourselves.
      if (socket === this.socket && socket !== null) socket.close(4000, "hub silent");
    }, heartbeatS * 1000 * SILENT_PERIODS);
  }

  /**
   * @param {WebSocket} socket
   * @param {ConsoleMessage} message
   */
  trySend(socket, message) {
    if (socket.readyState !== WebSocket.OPEN) return;
    socket.send(this.protocol.encode(message, "signalling"));
  }

  clearTimers() {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.silenceTimer);
    this.heartbeatTimer = undefined;
    this.silenceTimer = undefined;
  }
}

/** ws(s)://<this page's host>/ws/adviser */
function defaultUrl() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}/ws/adviser`;
}
