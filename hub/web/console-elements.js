// The console page's elements (index.html), looked up once at start and checked for their
// kind, so a renamed id fails at once with its name rather than later as a null.

/**
 * The element with id `id`, which must be a `kind`.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{new (): T, prototype: T}} kind
 * @returns {T}
 */
export function byId(id, kind) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`missing element #${id}`);
  if (!(el instanceof kind)) throw new Error(`#${id} is not a ${kind.name}`);
  return el;
}

/** Every element the console drives, by role. */
export function consoleElements() {
  const input = HTMLInputElement;
  const button = HTMLButtonElement;
  const video = HTMLVideoElement;
  const plain = HTMLElement;
  return {
    boot: byId("boot-view", plain),
    login: byId("login-view", plain),
    loginForm: byId("login-form", HTMLFormElement),
    loginName: byId("login-name", input),
    loginPassword: byId("login-password", input),
    loginSubmit: byId("login-submit", button),
    loginError: byId("login-error", plain),
    sessionBar: byId("session-bar", plain),
    adviserName: byId("adviser-name", plain),
    adviserTenant: byId("adviser-tenant", plain),
    logout: byId("btn-logout", button),
    workspace: byId("workspace-view", plain),
    notice: byId("notice", plain),
    queueView: byId("queue-view", plain),
    queueList: byId("queue-list", plain),
    queueEmpty: byId("queue-empty", plain),
    queueCount: byId("queue-count", plain),
    callView: byId("call-view", plain),
    callPeer: byId("call-peer", plain),
    callState: byId("call-state", plain),
    callCode: byId("call-code", plain),
    callCodeWords: byId("call-code-words", plain),
    remoteVideo: byId("remote-video", video),
    localVideo: byId("local-video", video),
    mute: byId("btn-mute", button),
    camera: byId("btn-camera", button),
    end: byId("btn-end", button),
    chatLog: byId("chat-log", plain),
    chatTitle: byId("chat-title", plain),
    chatForm: byId("chat-form", HTMLFormElement),
    chatInput: byId("chat-input", input),
    chatSend: byId("chat-send", button),
    hubState: byId("hub-state", plain),
    hubDot: byId("hub-dot", plain),
  };
}

/** @typedef {ReturnType<typeof consoleElements>} ConsoleElements */

/** The exchange panel's elements (exchange.js). */
export function exchangeElements() {
  const plain = HTMLElement;
  return {
    panel: byId("exchange", plain),
    fileInput: byId("file-input", HTMLInputElement),
    fileLabel: byId("file-label", plain),
    showAtKiosk: byId("file-show-at-kiosk", HTMLInputElement),
    dropZone: byId("file-drop", plain),
    error: byId("exchange-error", plain),
    sent: byId("sent-list", plain),
    received: byId("received-list", plain),
    requests: byId("request-list", plain),
    requestScan: byId("btn-request-scan", HTMLButtonElement),
    requestPhoto: byId("btn-request-photo", HTMLButtonElement),
    shareScreen: byId("btn-share-screen", HTMLButtonElement),
    screenState: byId("screen-state", plain),
  };
}
