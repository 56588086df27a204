// The fleet: each kiosk's state, branch label, last contact, certificate, version, last
// self-test and wipe, with the wipe alarm (a failed wipe, or a call that ended without a
// verified wipe report); per device its wipe history, a fresh enrolment code, revocation.

import { byId, confirmAction, failure, fill, h, showError, table, when } from "./admin-dom.js";

/** @typedef {import("./admin-api.js").AdminApi} AdminApi */
/** @typedef {import("./admin-types.js").DeviceRow} DeviceRow */
/** @typedef {import("./admin-types.js").LastReport} LastReport */
/** @typedef {import("./admin-types.js").WipeReport} WipeReport */

/** @param {DeviceRow} device */
export const hasAlarm = (device) => device.wipes_failed > 0 || device.wipes_missing > 0;

/** @param {DeviceRow} device */
function alarmWords(device) {
  const parts = [];
  if (device.wipes_failed > 0) parts.push(`${device.wipes_failed} failed`);
  if (device.wipes_missing > 0) parts.push(`${device.wipes_missing} missing`);
  return parts.join(", ");
}

/** @param {LastReport | null} report */
function reportCell(report) {
  if (report === null) return "—";
  const cls = report.ok ? "tag tag-on" : "tag tag-alarm";
  const result = h("span", { class: cls }, report.ok ? "OK" : "Failed");
  return h("span", {}, result, " ", when(report.at));
}

export class DevicesPage {
  /**
   * @param {object} parts
   * @param {AdminApi} parts.api
   * @param {boolean} parts.canChange an administrator (a dpo only reads)
   */
  constructor({ api, canChange }) {
    this.api = api;
    this.canChange = canChange;
    this.error = byId("devices-error", HTMLParagraphElement);
    this.alarm = byId("devices-alarm", HTMLDivElement);
    this.tableBox = byId("devices-table", HTMLDivElement);
    this.detail = byId("device-detail", HTMLElement);
  }

  async load() {
    try {
      const devices = await this.api.devices();
      showError(this.error, "");
      this.render(devices);
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }

  /** @param {DeviceRow[]} devices */
  render(devices) {
    const alarmed = devices.filter(hasAlarm);
    this.alarm.hidden = alarmed.length === 0;
    fill(
      this.alarm,
      h("strong", {}, "Wipe alarm: "),
      `a wipe failed or was never reported on ${alarmed.map((d) => d.name).join(", ")}. ` +
        "Open the wipe history and have the kiosk checked before it serves customers again.",
    );
    const heads = ["Name", "State", "Branch", "Last seen", "Certificate until", "Version"];
    heads.push("Last self-test", "Last wipe", "Actions");
    const rows = table(
      heads,
      devices,
      (device) => [
        device.name,
        device.state,
        this.branchCell(device),
        when(device.last_seen),
        when(device.cert_not_after),
        device.version ?? "—",
        reportCell(device.last_selftest),
        h(
          "span",
          { class: "wipe-cell" },
          reportCell(device.last_wipe),
          hasAlarm(device)
            ? h("span", { class: "tag tag-alarm" }, `Alarm: ${alarmWords(device)}`)
            : null,
        ),
        this.actions(device),
      ],
      (device) => ({
        "data-device": device.name,
        class: hasAlarm(device) ? "row-alarm" : undefined,
      }),
    );
    fill(this.tableBox, devices.length === 0 ? h("p", { class: "empty" }, "No kiosks yet.") : rows);
  }

  /** @param {DeviceRow} device */
  branchCell(device) {
    if (!this.canChange) return device.branch ?? "—";
    const input = h("input", {
      type: "text",
      class: "branch-input",
      maxlength: "64",
      value: device.branch ?? "",
      "aria-label": `Branch of ${device.name}`,
    });
    const save = h("button", { type: "submit", class: "button button-small" }, "Save");
    const form = h("form", { class: "inline-form", novalidate: true }, input, save);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.setBranch(device.name, input.value.trim());
    });
    return form;
  }

  /**
   * @param {string} name
   * @param {string} branch "" clears the label
   */
  async setBranch(name, branch) {
    try {
      await this.api.setBranch(name, branch === "" ? null : branch);
      showError(this.error, "");
      await this.load();
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }

  /** @param {DeviceRow} device */
  actions(device) {
    /**
     * @param {string} action
     * @param {string} words
     * @param {() => void} run
     */
    const button = (action, words, run) => {
      const node = h(
        "button",
        { type: "button", class: "button button-small", "data-action": action },
        words,
      );
      node.addEventListener("click", run);
      return node;
    };
    const box = h("span", { class: "row-actions" });
    box.append(button("wipes", "Wipe history", () => this.showWipes(device.name)));
    if (this.canChange) {
      box.append(button("code", "Enrolment code", () => this.issueCode(device.name)));
      if (device.state !== "revoked") {
        box.append(button("revoke", "Revoke…", () => this.revoke(device.name)));
      }
    }
    return box;
  }

  /** @param {string} name */
  async showWipes(name) {
    try {
      const reports = await this.api.wipes(name);
      showError(this.error, "");
      this.showDetail(`Wipe history of ${name}`, wipeTable(reports));
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }

  /** @param {string} name */
  async issueCode(name) {
    try {
      const code = await this.api.enrolCode(name);
      showError(this.error, "");
      this.showDetail(
        `Enrolment code for ${name}`,
        h(
          "dl",
          { class: "doc-list" },
          h("dt", {}, "Code"),
          h("dd", {}, h("code", { class: "enrol-code" }, code.code)),
          h("dt", {}, "Address for the technician's scanner"),
          h("dd", {}, h("code", {}, code.uri)),
          h("dt", {}, "Valid until"),
          h("dd", {}, when(code.expires_at)),
        ),
        h("p", { class: "admin-hint" }, "Give it to the technician only; it works once."),
      );
      await this.load();
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }

  /** @param {string} name */
  async revoke(name) {
    const ok = await confirmAction(
      `Revoke ${name}? It is disconnected at once and needs a new enrolment to work again.`,
      "Revoke",
    );
    if (!ok) return;
    try {
      await this.api.revoke(name);
      showError(this.error, "");
    } catch (exc) {
      showError(this.error, failure(exc));
    }
    await this.load();
  }

  /**
   * @param {string} title
   * @param {...Node} body
   */
  showDetail(title, ...body) {
    const close = h("button", { type: "button", class: "button button-small" }, "Close");
    close.addEventListener("click", () => {
      this.detail.hidden = true;
    });
    fill(this.detail, h("div", { class: "card-head" }, h("h2", {}, title), close), ...body);
    this.detail.hidden = false;
  }
}

/** @param {WipeReport[]} reports newest first */
function wipeTable(reports) {
  if (reports.length === 0) return h("p", { class: "empty" }, "No wipe reports from this kiosk.");
  return table(
    ["When", "Result", "Details"],
    reports,
    (report) => [
      when(report.at),
      report.ok
        ? h("span", { class: "tag tag-on" }, "Verified")
        : h("span", { class: "tag tag-alarm" }, "Failed"),
      summaryWords(report.summary),
    ],
    (report) => ({ class: report.ok ? undefined : "row-alarm" }),
  );
}

/**
 * A wipe report's summary (counts and checks the kiosk sent) as "key: value" words.
 * @param {unknown} summary an object as the hub stores it; anything else is shown as JSON
 */
function summaryWords(summary) {
  if (summary === null || typeof summary !== "object" || Array.isArray(summary)) {
    return summary === null || summary === undefined ? "—" : JSON.stringify(summary);
  }
  const words = Object.entries(summary).map(([key, value]) => {
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    return `${key.replaceAll("_", " ")}: ${text}`;
  });
  return words.length === 0 ? "—" : words.join("; ");
}
