// The exchange panel's DOM (index.html #exchange): its controls, and one list line per
// transfer and request. Text from the network goes in with textContent only (views.js).

import { FINAL_REQUEST_STATES } from "./exchange-state.js";
import { KIND_WORDS, requestWords } from "./exchange-words.js";
import { element, formatBytes } from "./views.js";

/**
 * @typedef {import("./exchange-types.js").ExchangeElements} ExchangeElements
 * @typedef {import("./exchange-types.js").ExchangeRequest} ExchangeRequest
 * @typedef {import("./exchange-types.js").FilePurpose} FilePurpose
 * @typedef {import("./exchange-types.js").IncomingTransfer} IncomingTransfer
 * @typedef {import("./exchange-types.js").OutgoingTransfer} OutgoingTransfer
 * @typedef {import("./exchange-types.js").RequestKind} RequestKind
 */

/**
 * What the panel's controls ask of the exchange.
 * @typedef {object} ExchangeActions
 * @property {() => boolean} inCall whether a drop is welcome now
 * @property {(files: File[]) => void} sendFiles
 * @property {(kind: RequestKind) => void} request
 * @property {() => void} toggleScreen
 * @property {(id: string) => void} cancelOutgoing
 * @property {(id: string) => void} cancelRequest
 */

/** @typedef {"out" | "in" | "request"} Direction */

/** @type {Readonly<Record<string, string>>} */
const PURPOSE_TAGS = {
  document: "shown at kiosk",
  scan: "scan",
  photo: "photo",
  signed: "signed at kiosk",
};

export class ExchangeView {
  /**
   * @param {ExchangeElements} elements
   * @param {ExchangeActions} actions
   */
  constructor(elements, actions) {
    this.panel = elements.panel;
    this.fileInput = expect(elements.fileInput, HTMLInputElement, "fileInput");
    this.fileLabel = elements.fileLabel ?? null;
    this.showAtKiosk = expect(elements.showAtKiosk, HTMLInputElement, "showAtKiosk");
    this.dropZone = elements.dropZone;
    this.error = elements.error;
    this.lists = { out: elements.sent, in: elements.received, request: elements.requests };
    this.requestScan = expect(elements.requestScan, HTMLButtonElement, "requestScan");
    this.requestPhoto = expect(elements.requestPhoto, HTMLButtonElement, "requestPhoto");
    this.shareScreen = expect(elements.shareScreen, HTMLButtonElement, "shareScreen");
    this.screenState = elements.screenState;
    this.actions = actions;
    this.ready = false;
    /** @type {Map<string, HTMLLIElement>} one line per `${direction}:${id}` */
    this.items = new Map();
    /** @type {Map<string, string>} blob URLs of received files, by transfer id */
    this.files = new Map();
    /** @type {(li: HTMLLIElement, entry: {id: string, state: string}, outgoing: boolean) => void} */
    this.rendered = () => {}; // a file's line was drawn (signature-view.js adds its button)
    this.bindControls();
  }

  bindControls() {
    this.fileInput.addEventListener("change", () => {
      const files = [...(this.fileInput.files ?? [])];
      this.fileInput.value = "";
      this.actions.sendFiles(files);
    });
    const zone = this.dropZone;
    zone.addEventListener("dragover", (event) => {
      if (!this.actions.inCall()) return;
      event.preventDefault();
      if (event.dataTransfer !== null) event.dataTransfer.dropEffect = "copy";
      zone.classList.add("is-over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("is-over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("is-over");
      if (this.actions.inCall()) this.actions.sendFiles([...(event.dataTransfer?.files ?? [])]);
    });
    this.requestScan.addEventListener("click", () => this.actions.request("scan"));
    this.requestPhoto.addEventListener("click", () => this.actions.request("photo"));
    this.shareScreen.addEventListener("click", () => this.actions.toggleScreen());
  }

  /**
   * Controls usable only while the kiosk is verified and the channel is up; Stop sharing stays.
   * @param {boolean} ready
   * @param {boolean} sharing
   */
  setEnabled(ready, sharing) {
    this.ready = ready;
    this.panel.dataset.ready = String(ready);
    for (const button of [this.requestScan, this.requestPhoto, this.shareScreen]) {
      button.disabled = !ready && !(button === this.shareScreen && sharing);
    }
    this.fileInput.disabled = !ready;
    this.fileLabel?.classList.toggle("is-disabled", !ready);
  }

  /**
   * The purpose of the files being sent now. One send, one decision: the next file (or a retry
   * of a refused one) is shown at the kiosk only if the adviser ticks the box again.
   * @returns {FilePurpose}
   */
  takePurpose() {
    const purpose = this.showAtKiosk.checked ? "document" : "file";
    this.showAtKiosk.checked = false;
    return purpose;
  }

  /** @param {string} text plain words, or "" to hide the error */
  showError(text) {
    this.error.textContent = text;
    this.error.hidden = text === "";
  }

  /** @param {boolean} sharing */
  showScreen(sharing) {
    this.shareScreen.textContent = sharing ? "Stop sharing" : "Share screen";
    this.shareScreen.setAttribute("aria-pressed", String(sharing));
    this.screenState.hidden = !sharing;
  }

  /** The call ended: every line and every received file's bytes go. */
  clear() {
    for (const url of this.files.values()) URL.revokeObjectURL(url);
    this.files.clear();
    this.items.clear();
    for (const list of Object.values(this.lists)) list.replaceChildren();
    this.showError("");
    this.showAtKiosk.checked = false;
    this.fileInput.value = "";
  }

  /**
   * Keep a received, checked file for its Download and Open links.
   * @param {string} id
   * @param {Uint8Array<ArrayBuffer>} bytes
   * @param {string} mime
   */
  keepFile(id, bytes, mime) {
    this.dropFile(id);
    this.files.set(id, URL.createObjectURL(new Blob([bytes], { type: mime })));
  }

  /** @param {string} id forget a received file's bytes (cancelled, replaced) */
  dropFile(id) {
    const url = this.files.get(id);
    if (url !== undefined) URL.revokeObjectURL(url);
    this.files.delete(id);
  }

  /** @param {OutgoingTransfer} entry */
  renderOutgoing(entry) {
    const li = this.item(entry, "out", entry.purpose);
    const words = {
      sealing: "Encrypting…",
      uploading: "Uploading…",
      offered: "Waiting for the kiosk to check it…",
      done: entry.purpose === "document" ? "Shown at the kiosk" : "Delivered",
      failed: entry.error ?? "Not sent",
      cancelled: entry.error ?? "Cancelled",
    }[entry.state];
    const moving = entry.state === "sealing" || entry.state === "uploading";
    fill(li, entry.state, words, moving ? [entry.done, entry.size] : null, () => {
      const parts = [headline(entry.name, entry.purpose), element("span", "transfer-status", words)];
      if (moving) parts.push(progressBar(entry.done, entry.size));
      if (["sealing", "uploading", "offered"].includes(entry.state)) {
        const cancel = () => this.actions.cancelOutgoing(entry.id);
        parts.push(button("Cancel", `Cancel sending ${entry.name}`, "transfer-cancel", cancel));
      }
      return parts;
    });
    this.rendered(li, entry, true);
  }

  /** @param {IncomingTransfer} entry */
  renderIncoming(entry) {
    const li = this.item(entry, "in", entry.purpose);
    const words = {
      announced: "The kiosk is preparing a file…",
      downloading: "Receiving and checking…",
      done: `Received, checked — ${formatBytes(entry.size)}`,
      failed: entry.error ?? "Not received",
      cancelled: "Cancelled by the kiosk; nothing was kept",
    }[entry.state];
    const moving = entry.state === "announced" || entry.state === "downloading";
    fill(li, entry.state, words, moving ? [entry.done, entry.size] : null, () => {
      const parts = [headline(entry.name, entry.purpose), element("span", "transfer-status", words)];
      if (moving) parts.push(progressBar(entry.done, entry.size));
      const url = this.files.get(entry.id);
      if (entry.state === "done" && url !== undefined) parts.push(...fileLinks(entry, url));
      return parts;
    });
    this.rendered(li, entry, false);
  }

  /** @param {ExchangeRequest} entry */
  renderRequest(entry) {
    const li = this.item(entry, "request", undefined);
    li.dataset.kind = entry.kind;
    const words = requestWords(entry);
    const moving = entry.state === "scanning";
    fill(li, entry.state, words, moving ? [entry.progress, 100] : null, () => {
      const parts = [
        element("span", "transfer-name", `${KIND_WORDS[entry.kind] ?? "Request"} request`),
        element("span", "transfer-status", words),
      ];
      if (moving) parts.push(progressBar(entry.progress, 100));
      if (!FINAL_REQUEST_STATES.has(entry.state)) {
        const cancel = () => this.actions.cancelRequest(entry.id);
        parts.push(button("Cancel", `Cancel the ${entry.kind} request`, "request-cancel", cancel));
      }
      return parts;
    });
  }

  /**
   * The line of a transfer or request, made on first use (newest first).
   * @param {{id: string, state: string}} entry
   * @param {Direction} direction
   * @param {string | undefined} purpose
   */
  item(entry, direction, purpose) {
    const li = this.items.get(`${direction}:${entry.id}`) ?? this.newItem(entry.id, direction);
    li.dataset.state = entry.state;
    if (purpose !== undefined) li.dataset.purpose = purpose;
    return li;
  }

  /**
   * @param {string} id
   * @param {Direction} direction
   * @returns {HTMLLIElement}
   */
  newItem(id, direction) {
    const li = element("li", "transfer");
    li.dataset.transferId = id;
    li.dataset.direction = direction;
    this.lists[direction].prepend(li);
    this.items.set(`${direction}:${id}`, li);
    return li;
  }
}

/**
 * Put `build()`'s elements in `li`; while the state stays the same (`shape`) only the words
 * and the progress change, in place: progress comes many times a second, and rebuilding
 * would pull the Cancel button away from under the adviser's pointer.
 * @param {HTMLLIElement} li
 * @param {string} shape
 * @param {string} words
 * @param {[number, number] | null} progress done and total
 * @param {() => HTMLElement[]} build
 */
function fill(li, shape, words, progress, build) {
  if (li.dataset.shape === shape) {
    const status = li.querySelector(".transfer-status");
    if (status !== null) status.textContent = words;
    const bar = li.querySelector(".transfer-progress");
    if (bar instanceof HTMLProgressElement && progress !== null) {
      bar.max = Math.max(progress[1], 1);
      bar.value = Math.min(progress[0], bar.max);
    }
    return;
  }
  li.dataset.shape = shape;
  li.replaceChildren(...build());
}

/**
 * Download link, and a preview (pictures) or an Open link (PDF: CSP allows no frame).
 * @param {IncomingTransfer} entry
 * @param {string} url
 * @returns {HTMLElement[]}
 */
function fileLinks(entry, url) {
  const link = element("a", "button download", "Download");
  link.href = url;
  link.download = entry.name;
  link.setAttribute("aria-label", `Download ${entry.name}`);
  if (entry.mime?.startsWith("image/")) {
    const img = element("img", "transfer-preview");
    img.src = url;
    img.alt = `Preview of ${entry.name}`;
    return [link, img];
  }
  const open = element("a", "button button-quiet open", "Open");
  open.href = url;
  open.target = "_blank";
  open.rel = "noopener";
  open.setAttribute("aria-label", `Open ${entry.name}`);
  return [link, open];
}

/**
 * @param {string} name
 * @param {FilePurpose | undefined} purpose
 */
function headline(name, purpose) {
  const head = element("span", "transfer-name", name);
  const tag = purpose === undefined ? undefined : PURPOSE_TAGS[purpose];
  if (tag !== undefined) head.append(element("span", "transfer-tag", tag));
  return head;
}

/**
 * @param {string} text
 * @param {string} label the accessible name
 * @param {string} className
 * @param {() => void} onClick
 */
function button(text, label, className, onClick) {
  const el = element("button", `button button-quiet ${className}`, text);
  el.type = "button";
  el.setAttribute("aria-label", label);
  el.addEventListener("click", onClick);
  return el;
}

/**
 * @param {number} done
 * @param {number} total
 */
function progressBar(done, total) {
  const bar = element("progress", "transfer-progress");
  bar.max = Math.max(total, 1);
  bar.value = Math.min(done, bar.max);
  return bar;
}

/**
 * The element, if it is of the kind the panel needs; a page that changed is a bug to see.
 * @template {HTMLElement} T
 * @param {HTMLElement} el
 * @param {new () => T} kind
 * @param {string} name
 * @returns {T}
 */
function expect(el, kind, name) {
  if (!(el instanceof kind)) throw new TypeError(`exchange element ${name} is not a ${kind.name}`);
  return el;
}
