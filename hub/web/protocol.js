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
// JSON is parsed by a small parser of our own rather than JSON.parse, because the codec
// tells integers from floats by their spelling (`1` vs `1.0` or `1e0`), compares big
// integers exactly, and, like Python, refuses integers of more than 4300 digits.

export const PROTOCOL_VERSION = 1;

// Python raises RecursionError near a depth of 1000; messages nest at most four levels, so a
// lower bound here costs nothing and keeps our recursive parser well inside the JS stack.
const MAX_DEPTH = 500;
// CPython's default limit for int(str) (sys.int_info.default_max_str_digits).
const MAX_INT_DIGITS = 4300;

/** The codes of protocol/errors.py, in one place for the UI's plain-words texts. */
export const ERROR_CODES = Object.freeze([
  "malformed",
  "too_large",
  "unsupported_version",
  "unknown_type",
  "unknown_field",
  "missing_field",
  "wrong_type",
  "invalid_value",
]);

/** A frame that does not follow the protocol; `code` matches the Python codec's. */
export class ProtocolError extends Error {
  constructor(code, message, field = null) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.field = field;
  }
}

// A JSON number written with a fraction or exponent: Python's json gives a float for it.
class JsonFloat {
  constructor(value) {
    this.value = value;
  }
}

// -- JSON parsing (Python json.loads semantics) ------------------------------------------

class JsonSyntaxError extends Error {}

const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

// Parse JSON text into a tree where objects are Maps (keys in first-seen order, last value
// wins, as in a Python dict), integers are BigInts and other numbers JsonFloat.
function parseJson(text) {
  let pos = 0;

  const fail = (what) => {
    throw new JsonSyntaxError(`${what} at offset ${pos}`);
  };
  const skipWhitespace = () => {
    while (pos < text.length && WHITESPACE.has(text[pos])) pos += 1;
  };

  const parseString = () => {
    pos += 1; // opening quote
    let out = "";
    let start = pos;
    for (;;) {
      if (pos >= text.length) fail("unterminated string");
      const ch = text.charCodeAt(pos);
      if (ch === 0x22) {
        out += text.slice(start, pos);
        pos += 1;
        return out;
      }
      if (ch < 0x20) fail("control character in string");
      if (ch === 0x5c) {
        out += text.slice(start, pos);
        const esc = text[pos + 1];
        if (esc === "u") {
          const hex = text.slice(pos + 2, pos + 6);
          if (!HEX4.test(hex)) fail("invalid \\u escape");
          // Code units, not code points: a lone surrogate stays lone, as in Python.
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 6;
        } else if (esc !== undefined && Object.hasOwn(ESCAPES, esc)) {
          out += ESCAPES[esc];
          pos += 2;
        } else {
          fail("invalid escape");
        }
        start = pos;
        continue;
      }
      pos += 1;
    }
  };

  const parseNumber = () => {
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (m === null) fail("invalid value");
    pos = NUMBER.lastIndex;
    const lexeme = m[0];
    if (m[1] === undefined && m[2] === undefined) {
      const digits = lexeme.startsWith("-") ? lexeme.length - 1 : lexeme.length;
      if (digits > MAX_INT_DIGITS) fail("integer has too many digits");
      return BigInt(lexeme);
    }
    return new JsonFloat(Number(lexeme));
  };

  const parseValue = (depth) => {
    if (depth > MAX_DEPTH) fail("nested too deeply");
    const ch = text[pos];
    if (ch === "{") return parseObject(depth + 1);
    if (ch === "[") return parseArray(depth + 1);
    if (ch === '"') return parseString();
    if (text.startsWith("true", pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith("false", pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith("null", pos)) {
      pos += 4;
      return null;
    }
    // NaN and Infinity are refused like Python's parse_constant hook in codec.py does.
    return parseNumber();
  };

  const parseObject = (depth) => {
    pos += 1;
    const obj = new Map();
    skipWhitespace();
    if (text[pos] === "}") {
      pos += 1;
      return obj;
    }
    for (;;) {
      if (text[pos] !== '"') fail("expecting property name in double quotes");
      const key = parseString();
      skipWhitespace();
      if (text[pos] !== ":") fail("expecting ':'");
      pos += 1;
      skipWhitespace();
      obj.set(key, parseValue(depth));
      skipWhitespace();
      if (text[pos] === ",") {
        pos += 1;
        skipWhitespace();
        continue;
      }
      if (text[pos] === "}") {
        pos += 1;
        return obj;
      }
      fail("expecting ',' or '}'");
    }
  };

  const parseArray = (depth) => {
    pos += 1;
    const arr = [];
    skipWhitespace();
    if (text[pos] === "]") {
      pos += 1;
      return arr;
    }
    for (;;) {
      skipWhitespace();
      arr.push(parseValue(depth));
      skipWhitespace();
      if (text[pos] === ",") {
        pos += 1;
        continue;
      }
      if (text[pos] === "]") {
        pos += 1;
        return arr;
      }
      fail("expecting ',' or ']'");
    }
  };

  // Python refuses a BOM at the start of a str (bytes are decoded with utf-8-sig first).
  if (text.charCodeAt(0) === 0xfeff) fail("unexpected byte order mark");
  skipWhitespace();
  const value = parseValue(0);
  skipWhitespace();
  if (pos !== text.length) fail("extra data");
  return value;
}

// -- helpers ------------------------------------------------------------------------------

// UTF-8 length as Python's str.encode("utf-8", "surrogatepass") counts it: a lone surrogate
// takes three bytes, a pair four.
export function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i += 1;
    } else bytes += 3;
  }
  return bytes;
}

function isLowSurrogate(c) {
  return c >= 0xdc00 && c <= 0xdfff;
}

// Length in code points, as Python's len(): a pair counts once, a lone surrogate once.
function codePointLength(text) {
  let n = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) i += 1;
    n += 1;
  }
  return n;
}

// The schema's top-level `stringRule`: no NUL and no unpaired surrogates.
function breaksStringRule(text) {
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      if (!isLowSurrogate(text.charCodeAt(i + 1))) return true;
      i += 1;
    } else if (isLowSurrogate(c)) return true;
  }
  return false;
}

// Field names in error messages are cut like Python's key[:40]; never echo whole values.
function fieldName(key) {
  return JSON.stringify(key.slice(0, 40));
}

function nullable(schema) {
  if (!Array.isArray(schema.anyOf)) return { inner: schema, optional: false };
  const inner = schema.anyOf.find((s) => s.type !== "null");
  return { inner, optional: schema.anyOf.some((s) => s.type === "null") };
}

function defineField(obj, key, value) {
  // defineProperty, so a field called "__proto__" can never reach the prototype chain.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

// -- validation (mirrors codec._build and codec._check_value) -------------------------------

class Validator {
  constructor(bundle) {
    this.stringRule = bundle.stringRule;
    this.channels = new Map();
    for (const [name, schema] of Object.entries(bundle)) {
      if (name === "stringRule") continue;
      const variants = new Map();
      for (const variant of schema.oneOf) variants.set(variant.properties.type.const, variant);
      const regexes = new Map();
      this.channels.set(name, { schema, variants, regexes, maxBytes: schema.maxBytes });
    }
  }

  channel(name) {
    const ch = this.channels.get(name);
    if (ch === undefined) throw new TypeError(`unknown channel ${name}`);
    return ch;
  }

  decode(raw, channelName) {
    const ch = this.channel(channelName);
    let text = raw;
    let size;
    if (typeof raw === "string") {
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

  fromTree(tree, ch) {
    if (!(tree instanceof Map)) throw new ProtocolError("malformed", "frame must be a JSON object");
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
    const message = {};
    defineField(message, "v", Number(version));
    defineField(message, "type", typeName);
    return this.buildObject(variant, body, "", ch, message, new Set(["v", "type"]));
  }

  buildObject(schema, body, path, ch, out = {}, skip = new Set()) {
    const props = schema.properties;
    for (const key of body.keys()) {
      if (!Object.hasOwn(props, key) || skip.has(key)) {
        throw new ProtocolError("unknown_field", `unknown field ${path}${fieldName(key)}`, path + key);
      }
    }
    const required = schema.required.filter((k) => !skip.has(k));
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
      defineField(out, name, this.checkValue(inner, value, path + name, ch));
    }
    return out;
  }

  checkValue(schema, value, path, ch) {
    const wrong = (what) => new ProtocolError("wrong_type", `${path} must be ${what}`, path);
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
        return value.map((item, i) => this.checkValue(schema.items, item, `${path}[${i}]`, ch));
      }
      case "object":
        if (!(value instanceof Map)) throw wrong("an object");
        return this.buildObject(schema, value, `${path}.`, ch);
      default:
        // A schema feature this module does not know: a bug to fix here, not bad input.
        throw new TypeError(`unsupported schema at ${path}: ${JSON.stringify(schema)}`);
    }
  }

  regex(pattern, ch) {
    let re = ch.regexes.get(pattern);
    if (re === undefined) {
      re = new RegExp(pattern, "u");
      ch.regexes.set(pattern, re);
    }
    return re;
  }
}

function checkRange(value, schema, invalid) {
  // Compare exactly: BigInt against BigInt for integers, so 2**53 is not rounded into range.
  const big = typeof value === "bigint";
  const asType = (bound) => (big ? BigInt(bound) : bound);
  if (schema.minimum !== undefined && value < asType(schema.minimum)) {
    throw invalid(`must be at least ${schema.minimum}`);
  }
  if (schema.maximum !== undefined && value > asType(schema.maximum)) {
    throw invalid(`must be at most ${schema.maximum}`);
  }
}

// Like codec._to_obj: drop absent optional fields (null/undefined) before serialising.
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
  constructor(bundle) {
    this.validator = new Validator(bundle);
  }

  /**
   * Parse and validate one frame (string, ArrayBuffer or Uint8Array).
   * Returns the message as a plain object; throws ProtocolError.
   */
  decode(raw, channel = "signalling") {
    return this.validator.decode(raw, channel);
  }

  /**
   * Serialise a message ({type, ...fields}); validated first so we never send what the
   * other side would refuse. Throws ProtocolError.
   */
  encode(message, channel = "signalling") {
    const { v: _ignored, ...fields } = plain(message);
    const text = JSON.stringify({ v: PROTOCOL_VERSION, ...fields });
    this.decode(text, channel);
    return text;
  }

  /** The message type names of a channel, for tests and diagnostics. */
  types(channel = "signalling") {
    return [...this.validator.channel(channel).variants.keys()];
  }
}

/** Fetch the schema and build a Protocol. */
export async function loadProtocol(url = "/static/protocol.schema.json") {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`could not load the protocol schema (${response.status})`);
  return new Protocol(await response.json());
}
