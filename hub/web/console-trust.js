// The tenant CA as the adviser sees it (tenant-anchor.js): its fingerprint in the status bar,
// to compare with the one the administrator gave them, and a loud warning when the hub serves
// another one, with "Accept new CA" only after the adviser confirms they compared it.

import { byId } from "./console-elements.js";
import { displayFingerprint } from "./device-proof.js";

/** @typedef {import("./tenant-anchor.js").TenantTrust} TenantTrust */
/** @typedef {import("./tenant-anchor.js").TrustStatus} TrustStatus */

export class TrustView {
  /** @param {TenantTrust} trust */
  constructor(trust) {
    this.trust = trust;
    this.line = byId("tenant-ca", HTMLElement);
    this.warning = byId("ca-warning", HTMLElement);
    this.warningText = byId("ca-warning-text", HTMLElement);
    this.compared = byId("ca-compared", HTMLInputElement);
    this.accept = byId("btn-accept-ca", HTMLButtonElement);
    this.compared.addEventListener("change", () => {
      this.accept.disabled = !this.compared.checked;
    });
    this.accept.addEventListener("click", () => this.onAccept());
    trust.on("change", (status) => this.show(status));
  }

  async onAccept() {
    if (!this.compared.checked) return;
    this.accept.disabled = true;
    try {
      await this.trust.acceptOffered();
    } catch {
      this.warningText.textContent = "The new tenant CA could not be accepted. Reload the page.";
    }
  }

  /** @param {TrustStatus} status */
  show(status) {
    const line = this.line;
    line.dataset.state = status.state;
    const pinned = status.pinned === null ? "" : displayFingerprint(status.pinned);
    if (status.state === "first_use") {
      line.textContent =
        `Tenant CA pinned in this browser: ${pinned}. ` +
        "Compare it with the fingerprint your administrator gave you.";
    } else if (status.state === "pinned") {
      line.textContent = `Tenant CA (pinned in this browser): ${pinned}`;
    } else if (status.state === "unavailable") {
      line.textContent = "Tenant CA: none from the hub — kiosks cannot be shown as verified";
    } else if (status.state === "changed") {
      line.textContent = "Tenant CA changed — kiosks are not verified until you decide";
    } else line.textContent = "";
    this.showWarning(status);
  }

  /** @param {TrustStatus} status */
  showWarning(status) {
    const changed = status.state === "changed";
    this.warning.hidden = !changed;
    this.compared.checked = false;
    this.accept.disabled = true;
    if (!changed) return;
    const pinned = status.pinned === null ? "(unreadable)" : displayFingerprint(status.pinned);
    const offered = status.offered === null ? null : displayFingerprint(status.offered);
    this.warningText.textContent =
      `The hub now presents a different tenant CA for ${status.tenant} than the one this ` +
      `browser pinned. Pinned: ${pinned}. ` +
      (offered === null ? "The hub offers none that can be used. " : `New: ${offered}. `) +
      "Until this is settled no kiosk is shown as verified. Do not accept it unless your " +
      "administrator confirms that the tenant CA was replaced and the new fingerprint matches " +
      "theirs; otherwise report it: someone may be impersonating the hub.";
    this.compared.disabled = offered === null;
  }
}
