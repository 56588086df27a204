// DOM rendering for the queue, the chat and the exchange panel's pieces. Text from the
// network goes in with textContent only, never innerHTML.

/** @typedef {import("./types.js").QueueEntry} QueueEntry */
/** @typedef {import("./types.js").IntakeField} IntakeField */

/**
 * "45 s", "3 min 05 s", "1 h 02 min".
 * @param {number} seconds
 */
export function formatWaiting(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/**
 * "0 B", "812 B", "4.2 KB", "25 MB" (units of 1024, so a 25 MiB limit reads "25 MB").
 * @param {number} n
 */
export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * A new element with a class and text (textContent only: safe for network text).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

/** @typedef {QueueEntry & {since: number}} TickingEntry waiting since `since` (ms) */

/** The live queue: one entry per waiting kiosk, waiting times ticking every second. */
export class QueueList {
  /**
   * @param {object} parts
   * @param {HTMLElement} parts.list
   * @param {HTMLElement} parts.empty shown when nobody waits
   * @param {HTMLElement} parts.count
   * @param {(consultationId: string, device: string) => void} parts.onAccept
   */
  constructor({ list, empty, count, onAccept }) {
    this.list = list;
    this.empty = empty;
    this.count = count;
    this.onAccept = onAccept;
    /** @type {TickingEntry[]} */
    this.entries = [];
    this.busy = false; // in a call or an accept is pending: no Accept buttons active
    /** @type {ReturnType<typeof setInterval> | null} */
    this.timer = null;
  }

  /**
   * Replace the entries with the hub's latest `queue` message.
   * @param {QueueEntry[]} entries
   */
  update(entries) {
    const now = Date.now();
    // Keep the wait a ticking clock: the hub sends waiting_s only when the queue changes.
    this.entries = entries.map((e) => ({ ...e, since: now - e.waiting_s * 1000 }));
    this.render();
  }

  /** @param {boolean} busy */
  setBusy(busy) {
    this.busy = busy;
    for (const button of this.list.querySelectorAll("button.accept")) {
      if (button instanceof HTMLButtonElement) button.disabled = busy;
    }
  }

  start() {
    if (this.timer === null) this.timer = setInterval(() => this.tick(), 1000);
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  clear() {
    this.entries = [];
    this.render();
  }

  render() {
    const items = this.entries.map((entry) => this.renderEntry(entry));
    this.list.replaceChildren(...items);
    this.empty.hidden = this.entries.length > 0;
    const n = this.entries.length;
    this.count.textContent = n === 0 ? "" : `${n} waiting`;
  }

  /** @param {TickingEntry} entry */
  renderEntry(entry) {
    const li = element("li", "queue-entry");
    li.dataset.consultationId = entry.consultation_id;
    const position = element("span", "position", String(entry.position));
    position.setAttribute("aria-label", `Position ${entry.position}`);
    const info = element("div", "entry-info");
    info.append(element("span", "device", entry.device));
    const waiting = element("span", "waiting");
    waiting.append("Waiting ", element("span", "waiting-time", formatWaiting(this.waitedS(entry))));
    info.append(waiting);
    const button = element("button", "button button-primary accept", "Accept");
    button.type = "button";
    button.disabled = this.busy;
    button.setAttribute("aria-label", `Accept ${entry.device}`);
    button.addEventListener("click", () => this.onAccept(entry.consultation_id, entry.device));
    li.append(position, info, button);
    return li;
  }

  tick() {
    for (const entry of this.entries) {
      const li = this.list.querySelector(
        `.queue-entry[data-consultation-id="${CSS.escape(entry.consultation_id)}"] .waiting-time`,
      );
      if (li !== null) li.textContent = formatWaiting(this.waitedS(entry));
    }
  }

  /** @param {TickingEntry} entry */
  waitedS(entry) {
    return (Date.now() - entry.since) / 1000;
  }
}

/** The chat log of one consultation. */
export class ChatLog {
  /** @param {HTMLElement} list */
  constructor(list) {
    this.list = list;
  }

  clear() {
    this.list.replaceChildren();
  }

  /**
   * A line from "you" or "customer"; ts in ms since the epoch.
   * @param {"you" | "customer"} from
   * @param {string} text
   */
  add(from, text, ts = Date.now()) {
    const li = element("li", `chat-line chat-${from}`);
    const meta = element("span", "chat-meta");
    meta.append(element("span", "chat-from", from === "you" ? "You" : "Customer"));
    const time = element("time", "chat-time", formatClock(ts));
    time.dateTime = new Date(ts).toISOString();
    meta.append(time);
    li.append(meta, element("p", "chat-text", text));
    this.append(li);
  }

  /**
   * A note from the console itself (connection changes, unreadable messages).
   * @param {string} text
   */
  note(text) {
    this.append(element("li", "chat-note", text));
  }

  /** @param {HTMLElement} li */
  append(li) {
    this.list.append(li);
    this.list.scrollTop = this.list.scrollHeight;
  }
}

/**
 * The customer's intake form (name, topic...) as the kiosk sent it over the data channel.
 * Lives only in the DOM of the current call; clear() drops it when the call ends.
 */
export class CustomerDetails {
  /**
   * @param {HTMLElement} container
   * @param {HTMLElement} before the box goes in front of this child of `container`
   */
  constructor(container, before) {
    this.box = element("section", "customer-details");
    this.box.setAttribute("aria-label", "Customer details");
    this.box.hidden = true;
    this.list = element("dl", "customer-details-list");
    this.box.append(element("h2", "customer-details-title", "Customer details"), this.list);
    container.insertBefore(this.box, before);
  }

  /**
   * The form's fields as validated by protocol.js.
   * @param {IntakeField[]} fields
   */
  show(fields) {
    const rows = [];
    for (const { key, value } of fields) {
      if (value === "") continue;
      rows.push(element("dt", "customer-details-key", fieldLabel(key)));
      rows.push(element("dd", "customer-details-value", value));
    }
    this.list.replaceChildren(...rows);
    this.box.hidden = rows.length === 0;
  }

  clear() {
    this.list.replaceChildren();
    this.box.hidden = true;
  }
}

/** @param {string} key */
function fieldLabel(key) {
  const words = key.replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** @param {number} ts */
function formatClock(ts) {
  const date = new Date(Number.isFinite(ts) ? ts : Date.now());
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
