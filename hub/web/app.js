// The adviser console: sign in, watch the queue, take a customer, hold the video call.
// Wiring only; the hub API, signalling, call and rendering live in their own modules.

import { ApiError, HubApi } from "./api.js";
import { CALL_STATE_WORDS, Consultation } from "./call.js";
import { Exchange } from "./exchange.js";
import { loadProtocol } from "./protocol.js";
import { clearResume, loadResume, saveResume } from "./resume.js";
import { SignallingConnection } from "./signalling.js";
import { loadWords } from "./verification.js";
import { ChatLog, CustomerDetails, QueueList } from "./views.js";

// How long "Call ended by the customer" stays on screen before the queue comes back.
const ENDED_NOTICE_MS = 2500;

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

// The hub no longer knows the call this console tried to get back into (docs/reconnection.md).
const RESUME_FAILED_WORDS = "The consultation could not be resumed";

const HUB_ERROR_WORDS = {
  conflict: "Another adviser has already taken this customer, or you are already in a call.",
  not_found: "That consultation no longer exists.",
  forbidden: "You are not allowed to do that.",
  rate_limited: "Too many requests; please wait a moment.",
  internal: "The hub had a problem; please try again.",
};

function $(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`missing element #${id}`);
  return el;
}

class AdviserConsole {
  constructor() {
    this.api = new HubApi();
    this.protocol = null;
    this.words = null; // a promise of the 256 code words
    this.signalling = null;
    this.iceServers = [];
    this.iceTransportPolicy = "all";
    this.call = null;
    this.pendingAccept = null;
    this.restoring = null; // a call this tab held before a reload, until the hub resumes it
    this.graceS = 60;
    this.maxFileBytes = null; // the tenant's limit for one exchanged file (welcome)
    this.localStream = null;
    this.mediaRequest = null;
    this.muted = false;
    this.cameraOff = false;
    this.endTimer = null;
    this.el = {
      boot: $("boot-view"),
      login: $("login-view"),
      loginForm: $("login-form"),
      loginName: $("login-name"),
      loginPassword: $("login-password"),
      loginSubmit: $("login-submit"),
      loginError: $("login-error"),
      sessionBar: $("session-bar"),
      adviserName: $("adviser-name"),
      adviserTenant: $("adviser-tenant"),
      logout: $("btn-logout"),
      workspace: $("workspace-view"),
      notice: $("notice"),
      queueView: $("queue-view"),
      callView: $("call-view"),
      callPeer: $("call-peer"),
      callState: $("call-state"),
      callCode: $("call-code"),
      callCodeWords: $("call-code-words"),
      remoteVideo: $("remote-video"),
      localVideo: $("local-video"),
      mute: $("btn-mute"),
      camera: $("btn-camera"),
      end: $("btn-end"),
      chatForm: $("chat-form"),
      chatInput: $("chat-input"),
      chatSend: $("chat-send"),
      hubState: $("hub-state"),
      hubDot: $("hub-dot"),
    };
    this.queue = new QueueList({
      list: $("queue-list"),
      empty: $("queue-empty"),
      count: $("queue-count"),
      onAccept: (id, device) => this.accept(id, device),
    });
    this.chat = new ChatLog($("chat-log"));
    this.details = new CustomerDetails($("chat-log").parentElement, $("chat-title"));
    // Files, scans, photos and screen share of the current call (docs/exchange.md).
    this.exchange = new Exchange({
      elements: {
        panel: $("exchange"),
        fileInput: $("file-input"),
        fileLabel: $("file-label"),
        showAtKiosk: $("file-show-at-kiosk"),
        dropZone: $("file-drop"),
        error: $("exchange-error"),
        sent: $("sent-list"),
        received: $("received-list"),
        requests: $("request-list"),
        requestScan: $("btn-request-scan"),
        requestPhoto: $("btn-request-photo"),
        shareScreen: $("btn-share-screen"),
        screenState: $("screen-state"),
      },
      csrf: () => this.api.csrf,
      maxFileBytes: () => this.maxFileBytes,
    });
    this.bindControls();
  }

  bindControls() {
    this.el.loginForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.login();
    });
    this.el.logout.addEventListener("click", () => this.logout());
    this.el.mute.addEventListener("click", () => this.toggleMute());
    this.el.camera.addEventListener("click", () => this.toggleCamera());
    this.el.end.addEventListener("click", () => this.endCall());
    // A form, so Enter in the input sends, as the Send button does.
    this.el.chatForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendChat();
    });
  }

  async boot() {
    try {
      this.protocol = await loadProtocol();
      this.words = loadWords();
      this.words.catch(() => {}); // a call without them cannot be verified, and ends
      const session = await this.api.session();
      if (session === null) this.showLogin();
      else this.startSession(session);
    } catch (exc) {
      this.el.boot.textContent =
        exc instanceof ApiError ? exc.message : "The console could not start. Reload the page.";
      this.setHubState("offline", "Not connected");
    }
  }

  // -- sign in / out ---------------------------------------------------------------------

  showLogin(message = "") {
    this.el.boot.hidden = true;
    this.el.workspace.hidden = true;
    this.el.sessionBar.hidden = true;
    this.el.login.hidden = false;
    this.showLoginError(message);
    this.el.loginPassword.value = "";
    this.el.loginSubmit.disabled = false;
    this.setHubState("offline", "Not signed in");
    // The pre-login token is fetched up front so the form can be sent at once.
    this.api.fetchCsrf().catch(() => {});
    this.el.loginName.focus();
  }

  showLoginError(message) {
    this.el.loginError.textContent = message;
    this.el.loginError.hidden = message === "";
  }

  async login() {
    const name = this.el.loginName.value.trim();
    const password = this.el.loginPassword.value;
    if (name === "" || password === "") {
      this.showLoginError("Enter your name and password.");
      return;
    }
    this.el.loginSubmit.disabled = true;
    this.showLoginError("");
    try {
      await this.api.fetchCsrf();
      const session = await this.api.login(name, password);
      this.el.loginPassword.value = "";
      this.startSession(session);
    } catch (exc) {
      this.showLoginError(loginErrorWords(exc));
      this.el.loginPassword.select();
    } finally {
      this.el.loginSubmit.disabled = false;
    }
  }

  async logout() {
    this.leaveCall("hangup");
    this.stopSession();
    try {
      await this.api.logout();
    } catch {
      // Signed out locally either way; the hub expires the session on its own.
    }
    this.releaseMedia();
    this.showLogin();
  }

  startSession(session) {
    this.el.boot.hidden = true;
    this.el.login.hidden = true;
    this.el.workspace.hidden = false;
    this.el.sessionBar.hidden = false;
    this.el.adviserName.textContent = session.adviser;
    this.el.adviserTenant.textContent = session.tenant;
    this.showQueue();
    this.queue.clear();
    this.queue.start();
    this.signalling = new SignallingConnection({ protocol: this.protocol, csrf: session.csrf });
    this.signalling.addEventListener("state", (e) => this.onHubState(e.detail));
    this.signalling.addEventListener("welcome", (e) => {
      this.iceServers = e.detail.message.ice_servers;
      // "relay": the tenant wants media only through its TURN server (no direct addresses).
      this.iceTransportPolicy = e.detail.message.ice_transport_policy ?? "all";
      this.graceS = e.detail.message.grace_s ?? 60;
      this.maxFileBytes = e.detail.message.max_file_bytes ?? null;
    });
    this.signalling.addEventListener("message", (e) => this.onMessage(e.detail.message));
    this.signalling.addEventListener("resume-failed", (e) => this.onResumeFailed(e.detail));
    this.signalling.addEventListener("problem", (e) => this.showNotice(e.detail.text));
    this.signalling.addEventListener("unauthorized", () => this.sessionExpired());
    const saved = loadResume();
    if (saved !== null) this.restoreCall(saved);
    this.signalling.start();
  }

  /** A call this tab held before a reload: shown as reconnecting; resumed after welcome. */
  restoreCall(saved) {
    this.restoring = saved;
    this.signalling.setCall(saved.consultation_id, saved.token);
    this.showCall(saved.peer);
    this.el.callState.textContent = CALL_STATE_WORDS.resuming;
  }

  stopSession() {
    this.queue.stop();
    this.queue.clear();
    if (this.signalling !== null) {
      this.signalling.stop();
      this.signalling = null;
    }
  }

  sessionExpired() {
    this.leaveCall(null);
    this.stopSession();
    this.releaseMedia();
    this.showLogin("Your session has ended. Please sign in again.");
  }

  // -- hub connection ----------------------------------------------------------------------

  onHubState({ state, retryInS, wasWelcomed }) {
    if (state === "connecting") this.setHubState("connecting", "Connecting to the hub…");
    else if (state === "connected") this.setHubState("online", "Connected to the hub");
    else if (state === "lost") {
      this.setHubState("offline", `Connection to the hub lost — reconnecting in ${retryInS} s…`);
      // A verified call heals (the hub keeps it through its grace period); any other call's
      // signalling path is gone and the hub has told the kiosk: end it here too.
      if (this.call?.resumable || this.restoring !== null) {
        if (this.call !== null) this.chat.note("Connection to the hub lost — reconnecting…");
      } else if (this.call !== null || this.pendingAccept !== null) {
        this.leaveCall(null);
        this.showNotice("The call ended because the connection to the hub was lost.");
      }
      if (!wasWelcomed) this.checkSession();
    }
  }

  async checkSession() {
    // The hub refuses the WebSocket of an expired session before any hello is answered.
    try {
      if ((await this.api.session()) === null && this.signalling !== null) this.sessionExpired();
    } catch {
      // Unreachable hub: keep retrying the WebSocket.
    }
  }

  setHubState(kind, words) {
    this.el.hubState.textContent = words;
    this.el.hubDot.dataset.state = kind;
  }

  onMessage(message) {
    switch (message.type) {
      case "queue":
        this.queue.update(message.entries);
        // The kiosk we tried to accept has left the queue before the hub paired us.
        if (
          this.pendingAccept !== null &&
          this.call === null &&
          !message.entries.some((e) => e.consultation_id === this.pendingAccept.consultationId)
        ) {
          this.releasePendingAccept();
        }
        break;
      case "accepted":
        this.onAccepted(message);
        break;
      case "offer":
        this.onOffer(message);
        break;
      case "ice_candidate":
        if (this.call !== null && message.consultation_id === this.call.id) {
          this.call.handleRemoteCandidate(message);
        }
        break;
      case "ended":
        this.onEnded(message);
        break;
      case "resume_grant":
        this.onResumeGrant(message);
        break;
      case "resumed":
        this.onResumed(message);
        break;
      case "peer_away":
        if (this.call?.id === message.consultation_id) this.call.peerAway();
        break;
      case "peer_back":
        if (this.call?.id === message.consultation_id) this.call.peerBack();
        break;
      case "error":
        this.onHubError(message);
        break;
      default:
        break; // valid, but not for advisers (e.g. queue_position): nothing to do
    }
  }

  onHubError(message) {
    // Any refusal while an accept is pending (taken by a colleague, the customer left, ...)
    // releases the queue; otherwise every Accept button would stay disabled.
    if (this.pendingAccept !== null && this.call === null) {
      this.releasePendingAccept();
    }
    this.showNotice(HUB_ERROR_WORDS[message.code] ?? "The hub refused a request from this console.");
  }

  // -- the call -----------------------------------------------------------------------------

  async accept(consultationId, device) {
    if (this.call !== null || this.pendingAccept !== null) return;
    this.hideNotice();
    this.pendingAccept = { consultationId, device };
    this.queue.setBusy(true);
    // Ask for camera and microphone now, within the click, so the offer is not kept waiting.
    const media = this.ensureMedia();
    if (!this.signalling.send({ type: "accept", consultation_id: consultationId })) {
      this.pendingAccept = null;
      this.queue.setBusy(false);
      this.showNotice("Not connected to the hub; try again in a moment.");
      return;
    }
    await media;
  }

  releasePendingAccept() {
    this.pendingAccept = null;
    this.queue.setBusy(false);
  }

  onAccepted(message) {
    if (this.pendingAccept === null || message.consultation_id !== this.pendingAccept.consultationId) {
      return;
    }
    this.pendingAccept = null;
    clearTimeout(this.endTimer);
    this.signalling?.setCall(message.consultation_id);
    // Created at once (not after the camera prompt), because the kiosk's offer follows at once.
    this.call = this.newConsultation(message.consultation_id, message.peer);
    this.bindCall(this.call);
    this.showCall(message.peer);
  }

  // -- resuming a call (docs/reconnection.md) ---------------------------------------------

  onResumeGrant(message) {
    if (this.call?.id === message.consultation_id) {
      this.call.setResumeToken(message.token);
    } else if (this.restoring?.consultation_id === message.consultation_id) {
      this.restoring = { ...this.restoring, token: message.token }; // the old one is dead now
      saveResume(this.restoring);
    }
  }

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
    if (message.peer_present) this.call.peerBack();
    else this.el.callState.textContent = CALL_STATE_WORDS.peer_away;
  }

  onResumeFailed({ consultation_id: consultationId }) {
    if (this.restoring?.consultation_id === consultationId) {
      this.restoring = null;
      this.finishCall(RESUME_FAILED_WORDS);
    } else if (this.call?.id === consultationId) {
      this.call.close();
      this.finishCall(RESUME_FAILED_WORDS);
    }
  }

  /** A Consultation for `consultationId`; `restore` is a reloaded tab's saved record. */
  newConsultation(consultationId, peer, restore = undefined) {
    return new Consultation({
      consultationId,
      peer,
      iceServers: this.iceServers,
      iceTransportPolicy: this.iceTransportPolicy,
      localMedia: this.ensureMedia(),
      protocol: this.protocol,
      send: (m) => this.signalling?.send(m),
      words: this.words,
      graceS: this.graceS,
      restore,
    });
  }

  bindCall(call) {
    this.exchange.attach(call);
    call.addEventListener("state", (e) => {
      if (call === this.call) this.el.callState.textContent = e.detail.words;
    });
    call.addEventListener("remote-stream", (e) => {
      if (call !== this.call) return;
      this.el.remoteVideo.srcObject = e.detail.stream;
      this.el.remoteVideo.play().catch(() => {});
    });
    call.addEventListener("chat-ready", (e) => {
      if (call !== this.call) return;
      this.el.chatInput.disabled = !e.detail.ready;
      this.el.chatSend.disabled = !e.detail.ready;
    });
    call.addEventListener("chat", (e) => {
      // Live lines and, after a resume, the kiosk's history (merged by id in call.js).
      const { message, from } = e.detail;
      if (call === this.call) this.chat.add(from ?? "customer", message.text, message.ts);
    });
    call.addEventListener("resume-state", () => {
      if (call === this.call) saveResume(call.snapshot());
    });
    call.addEventListener("bye", () => {
      if (call !== this.call) return;
      call.close();
      this.finishCall(ENDED_WORDS.hangup);
    });
    call.addEventListener("intake", (e) => {
      if (call === this.call) this.details.show(e.detail.fields);
    });
    call.addEventListener("problem", (e) => {
      if (call === this.call) this.chat.note(e.detail.text);
    });
    call.addEventListener("verified", (e) => {
      if (call !== this.call) return;
      this.el.callCodeWords.textContent = e.detail.code;
      this.el.callCode.hidden = false;
    });
    call.addEventListener("unverified", () => {
      if (call !== this.call) return;
      call.hangup("failed");
      this.el.callCode.hidden = true;
      this.finishCall(UNVERIFIED_WORDS);
      this.showNotice(UNVERIFIED_WORDS);
    });
    call.addEventListener("failed", () => {
      if (call !== this.call) return;
      call.hangup("failed");
      this.finishCall(CALL_STATE_WORDS.failed);
    });
  }

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

  onEnded(message) {
    if (this.call !== null && message.consultation_id === this.call.id) {
      this.call.close();
      this.finishCall(ENDED_WORDS[message.reason] ?? "Call ended");
    } else if (this.pendingAccept?.consultationId === message.consultation_id) {
      this.pendingAccept = null;
      this.queue.setBusy(false);
      this.showNotice(ENDED_WORDS[message.reason] ?? "Call ended");
    }
  }

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

  /** End whatever call is running or pending, without the "ended" pause. */
  leaveCall(reason) {
    this.forgetCall();
    if (this.call !== null) {
      if (reason !== null) this.call.hangup(reason);
      else this.call.close();
      this.call = null;
    }
    this.pendingAccept = null;
    clearTimeout(this.endTimer);
    this.resetCallView();
    this.showQueue();
  }

  // words: shown for a moment in the call view; null goes straight back to the queue.
  finishCall(words) {
    this.forgetCall();
    this.call = null;
    this.el.chatInput.disabled = true;
    this.el.chatSend.disabled = true;
    if (words === null) {
      this.resetCallView();
      this.showQueue();
      return;
    }
    this.el.callState.textContent = words;
    this.el.end.disabled = true;
    this.chat.note(words);
    this.endTimer = setTimeout(() => {
      if (this.call !== null) return;
      this.resetCallView();
      this.showQueue();
      this.showNotice(words);
    }, ENDED_NOTICE_MS);
  }

  /** The call is over: nothing of it may resume, in this tab or after a reload. */
  forgetCall() {
    this.exchange.detach(); // its files, requests and screen share go with it
    this.restoring = null;
    this.signalling?.clearCall();
    clearResume();
  }

  showCall(peer) {
    this.el.callPeer.textContent = peer;
    this.el.callState.textContent = CALL_STATE_WORDS.waiting;
    this.el.end.disabled = false;
    this.chat.clear();
    this.details.clear();
    this.setMuted(false);
    this.setCameraOff(false);
    this.el.queueView.hidden = true;
    this.el.callView.hidden = false;
    this.el.end.focus();
  }

  showQueue() {
    this.el.callView.hidden = true;
    this.el.queueView.hidden = false;
    this.queue.setBusy(this.call !== null || this.pendingAccept !== null);
  }

  resetCallView() {
    this.el.remoteVideo.srcObject = null;
    this.el.callCode.hidden = true;
    this.el.callCodeWords.textContent = "";
    this.el.chatInput.value = "";
    this.el.chatInput.disabled = true;
    this.el.chatSend.disabled = true;
    this.chat.clear();
    this.details.clear(); // the customer's form goes with the call
  }

  sendChat() {
    const text = this.el.chatInput.value.trim();
    if (text === "" || this.call === null) return;
    let sent;
    try {
      sent = this.call.sendChat(text);
    } catch {
      this.chat.note("That message is too long to send.");
      return;
    }
    if (sent === null) {
      this.chat.note("The chat is not connected yet.");
      return;
    }
    this.chat.add("you", text, sent.ts);
    this.el.chatInput.value = "";
    this.el.chatInput.focus();
  }

  toggleMute() {
    this.setMuted(!this.muted);
  }

  toggleCamera() {
    this.setCameraOff(!this.cameraOff);
  }

  setMuted(muted) {
    this.muted = muted;
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !muted;
    this.el.mute.textContent = muted ? "Unmute" : "Mute";
    this.el.mute.setAttribute("aria-pressed", String(muted));
  }

  setCameraOff(off) {
    this.cameraOff = off;
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = !off;
    this.el.camera.textContent = off ? "Camera on" : "Camera off";
    this.el.camera.setAttribute("aria-pressed", String(off));
    this.el.localVideo.classList.toggle("is-off", off);
  }

  // -- media ----------------------------------------------------------------------------

  /** Camera and microphone, asked for once and reused for every call; null if refused. */
  ensureMedia() {
    if (this.mediaRequest === null) {
      this.mediaRequest = navigator.mediaDevices
        .getUserMedia({ video: true, audio: true })
        .then((stream) => {
          this.localStream = stream;
          this.el.localVideo.srcObject = stream;
          this.el.localVideo.play().catch(() => {});
          return stream;
        })
        .catch(() => {
          this.mediaRequest = null; // ask again next call
          this.showNotice(
            "Camera or microphone not available: the customer will not see or hear you.",
          );
          return null;
        });
    }
    return this.mediaRequest;
  }

  releaseMedia() {
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.localStream = null;
    this.mediaRequest = null;
    this.el.localVideo.srcObject = null;
  }

  // -- notices --------------------------------------------------------------------------

  showNotice(text) {
    this.el.notice.textContent = text;
    this.el.notice.hidden = false;
  }

  hideNotice() {
    this.el.notice.hidden = true;
    this.el.notice.textContent = "";
  }
}

function loginErrorWords(exc) {
  if (!(exc instanceof ApiError)) return "Something went wrong. Please try again.";
  if (exc.status === 401) return "Wrong name or password.";
  if (exc.status === 429) {
    return exc.retryAfterS === null
      ? "Too many attempts, try again later."
      : `Too many attempts, try again in ${exc.retryAfterS} s.`;
  }
  if (exc.status === 403) return "The sign-in form expired. Please try again.";
  if (exc.status === 0) return "The hub cannot be reached. Check the network and try again.";
  return "Sign-in failed. Please try again.";
}

new AdviserConsole().boot();
