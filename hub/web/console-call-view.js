// The call view as the page shows it: the customer's picture, the call state line, the four
// words, the chat and the customer's form; and the switch between it and the queue.

import { CALL_STATE_WORDS } from "./call.js";
import { byId } from "./console-elements.js";
import { ChatLog, CustomerDetails } from "./views.js";

/** @typedef {import("./console-elements.js").ConsoleElements} ConsoleElements */
/** @typedef {import("./views.js").QueueList} QueueList */

export class CallView {
  /**
   * @param {ConsoleElements} el
   * @param {QueueList} queue shown instead of the call
   */
  constructor(el, queue) {
    this.el = el;
    this.queue = queue;
    this.chat = new ChatLog(el.chatLog);
    const chatBox = el.chatLog.parentElement;
    if (chatBox === null) throw new Error("#chat-log has no parent");
    this.details = new CustomerDetails(chatBox, el.chatTitle);
    this.device = byId("call-device", HTMLElement);
  }

  /**
   * The call view for a call with `peer`, fresh: no chat, no form, connecting.
   * @param {string} peer
   */
  show(peer) {
    const el = this.el;
    el.callPeer.textContent = peer;
    el.callState.textContent = CALL_STATE_WORDS.waiting;
    el.end.disabled = false;
    this.chat.clear();
    this.details.clear();
    el.queueView.hidden = true;
    el.callView.hidden = false;
    el.end.focus();
  }

  /**
   * The queue instead of the call; its Accept buttons off while `busy`.
   * @param {boolean} busy
   */
  showQueue(busy) {
    this.el.callView.hidden = true;
    this.el.queueView.hidden = false;
    this.queue.setBusy(busy);
  }

  /** Nothing of the last call stays on the page. */
  reset() {
    const el = this.el;
    el.remoteVideo.srcObject = null;
    el.callCode.hidden = true;
    el.callCodeWords.textContent = "";
    this.showDevice("pending", "");
    el.chatInput.value = "";
    el.chatInput.disabled = true;
    el.chatSend.disabled = true;
    this.chat.clear();
    this.details.clear(); // the customer's form goes with the call
  }

  /** @param {string} words */
  setState(words) {
    this.el.callState.textContent = words;
  }

  /**
   * The call ended: `words` stay on screen (the End button off) until the queue comes back.
   * @param {string} words
   */
  showEnded(words) {
    this.el.callState.textContent = words;
    this.el.end.disabled = true;
    this.chat.note(words);
  }

  /** @param {MediaStream} stream */
  showRemote(stream) {
    this.el.remoteVideo.srcObject = stream;
    this.el.remoteVideo.play().catch(() => {});
  }

  /**
   * The four words to read out to the customer.
   * @param {string | null} code
   */
  showCode(code) {
    this.el.callCodeWords.textContent = code;
    this.el.callCode.hidden = false;
  }

  hideCode() {
    this.el.callCode.hidden = true;
  }

  /**
   * Which device the customer is at, next to the words (call-device.js).
   * @param {"pending" | "verified" | "warning"} state
   * @param {string} text
   */
  showDevice(state, text) {
    this.device.dataset.state = state;
    this.device.textContent = text;
  }

  /** @param {boolean} ready */
  setChatReady(ready) {
    this.el.chatInput.disabled = !ready;
    this.el.chatSend.disabled = !ready;
  }

  /** The chat line the adviser typed, trimmed ("" for none). */
  typedLine() {
    return this.el.chatInput.value.trim();
  }

  /** The typed line went out: the input is empty again, ready for the next. */
  clearTyped() {
    this.el.chatInput.value = "";
    this.el.chatInput.focus();
  }
}
