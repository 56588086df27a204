// Third parties: everything that sends a tenant's data beyond the hub and the kiosks, with
// where it goes and why. TURN relaying is switched per tenant here (administrators only).

import { byId, failure, fill, h, showError } from "./admin-dom.js";

/** @typedef {import("./admin-api.js").AdminApi} AdminApi */
/** @typedef {import("./admin-types.js").Party} Party */
/** @typedef {import("./admin-types.js").PartiesAnswer} PartiesAnswer */

export class PartiesPage {
  /**
   * @param {object} parts
   * @param {AdminApi} parts.api
   * @param {boolean} parts.canChange an administrator (a dpo only reads)
   */
  constructor({ api, canChange }) {
    this.api = api;
    this.canChange = canChange;
    this.list = byId("parties-list", HTMLDivElement);
    this.error = byId("parties-error", HTMLParagraphElement);
  }

  async load() {
    try {
      this.render(await this.api.parties());
      showError(this.error, "");
    } catch (exc) {
      showError(this.error, failure(exc));
    }
  }

  /** @param {PartiesAnswer} answer */
  render(answer) {
    fill(
      this.list,
      ...answer.parties.map((party) => this.party(party)),
      answer.relay_only
        ? h(
            "p",
            { class: "admin-hint" },
            "This hub sends calls through its TURN relay only (no direct connection).",
          )
        : null,
    );
  }

  /** @param {Party} party */
  party(party) {
    const state = !party.available
      ? h("span", { class: "tag" }, "Not set up on this hub")
      : party.enabled
        ? h("span", { class: "tag tag-on" }, "On")
        : h("span", { class: "tag tag-off" }, "Off");
    const section = h(
      "section",
      { class: "party", "data-party": party.id },
      h("div", { class: "card-head" }, h("h2", {}, party.name), state),
      h("p", {}, party.purpose),
      h("p", { class: "admin-hint" }, "Where the data goes:"),
      party.destinations.length === 0
        ? h("p", { class: "empty" }, "Nowhere yet.")
        : h(
            "ul",
            { class: "doc-items" },
            ...party.destinations.map((d) => h("li", {}, h("code", {}, d))),
          ),
    );
    if (party.id === "turn" && this.canChange) section.append(this.turnSwitch(party));
    return section;
  }

  /** @param {Party} party */
  turnSwitch(party) {
    const box = h("input", {
      type: "checkbox",
      id: "turn-enabled",
      checked: party.enabled,
      disabled: !party.available,
    });
    box.addEventListener("change", () => this.setTurn(box));
    return h(
      "label",
      { class: "check", for: "turn-enabled" },
      box,
      " Relay this tenant's calls through TURN when a direct connection fails",
    );
  }

  /** @param {HTMLInputElement} box */
  async setTurn(box) {
    box.disabled = true;
    try {
      this.render(await this.api.setParties({ turn: box.checked }));
      showError(this.error, "");
    } catch (exc) {
      box.checked = !box.checked;
      box.disabled = false;
      showError(this.error, failure(exc));
    }
  }
}
