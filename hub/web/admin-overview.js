// The overview: who is signed in, for which tenant, and the alarms that need someone.

import { byId, failure, fill, h, showError } from "./admin-dom.js";

/** @typedef {import("./admin-api.js").AdminApi} AdminApi */

export class OverviewPage {
  /**
   * @param {object} parts
   * @param {AdminApi} parts.api
   * @param {"admin" | "dpo"} parts.role
   * @param {string} parts.name
   * @param {string} parts.tenant
   */
  constructor({ api, role, name, tenant }) {
    this.api = api;
    const as = role === "admin" ? "administrator" : "data-protection officer";
    byId("overview-who", HTMLParagraphElement).textContent =
      `Signed in as ${name}, ${as} of tenant ${tenant}.`;
    byId("overview-dpo", HTMLParagraphElement).hidden = role !== "dpo";
  }

  async load() {
    const alarm = byId("overview-alarm", HTMLDivElement);
    const ok = byId("overview-ok", HTMLParagraphElement);
    const error = byId("overview-error", HTMLParagraphElement);
    try {
      const overview = await this.api.overview();
      showError(error, "");
      const devices = overview.alarms.devices;
      alarm.hidden = devices === 0;
      ok.hidden = devices !== 0;
      fill(
        alarm,
        h("strong", {}, "Wipe alarm: "),
        `${devices} ${devices === 1 ? "kiosk has" : "kiosks have"} a failed or missing wipe. `,
        h("a", { href: "#devices" }, "See the devices"),
      );
    } catch (exc) {
      showError(error, failure(exc));
      alarm.hidden = true;
      ok.hidden = true;
    }
  }
}
