// What a reloaded tab needs to get back into its call (docs/reconnection.md): the
// consultation id, the hub's resume token, the continuity secret, the four words and the
// customer's display name. sessionStorage, so it is per tab and gone when the tab closes;
// written whenever one of them changes, cleared when the call ends or the adviser signs out.

/** @typedef {import("./types.js").ResumeRecord} ResumeRecord */
/** @typedef {import("./types.js").CallSnapshot} CallSnapshot */

const KEY = "branch-kiosk.resume";
const ID = /^[A-Za-z0-9_-]{8,64}$/;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const SECRET = /^[0-9a-f]{64}$/;
const CODE = /^[a-z]{3,8}( [a-z]{3,8}){3}$/;
const PEER_MAX = 64;

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: a reload ends the call, nothing else changes
  }
}

/**
 * A stored record that can resume a call, or null (missing, partial or tampered with).
 * @param {unknown} value parsed JSON
 * @returns {ResumeRecord | null}
 */
export function parseResume(value) {
  if (value === null || typeof value !== "object") return null;
  const fields = /** @type {Record<string, unknown>} */ (value);
  const { consultation_id: id, token, secret, code, peer } = fields;
  if (typeof id !== "string" || !ID.test(id)) return null;
  if (typeof token !== "string" || !TOKEN.test(token)) return null;
  if (typeof secret !== "string" || !SECRET.test(secret)) return null;
  if (typeof code !== "string" || !CODE.test(code)) return null;
  if (typeof peer !== "string" || peer.length > PEER_MAX) return null;
  return { consultation_id: id, token, secret, code, peer };
}

/**
 * Store the call's current state (a snapshot() of call.js's Consultation).
 * @param {CallSnapshot} snapshot
 */
export function saveResume(snapshot) {
  const store = storage();
  if (store === null) return;
  const { consultation_id: id, token, secret, code, peer } = snapshot;
  try {
    store.setItem(KEY, JSON.stringify({ consultation_id: id, token, secret, code, peer }));
  } catch {
    // quota or privacy mode: the call goes on, a reload would not resume it
  }
}

/**
 * The stored call this tab can resume, or null; anything unusable is removed.
 * @returns {ResumeRecord | null}
 */
export function loadResume() {
  const store = storage();
  if (store === null) return null;
  const raw = store.getItem(KEY);
  if (raw === null) return null;
  let parsed = null;
  try {
    parsed = parseResume(JSON.parse(raw));
  } catch {
    parsed = null;
  }
  if (parsed === null) clearResume();
  return parsed;
}

/** The call is over (ended, refused, signed out): nothing of it stays in the tab. */
export function clearResume() {
  const store = storage();
  if (store === null) return;
  try {
    store.removeItem(KEY);
  } catch {
    // nothing stored then
  }
}
