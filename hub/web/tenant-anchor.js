// The tenant CA this browser trusts for device proofs (docs/verification.md "Which device").
// Fetched from the hub once (GET /api/tenant-ca), pinned on first use in localStorage per hub
// origin and tenant, and from then on taken from there, never from the hub again. The adviser
// compares its fingerprint with the one the administrator gave them. When the hub later
// serves another one, nothing is trusted until the adviser accepts it explicitly: meanwhile
// no kiosk is shown as verified.

import { Emitter } from "./events.js";
import { DeviceProofError, fromBase64, tenantAnchor } from "./device-proof.js";

/** @typedef {import("./device-proof.js").TenantAnchor} TenantAnchor */

const KEY_PREFIX = "branch-kiosk.tenant-ca";
const HEX32 = /^[0-9a-f]{64}$/;

/**
 * What the hub answers: the CA of the signed-in adviser's tenant (nulls: it has none).
 * @typedef {object} TenantCaAnswer
 * @property {string} tenant
 * @property {string | null} certificate base64 DER
 * @property {string | null} fingerprint
 */

/**
 * Where the trust stands: "loading"; "first_use" (pinned just now: compare the fingerprint);
 * "pinned"; "changed" (the hub serves another CA than the pinned one; `offered` is its
 * fingerprint); "unavailable" (nothing pinned, and the hub has no usable CA).
 * @typedef {object} TrustStatus
 * @property {"loading" | "first_use" | "pinned" | "changed" | "unavailable"} state
 * @property {string} tenant
 * @property {string | null} pinned the pinned CA's fingerprint (64 hex digits)
 * @property {string | null} offered the hub's other CA's fingerprint, when changed
 */

/** @typedef {{change: TrustStatus}} TrustEvents */

/**
 * The pinned tenant CA of one hub origin and tenant.
 * @extends {Emitter<TrustEvents>}
 */
export class TenantTrust extends Emitter {
  /**
   * @param {object} options
   * @param {() => Promise<TenantCaAnswer>} options.fetchCa the hub's answer (throws if unreachable)
   * @param {Storage | null} [options.storage] localStorage (null: nothing persists)
   * @param {string} [options.origin] the hub's origin (this page's)
   */
  constructor({ fetchCa, storage = defaultStorage(), origin = location.origin }) {
    super();
    this.fetchCa = fetchCa;
    this.storage = storage;
    this.origin = origin;
    /** @type {TrustStatus} */
    this.status = { state: "loading", tenant: "", pinned: null, offered: null };
    /** @type {TenantAnchor | null} the pinned CA, ready to check with */
    this.anchor = null;
    /** @type {{der: Uint8Array, fingerprint: string} | null} the hub's other CA, if changed */
    this.pending = null;
    /** @type {Promise<unknown>} the last load() */
    this.loading = Promise.resolve();
  }

  /** Resolves once the last load() is done (a proof that came early waits for it). */
  settled() {
    return this.loading.catch(() => {});
  }

  /** The anchor to check device proofs with, or null while there is none to trust. */
  current() {
    const state = this.status.state;
    return state === "pinned" || state === "first_use" ? this.anchor : null;
  }

  /** Why current() is null, in one word ("no_anchor", "anchor_changed"). */
  whyNot() {
    return this.status.state === "changed" ? "anchor_changed" : "no_anchor";
  }

  /**
   * Compare the hub's CA for `tenant` with the pinned one; pin it on first use.
   * @param {string} tenant the signed-in adviser's
   */
  load(tenant) {
    this.loading = this.compare(tenant);
    return this.loading;
  }

  /** @param {string} tenant */
  async compare(tenant) {
    this.anchor = null;
    this.pending = null;
    this.set({ state: "loading", tenant, pinned: null, offered: null });
    const pinned = await this.readPinned(tenant);
    /** @type {{der: Uint8Array, anchor: TenantAnchor} | null} */
    let offered = null;
    try {
      offered = await this.offered(tenant);
    } catch {
      offered = null; // unreachable or unusable: the pinned one (if any) still holds
    }
    if (pinned === "unreadable") {
      // Someone changed what this browser pinned: trust nothing until the adviser decides.
      this.changed(tenant, null, offered);
    } else if (pinned === null && offered === null) {
      this.set({ state: "unavailable", tenant, pinned: null, offered: null });
    } else if (pinned === null && offered !== null) {
      this.pin(tenant, offered.der, offered.anchor);
      this.set({ state: "first_use", tenant, pinned: offered.anchor.fingerprint, offered: null });
    } else if (pinned !== null) {
      this.anchor = pinned;
      if (offered === null || offered.anchor.fingerprint === pinned.fingerprint) {
        this.set({ state: "pinned", tenant, pinned: pinned.fingerprint, offered: null });
      } else this.changed(tenant, pinned, offered);
    }
    return this.status;
  }

  /** The adviser confirmed the hub's new CA (after comparing it): pin it instead. */
  async acceptOffered() {
    const pending = this.pending;
    const tenant = this.status.tenant;
    if (pending === null || this.status.state !== "changed") return;
    const anchor = await tenantAnchor(pending.der);
    this.pin(tenant, pending.der, anchor);
    this.pending = null;
    this.set({ state: "pinned", tenant, pinned: anchor.fingerprint, offered: null });
  }

  // -- inside --------------------------------------------------------------------------

  /**
   * @param {string} tenant
   * @param {TenantAnchor | null} pinned
   * @param {{der: Uint8Array, anchor: TenantAnchor} | null} offered
   */
  changed(tenant, pinned, offered) {
    this.anchor = pinned;
    this.pending =
      offered === null ? null : { der: offered.der, fingerprint: offered.anchor.fingerprint };
    this.set({
      state: "changed",
      tenant,
      pinned: pinned?.fingerprint ?? null,
      offered: offered?.anchor.fingerprint ?? null,
    });
  }

  /**
   * The hub's CA for `tenant`, checked to be a CA of that tenant; null when it has none.
   * @param {string} tenant
   */
  async offered(tenant) {
    const answer = await this.fetchCa();
    if (answer.certificate === null || answer.tenant !== tenant) return null;
    const der = fromBase64(answer.certificate, "tenant CA certificate");
    const anchor = await tenantAnchor(der);
    if (anchor.tenant !== tenant) throw new DeviceProofError("bad_anchor", "another tenant's CA");
    return { der, anchor };
  }

  /**
   * The pinned CA of `tenant`: null when none, "unreadable" when the record is damaged.
   * @param {string} tenant
   * @returns {Promise<TenantAnchor | null | "unreadable">}
   */
  async readPinned(tenant) {
    let raw = null;
    try {
      raw = this.storage?.getItem(this.key(tenant)) ?? null;
    } catch {
      raw = null;
    }
    if (raw === null) return null;
    try {
      const record = JSON.parse(raw);
      if (typeof record?.fingerprint !== "string" || !HEX32.test(record.fingerprint)) {
        return "unreadable";
      }
      const anchor = await tenantAnchor(fromBase64(record.certificate, "pinned CA"));
      const same = anchor.fingerprint === record.fingerprint && anchor.tenant === tenant;
      return same ? anchor : "unreadable";
    } catch {
      return "unreadable";
    }
  }

  /**
   * @param {string} tenant
   * @param {Uint8Array} der
   * @param {TenantAnchor} anchor
   */
  pin(tenant, der, anchor) {
    this.anchor = anchor;
    const certificate = btoa(String.fromCharCode(...der));
    const record = { fingerprint: anchor.fingerprint, certificate };
    try {
      this.storage?.setItem(this.key(tenant), JSON.stringify(record));
    } catch {
      // storage full or disabled: pinned for this page only, asked again after a reload
    }
  }

  /** @param {string} tenant */
  key(tenant) {
    return `${KEY_PREFIX}:${this.origin}:${tenant}`;
  }

  /** @param {TrustStatus} status */
  set(status) {
    this.status = status;
    this.emit("change", status);
  }
}

function defaultStorage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}
