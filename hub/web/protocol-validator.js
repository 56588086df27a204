// The schema checks of protocol.js (mirrors codec._build and codec._check_value of
// protocol/codec.py): the same error codes, in the same order, as the Python codec.

import {
  JsonFloat,
  JsonObject,
  JsonSyntaxError,
  breaksStringRule,
  codePointLength,
  parseJson,
  utf8Length,
} from "./protocol-json.js";

/** The codes of protocol/errors.py, in one place for the UI's plain-words texts. */
export const ERROR_CODES = Object.freeze(
  /** @type {const} */ ([
    "malformed",
    "too_large",
    "unsupported_version",
    "unknown_type",
    "unknown_field",
    "missing_field",
    "wrong_type",
    "invalid_value",
  ]),
);

/** @typedef {typeof ERROR_CODES[number]} ProtocolErrorCode */

/** A frame that does not follow the protocol; `code` matches the Python codec's. */
export class ProtocolError extends Error {
  /**
   * @param {ProtocolErrorCode} code
   * @param {string} message
   * @param {string | null} [field] the field at fault (`a.b`, `items[2]`), when there is one
   */
  constructor(code, message, field = null) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.field = field;
  }
}

/**
 * The subset of JSON Schema that `python -m hub.console_schema` exports.
 * @typedef {object} FieldSchema
 * @property {"string" | "boolean" | "integer" | "number" | "array" | "object" | "null"} [type]
 * @property {string[]} [enum]
 * @property {unknown} [const]
 * @property {number} [minLength]
 * @property {number} [maxLength]
 * @property {string} [pattern]
 * @property {number} [minimum]
 * @property {number} [maximum]
 * @property {number} [maxItems]
 * @property {FieldSchema} [items]
 * @property {Record<string, FieldSchema>} [properties]
 * @property {string[]} [required]
 * @property {FieldSchema[]} [anyOf]
 */

/**
 * One message type: an object schema whose `type` property is a const.
 * @typedef {FieldSchema & {properties: Record<string, FieldSchema>, required: string[]}} ObjectSchema
 */

/**
 * The schema of one channel ("signalling" or "channel").
 * @typedef {object} ChannelSchema
 * @property {string} title
 * @property {number} version
 * @property {number} maxBytes
 * @property {ObjectSchema[]} oneOf
 */

/**
 * protocol.schema.json: the channels' schemas, and the string rule every string follows.
 * @typedef {{stringRule?: unknown} & Record<string, ChannelSchema>} SchemaBundle
 */

/**
 * A channel ready to check frames against.
 * @typedef {object} Channel
 * @property {ChannelSchema} schema
 * @property {Map<string, ObjectSchema>} variants by message type
 * @property {Map<string, RegExp>} regexes compiled patterns, by pattern
 * @property {number} maxBytes
 */

/**
 * A decoded message: its `type`, `v` and fields, as plain values (callers narrow it to the
 * message types they expect by its `type`).
 * @typedef {{type: string, [field: string]: unknown}} Message
 */

// -- helpers ------------------------------------------------------------------------------

/**
 * Field names in error messages are cut like Python's key[:40]; never echo whole values.
 * @param {string} key
 */
function fieldName(key) {
  return JSON.stringify(key.slice(0, 40));
}

/**
 * A field's schema without its `null` alternative, and whether null is allowed.
 * @param {FieldSchema} schema
 * @returns {{inner: FieldSchema | undefined, optional: boolean}}
 */
function nullable(schema) {
  if (!Array.isArray(schema.anyOf)) return { inner: schema, optional: false };
  const inner = schema.anyOf.find((s) => s.type !== "null");
  return { inner, optional: schema.anyOf.some((s) => s.type === "null") };
}

/**
 * Set a field with defineProperty, so one called "__proto__" can never reach the prototype.
 * @param {object} obj
 * @param {string} key
 * @param {unknown} value
 */
export function defineField(obj, key, value) {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

// -- validation (mirrors codec._build and codec._check_value) -------------------------------

/** Checks frames against the exported schema. */
export class Validator {
  /** @param {SchemaBundle} bundle */
  constructor(bundle) {
    this.stringRule = bundle.stringRule;
    /** @type {Map<string, Channel>} */
    this.channels = new Map();
    for (const [name, value] of Object.entries(bundle)) {
      if (name === "stringRule") continue;
      const schema = /** @type {ChannelSchema} */ (value);
      /** @type {Map<string, ObjectSchema>} */
      const variants = new Map();
      for (const variant of schema.oneOf) {
        variants.set(String(variant.properties.type.const), variant);
      }
      const regexes = new Map();
      this.channels.set(name, { schema, variants, regexes, maxBytes: schema.maxBytes });
    }
  }

  /** @param {string} name */
  channel(name) {
    const ch = this.channels.get(name);
    if (ch === undefined) throw new TypeError(`unknown channel ${name}`);
    return ch;
  }

  /**
   * Parse and check one frame of channel `channelName`.
   * @param {string | ArrayBuffer | Uint8Array} raw
   * @param {string} channelName
   * @returns {Message}
   */
  decode(raw, channelName) {
    const ch = this.channel(channelName);
    let text = "";
    let size;
    if (typeof raw === "string") {
      text = raw;
      size = utf8Length(raw);
    } else {
      const bytes = raw instanceof Uint8Array ? raw : new Uint8Array(raw);
      size = bytes.byteLength;
      if (size <= ch.maxBytes) {
        try {
          text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        } catch {
          throw new ProtocolError("malformed", "frame is not valid UTF-8");
        }
      }
    }
    if (size > ch.maxBytes) {
      throw new ProtocolError(
        "too_large",
        `frame of ${size} bytes exceeds the limit of ${ch.maxBytes}`,
      );
    }
    let tree;
    try {
      tree = parseJson(text);
    } catch (exc) {
      if (exc instanceof JsonSyntaxError || exc instanceof RangeError) {
        throw new ProtocolError("malformed", `frame is not valid JSON: ${exc.message}`);
      }
      throw exc;
    }
    return this.fromTree(tree, ch);
  }

  /**
   * @param {unknown} tree
   * @param {Channel} ch
   * @returns {Message}
   */
  fromTree(tree, ch) {
    if (!(tree instanceof JsonObject)) {
      throw new ProtocolError("malformed", "frame must be a JSON object");
    }
    const version = tree.get("v");
    if (version === undefined || version === null) {
      throw new ProtocolError("unsupported_version", "frame has no protocol version 'v'", "v");
    }
    if (typeof version !== "bigint" || version !== BigInt(ch.schema.version)) {
      throw new ProtocolError(
        "unsupported_version",
        `protocol version is not supported (this side speaks ${ch.schema.version})`,
        "v",
      );
    }
    const typeName = tree.get("type");
    if (typeof typeName !== "string") {
      throw new ProtocolError("missing_field", "frame has no message 'type'", "type");
    }
    const variant = ch.variants.get(typeName);
    if (variant === undefined) {
      throw new ProtocolError(
        "unknown_type",
        `unknown message type ${fieldName(typeName)} on the ${ch.schema.title}`,
        "type",
      );
    }
    const body = new Map([...tree].filter(([key]) => key !== "v" && key !== "type"));
    const message = /** @type {Message} */ ({});
    defineField(message, "v", Number(version));
    defineField(message, "type", typeName);
    this.buildObject(variant, body, "", ch, message, new Set(["v", "type"]));
    return message;
  }

  /**
   * Check an object's fields into `out`: unknown fields first, then required, then optional.
   * @param {FieldSchema} schema
   * @param {Map<string, unknown>} body
   * @param {string} path the object's own path, "" or ending in "."
   * @param {Channel} ch
   * @param {Record<string, unknown>} [out]
   * @param {Set<string>} [skip] fields already taken (`v` and `type`)
   * @returns {Record<string, unknown>}
   */
  buildObject(schema, body, path, ch, out = {}, skip = new Set()) {
    const props = schema.properties ?? {};
    for (const key of body.keys()) {
      if (!Object.hasOwn(props, key) || skip.has(key)) {
        throw new ProtocolError("unknown_field", `unknown field ${path}${fieldName(key)}`, path + key);
      }
    }
    const required = (schema.required ?? []).filter((k) => !skip.has(k));
    const optional = Object.keys(props)
      .filter((k) => !skip.has(k) && !required.includes(k))
      .sort();
    for (const name of [...required, ...optional]) {
      if (!body.has(name)) {
        if (required.includes(name)) {
          throw new ProtocolError("missing_field", `missing field ${path}${name}`, path + name);
        }
        continue;
      }
      const value = body.get(name);
      const { inner, optional: canBeNull } = nullable(props[name]);
      if (value === null && canBeNull) {
        defineField(out, name, null);
        continue;
      }
      if (inner === undefined) throw new TypeError(`unsupported schema at ${path}${name}`);
      defineField(out, name, this.checkValue(inner, value, path + name, ch));
    }
    return out;
  }

  /**
   * One value against its schema; the value as the message carries it (BigInts made numbers).
   * @param {FieldSchema} schema
   * @param {unknown} value
   * @param {string} path
   * @param {Channel} ch
   * @returns {unknown}
   */
  checkValue(schema, value, path, ch) {
    /** @param {string} what */
    const wrong = (what) => new ProtocolError("wrong_type", `${path} must be ${what}`, path);
    /** @param {string} what */
    const invalid = (what) => new ProtocolError("invalid_value", `${path} ${what}`, path);
    switch (schema.type) {
      case "string": {
        if (typeof value !== "string") throw wrong("a string");
        if (Array.isArray(schema.enum)) {
          if (!schema.enum.includes(value)) {
            throw invalid(`must be one of ${schema.enum.join(", ")}`);
          }
          return value;
        }
        const length = codePointLength(value);
        if (schema.maxLength !== undefined && length > schema.maxLength) {
          throw invalid(`is longer than ${schema.maxLength} characters`);
        }
        if (schema.minLength !== undefined && length < schema.minLength) {
          throw invalid(`is shorter than ${schema.minLength} characters`);
        }
        if (schema.pattern !== undefined && !this.regex(schema.pattern, ch).test(value)) {
          throw invalid("has an invalid format");
        }
        if (breaksStringRule(value)) throw invalid("contains characters that are not allowed");
        return value;
      }
      case "boolean":
        if (typeof value !== "boolean") throw wrong("true or false");
        return value;
      case "integer":
        if (typeof value !== "bigint") throw wrong("an integer");
        checkRange(value, schema, invalid);
        return Number(value);
      case "number": {
        let number;
        if (typeof value === "bigint") number = Number(value);
        else if (value instanceof JsonFloat) number = value.value;
        else throw wrong("a number");
        if (!Number.isFinite(number)) throw invalid("must be finite");
        checkRange(number, schema, invalid);
        return number;
      }
      case "array": {
        if (!Array.isArray(value)) throw wrong("a list");
        if (schema.maxItems !== undefined && value.length > schema.maxItems) {
          throw invalid(`has more than ${schema.maxItems} items`);
        }
        const items = schema.items;
        if (items === undefined) throw new TypeError(`unsupported schema at ${path}: no items`);
        return value.map((item, i) => this.checkValue(items, item, `${path}[${i}]`, ch));
      }
      case "object":
        if (!(value instanceof JsonObject)) throw wrong("an object");
        return this.buildObject(schema, value, `${path}.`, ch);
      default:
        // A schema feature this module does not know: a bug to fix here, not bad input.
        throw new TypeError(`unsupported schema at ${path}: ${JSON.stringify(schema)}`);
    }
  }

  /**
   * A pattern compiled once per channel (with the u flag, as Python's re reads it).
   * @param {string} pattern
   * @param {Channel} ch
   */
  regex(pattern, ch) {
    let re = ch.regexes.get(pattern);
    if (re === undefined) {
      re = new RegExp(pattern, "u");
      ch.regexes.set(pattern, re);
    }
    return re;
  }
}

/**
 * @param {bigint | number} value
 * @param {FieldSchema} schema
 * @param {(what: string) => ProtocolError} invalid
 */
function checkRange(value, schema, invalid) {
  // Compare exactly: BigInt against BigInt for integers, so 2**53 is not rounded into range.
  const big = typeof value === "bigint";
  /** @param {number} bound */
  const asType = (bound) => (big ? BigInt(bound) : bound);
  if (schema.minimum !== undefined && value < asType(schema.minimum)) {
    throw invalid(`must be at least ${schema.minimum}`);
  }
  if (schema.maximum !== undefined && value > asType(schema.maximum)) {
    throw invalid(`must be at most ${schema.maximum}`);
  }
}
