// Retention per tenant: each setting with what it keeps, its default and its limits; a save
// sends only what changed, and the hub's refusal (a value out of its limits) is shown as is.

import { ArchivePanel } from "./admin-archive.js";
import { byId, failure, fill, h, showError } from "./admin-dom.js";

/** @typedef {import("./admin-api.js").AdminApi} AdminApi */
/** @typedef {import("./admin-types.js").RetentionAnswer} RetentionAnswer */

/** What each setting keeps (hub/governance/retention.py says the same for the CLI). */
const SETTINGS = [
  {
    key: "consultations_days",
    label: "Consultation records",
    unit: "days",
    what: "Ids, times, outcome, device and adviser of each conversation; never its content.",
  },
  {
    key: "access_log_days",
    label: "Access-log lines",
    unit: "days",
    what: "The hub's requests, anonymised before they are stored.",
  },
  {
    key: "device_history_days",
    label: "Wipe and self-test history",
    unit: "days",
    what: "What each kiosk reported about its wipes and self-tests.",
  },
  {
    key: "audit_days",
    label: "Audit entries",
    unit: "days",
    what: "Who changed which setting, account or device, and which requests were served.",
  },
  {
    key: "stats_min_cell",
    label: "Smallest statistics cell",
    unit: "consultations",
    what: "A day, hour or branch with fewer consultations is not shown in the statistics.",
  },
  {
    key: "archive_days",
    label: "Archived contracts and transcripts",
    unit: "days",
    what: "Sealed items kept where switched on below, counted from their upload.",
  },
];

export class RetentionPage {
  /**
   * @param {object} parts
   * @param {AdminApi} parts.api
   * @param {boolean} parts.canChange an administrator (a dpo only reads)
   */
  constructor({ api, canChange }) {
    this.api = api;
    this.canChange = canChange;
    /** @type {Record<string, number>} the values as the hub last answered */
    this.saved = {};
    /** @type {Record<string, [number, number]>} */
    this.limits = {};
    /** @type {Record<string, number>} */
    this.defaults = {};
    this.fields = byId("retention-fields", HTMLDivElement);
    this.error = byId("retention-error", HTMLParagraphElement);
    this.done = byId("retention-saved", HTMLParagraphElement);
    const form = byId("retention-form", HTMLFormElement);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.canChange) this.save();
    });
    this.archive = new ArchivePanel({ api, canChange, after: form });
  }

  async load() {
    this.done.hidden = true;
    void this.archive.load();
    try {
      this.render(await this.api.retention());
      showError(this.error, "");
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }

  /** @param {RetentionAnswer} answer */
  render(answer) {
    this.saved = { ...answer.settings };
    const limits = answer.limits ?? {};
    const defaults = answer.defaults ?? {};
    this.limits = limits;
    this.defaults = defaults;
    const known = SETTINGS.filter((s) => s.key in answer.settings);
    // A setting the hub has and this page does not know yet is still shown, plainly.
    const extra = Object.keys(answer.settings)
      .filter((key) => !SETTINGS.some((s) => s.key === key))
      .map((key) => ({ key, label: key.replaceAll("_", " "), unit: "", what: "" }));
    fill(
      this.fields,
      ...[...known, ...extra].map((setting) => {
        const id = `retention-${setting.key}`;
        const [min, max] = limits[setting.key] ?? [null, null];
        const input = h("input", {
          id,
          type: "number",
          step: "1",
          inputmode: "numeric",
          "data-key": setting.key,
          value: String(answer.settings[setting.key]),
          disabled: !this.canChange,
          min: min === null ? undefined : String(min),
          max: max === null ? undefined : String(max),
        });
        const bounds =
          min === null ? "" : `allowed ${min}–${max} ${setting.unit}`.trim();
        const def = setting.key in defaults ? `default ${defaults[setting.key]}` : "";
        return h(
          "div",
          { class: "field retention-field" },
          h("label", { for: id }, setting.label, setting.unit ? ` (${setting.unit})` : ""),
          input,
          h("span", { class: "admin-hint" }, hintWords(setting.what, def, bounds)),
        );
      }),
    );
  }

  async save() {
    this.done.hidden = true;
    /** @type {Record<string, number>} */
    const changes = {};
    for (const input of this.fields.querySelectorAll("input[data-key]")) {
      if (!(input instanceof HTMLInputElement)) continue;
      const key = input.dataset.key ?? "";
      const value = Number(input.value);
      if (input.value.trim() === "" || !Number.isInteger(value)) {
        showError(this.error, `Enter a whole number for ${labelOf(key)}.`);
        input.focus();
        return;
      }
      if (value !== this.saved[key]) changes[key] = value;
    }
    if (Object.keys(changes).length === 0) {
      showError(this.error, "");
      this.done.textContent = "Nothing changed.";
      this.done.hidden = false;
      return;
    }
    try {
      const answer = await this.api.setRetention(changes);
      showError(this.error, "");
      // PUT answers the settings only: the limits and defaults are the ones already shown.
      this.render({ settings: answer.settings, limits: this.limits, defaults: this.defaults });
      this.done.textContent = "Saved. The purge applies the new periods on its next run.";
      this.done.hidden = false;
    } catch (exc) {
      // Nothing was changed (the hub checks every value first): the form keeps what was typed.
      showError(this.error, failure(exc));
    }
  }
}

/**
 * "What it keeps. default 90, allowed 7–3650 days", leaving out what is empty.
 * @param {string} what
 * @param {string} def
 * @param {string} bounds
 */
function hintWords(what, def, bounds) {
  const limits = [def, bounds].filter((part) => part !== "").join(", ");
  return [what, limits].filter((part) => part !== "").join(" ");
}

/** @param {string} key */
function labelOf(key) {
  return SETTINGS.find((s) => s.key === key)?.label ?? key;
}
