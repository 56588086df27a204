// The console's two status lines: the notice above the queue or call (what just happened that
// the adviser should know) and the footer's hub connection state.

export class StatusLine {
  /**
   * @param {object} parts
   * @param {HTMLElement} parts.notice
   * @param {HTMLElement} parts.hubState the footer's words
   * @param {HTMLElement} parts.hubDot the footer's dot (data-state: offline, connecting, online)
   */
  constructor({ notice, hubState, hubDot }) {
    this.notice = notice;
    this.hubState = hubState;
    this.hubDot = hubDot;
  }

  /** @param {string} text */
  showNotice(text) {
    this.notice.textContent = text;
    this.notice.hidden = false;
  }

  hideNotice() {
    this.notice.hidden = true;
    this.notice.textContent = "";
  }

  /**
   * @param {"offline" | "connecting" | "online"} kind
   * @param {string} words
   */
  setHubState(kind, words) {
    this.hubState.textContent = words;
    this.hubDot.dataset.state = kind;
  }
}
