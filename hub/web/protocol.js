// Strict decoder/encoder for the Branch Kiosk protocol, driven by protocol.schema.json.
//
// The Python dataclasses (protocol/messages.py, protocol/channel.py) are the one definition;
// `python -m hub.console_schema` exports them as JSON Schema and this module implements exactly
// the subset of JSON Schema that export uses, with the same error codes and the same order of
// checks as protocol/codec.py, so a frame is accepted or refused identically on both sides
// (tests/e2e/test_protocol_js.py runs the shared fixtures through both).
//
// Order of checks (as in codec.py): size in UTF-8 bytes, JSON syntax, top-level object,
// version `v`, `type`, unknown fields, then each declared field. Field order: Python checks
// fields in dataclass order, which the exported schema keeps only for required fields (its
// keys are sorted), so this module checks required fields in `required` order, then optional
// fields alphabetically. Every current message declares its required fields first, so only a
// frame with errors in two optional fields can get a different code than from Python.
//
// The JSON reader is protocol-json.js (Python's json.loads semantics: integers and floats told
// apart, big integers exact), the schema checks protocol-validator.js; this is the entry that
// the console and the tests import.

import { ProtocolError, Validator, defineField } from "./protocol-validator.js";

export { utf8Length } from "./protocol-json.js";
export { ERROR_CODES, ProtocolError } from "./protocol-validator.js";

/**
 * @typedef {import("./protocol-validator.js").Message} Message
 * @typedef {import("./protocol-validator.js").SchemaBundle} SchemaBundle
 * @typedef {import("./protocol-validator.js").ProtocolErrorCode} ProtocolErrorCode
 */

/** @typedef {"signalling" | "channel"} ChannelName */

export const PROTOCOL_VERSION = 1;

/**
 * Like codec._to_obj: drop absent optional fields (null/undefined) before serialising.
 * @param {unknown} value
 * @returns {unknown}
 */
function plain(value) {
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const [key, v] of Object.entries(value)) {
      if (v === null || v === undefined) continue;
      defineField(out, key, plain(v));
    }
    return out;
  }
  return value;
}

/** The protocol of both channels, loaded from the exported schema. */
export class Protocol {
  /** @param {SchemaBundle} bundle protocol.schema.json */
  constructor(bundle) {
    this.validator = new Validator(bundle);
  }

  /**
   * Parse and validate one frame (string, ArrayBuffer or Uint8Array).
   * Returns the message as a plain object; throws ProtocolError.
   * @param {string | ArrayBuffer | Uint8Array} raw
   * @param {ChannelName} [channel]
   * @returns {Message}
   */
  decode(raw, channel = "signalling") {
    const message = this.validator.decode(raw, channel);
    if (message.type === "signature_request") checkPlacement(message);
    return message;
  }

  /**
   * Serialise a message ({type, ...fields}); validated first so we never send what the
   * other side would refuse. Throws ProtocolError.
   * @param {{type: string}} message
   * @param {ChannelName} [channel]
   * @returns {string}
   */
  encode(message, channel = "signalling") {
    const { v: _ignored, ...fields } = /** @type {Record<string, unknown>} */ (plain(message));
    const text = JSON.stringify({ v: PROTOCOL_VERSION, ...fields });
    this.decode(text, channel);
    return text;
  }

  /**
   * The message type names of a channel, for tests and diagnostics.
   * @param {ChannelName} [channel]
   */
  types(channel = "signalling") {
    return [...this.validator.channel(channel).variants.keys()];
  }
}

// A signature box's largest coordinate in PDF points (protocol/channel.py BOX_MAX).
const BOX_MAX = 14400;

/**
 * The rules across a signature request's placement fields that JSON Schema cannot say, as
 * protocol/channel.py's SignatureRequest.__post_init__ has them (same code, same order).
 * @param {Message} message
 */
function checkPlacement(message) {
  const { field, page, box } = /** @type {{field?: unknown, page?: unknown, box?: unknown}} */ (
    message
  );
  const given = (/** @type {unknown} */ value) => value !== undefined && value !== null;
  if (given(field) && (given(box) || given(page))) {
    throw new ProtocolError("invalid_value", "give a field or a page and box, not both", "field");
  }
  if (given(page) !== given(box)) {
    throw new ProtocolError("invalid_value", "page and box go together", "box");
  }
  if (Array.isArray(box)) {
    const [x0, y0, x1, y1] = /** @type {number[]} */ (box);
    if (!box.every((v) => typeof v === "number" && v >= 0 && v <= BOX_MAX)) {
      throw new ProtocolError("invalid_value", `box values must be within 0..${BOX_MAX}`, "box");
    }
    if (!(x0 < x1 && y0 < y1)) {
      throw new ProtocolError("invalid_value", "box must have x0 < x1 and y0 < y1", "box");
    }
  }
}

/**
 * Fetch the schema and build a Protocol.
 * @param {string} [url]
 */
export async function loadProtocol(url = "/static/protocol.schema.json") {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`could not load the protocol schema (${response.status})`);
  return new Protocol(/** @type {SchemaBundle} */ (await response.json()));
}
