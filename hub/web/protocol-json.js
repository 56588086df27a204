// JSON text as Python reads it, for protocol.js: json.loads semantics, and string lengths.
//
// JSON is parsed by a small parser of our own rather than JSON.parse, because the codec
// (protocol/codec.py) tells integers from floats by their spelling (`1` vs `1.0` or `1e0`),
// compares big integers exactly, and, like Python, refuses integers of more than 4300 digits.

// Python raises RecursionError near a depth of 1000; messages nest at most four levels, so a
// lower bound here costs nothing and keeps our recursive parser well inside the JS stack.
const MAX_DEPTH = 500;
// CPython's default limit for int(str) (sys.int_info.default_max_str_digits).
const MAX_INT_DIGITS = 4300;

/** A JSON number written with a fraction or exponent: Python's json gives a float for it. */
export class JsonFloat {
  /** @param {number} value */
  constructor(value) {
    this.value = value;
  }
}

/**
 * A parsed JSON value: objects are JsonObjects, integers BigInts, other numbers JsonFloat. An
 * array's items are JsonValues too (typed unknown: a JSDoc typedef cannot name itself there).
 * @typedef {string | boolean | null | bigint | JsonFloat | unknown[] | JsonObject} JsonValue
 */

/**
 * A JSON object: keys in first-seen order, the last value of a repeated key wins (a Python
 * dict). A class rather than a plain Map, so the JsonValue type can refer to itself.
 * @extends {Map<string, JsonValue>}
 */
export class JsonObject extends Map {}

/** Text that is not JSON (the message says what and where). */
export class JsonSyntaxError extends Error {}

const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/**
 * Parse JSON text into a tree where objects are Maps (keys in first-seen order, last value
 * wins, as in a Python dict), integers are BigInts and other numbers JsonFloat. Throws
 * JsonSyntaxError (or RangeError, for a BigInt the engine cannot make).
 * @param {string} text
 * @returns {JsonValue}
 */
export function parseJson(text) {
  let pos = 0;

  /**
   * @param {string} what
   * @returns {never}
   */
  const fail = (what) => {
    throw new JsonSyntaxError(`${what} at offset ${pos}`);
  };
  const skipWhitespace = () => {
    while (pos < text.length && WHITESPACE.has(text[pos])) pos += 1;
  };

  /** @returns {string} */
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
          out += ESCAPES[/** @type {keyof typeof ESCAPES} */ (esc)];
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

  /** @returns {bigint | JsonFloat} */
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

  /**
   * @param {number} depth
   * @returns {JsonValue}
   */
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

  /**
   * @param {number} depth
   * @returns {JsonObject}
   */
  const parseObject = (depth) => {
    pos += 1;
    const obj = new JsonObject();
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

  /**
   * @param {number} depth
   * @returns {unknown[]}
   */
  const parseArray = (depth) => {
    pos += 1;
    /** @type {JsonValue[]} */
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

// -- strings as Python counts them ---------------------------------------------------------

/**
 * UTF-8 length as Python's str.encode("utf-8", "surrogatepass") counts it: a lone surrogate
 * takes three bytes, a pair four.
 * @param {string} text
 */
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

/** @param {number} c a UTF-16 code unit (NaN past the end) */
function isLowSurrogate(c) {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * Length in code points, as Python's len(): a pair counts once, a lone surrogate once.
 * @param {string} text
 */
export function codePointLength(text) {
  let n = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) i += 1;
    n += 1;
  }
  return n;
}

/**
 * The schema's top-level `stringRule`: no NUL and no unpaired surrogates.
 * @param {string} text
 */
export function breaksStringRule(text) {
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
