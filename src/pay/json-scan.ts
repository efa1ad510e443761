import type { FieldError } from '../errors';
import { foldCase } from '../fold-case';

/** Deeper JSON than any payment needs; the scanner stops there (the input is hostile). */
export const MAX_JSON_DEPTH = 32;

/** What the scan of a JSON text found: the raw text of each top-level number, by lower-cased field name. */
export interface JsonScan {
  readonly topLevelNumbers: ReadonlyMap<string, string>;
}

class ScanError extends Error {
  constructor(readonly problem: FieldError) {
    super(problem.detail);
  }
}

/** RFC 6901 escaping for a JSON pointer segment. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

/**
 * Checks a JSON text the way a strict reader must before its bytes are forwarded: valid JSON whose top
 * level is an object, nesting at most MAX_JSON_DEPTH deep, and no object with a key repeated in any
 * letter case at any depth (iCG binds names case-insensitively, so `{"Amount":1,"amount":2}` would be
 * read one way here and maybe another there). Keeps the raw text of top-level numbers, so a value such
 * as `Amount` can be checked as written, before any float rounding.
 * Returns the scan, or a FieldError saying where the text is wrong.
 */
export function scanJson(text: string): JsonScan | FieldError {
  const topLevelNumbers = new Map<string, string>();
  let at = 0;

  const fail = (pointer: string, detail: string): never => {
    throw new ScanError({ pointer, detail });
  };
  const skipWhitespace = () => {
    WHITESPACE.lastIndex = at;
    WHITESPACE.exec(text);
    at = WHITESPACE.lastIndex;
  };
  const readString = (pointer: string): string => {
    // at points at the opening quote
    let out = '';
    at += 1;
    for (;;) {
      const char = text[at];
      if (char === undefined) return fail(pointer, 'is not valid JSON: a string is not closed');
      if (char === '"') {
        at += 1;
        return out;
      }
      if (char === '\\') {
        const escape = text[at + 1];
        if (escape === 'u') {
          const hex = text.slice(at + 2, at + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail(pointer, 'is not valid JSON: a bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          at += 6;
          continue;
        }
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        const decoded = escape === undefined ? undefined : simple[escape];
        if (decoded === undefined) return fail(pointer, 'is not valid JSON: a bad escape');
        out += decoded;
        at += 2;
        continue;
      }
      if (char < ' ') fail(pointer, 'is not valid JSON: a control character inside a string');
      out += char;
      at += 1;
    }
  };
  const readValue = (pointer: string, depth: number): string | null => {
    skipWhitespace();
    const char = text[at];
    if (char === '{' || char === '[') {
      if (depth >= MAX_JSON_DEPTH) fail(pointer, `must not nest deeper than ${MAX_JSON_DEPTH} levels`);
      if (char === '{') readObject(pointer, depth + 1);
      else readArray(pointer, depth + 1);
      return null;
    }
    if (char === '"') {
      readString(pointer);
      return null;
    }
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (number) {
      at = NUMBER.lastIndex;
      return number[0];
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, at)) {
        at += literal.length;
        return null;
      }
    }
    return fail(pointer, 'is not valid JSON');
  };
  const readObject = (pointer: string, depth: number) => {
    at += 1;
    const seen = new Map<string, string>();
    skipWhitespace();
    if (text[at] === '}') {
      at += 1;
      return;
    }
    for (;;) {
      skipWhitespace();
      if (text[at] !== '"') fail(pointer, 'is not valid JSON: expected a field name');
      const key = readString(pointer);
      const childPointer = `${pointer}/${escapePointer(key)}`;
      const earlier = seen.get(foldCase(key));
      if (earlier !== undefined) fail(childPointer, `repeats the field "${shorten(earlier)}" (names are case-insensitive): send each field once`);
      seen.set(foldCase(key), key);
      skipWhitespace();
      if (text[at] !== ':') fail(childPointer, 'is not valid JSON: expected ":"');
      at += 1;
      const number = readValue(childPointer, depth);
      if (depth === 1 && number !== null) topLevelNumbers.set(foldCase(key), number);
      skipWhitespace();
      if (text[at] === ',') {
        at += 1;
        continue;
      }
      if (text[at] === '}') {
        at += 1;
        return;
      }
      fail(pointer, 'is not valid JSON: expected "," or "}"');
    }
  };
  const readArray = (pointer: string, depth: number) => {
    at += 1;
    skipWhitespace();
    if (text[at] === ']') {
      at += 1;
      return;
    }
    for (let index = 0; ; index += 1) {
      readValue(`${pointer}/${index}`, depth);
      skipWhitespace();
      if (text[at] === ',') {
        at += 1;
        continue;
      }
      if (text[at] === ']') {
        at += 1;
        return;
      }
      fail(pointer, 'is not valid JSON: expected "," or "]"');
    }
  };

  try {
    skipWhitespace();
    if (text[at] !== '{') return { pointer: '', detail: 'must be a JSON object' };
    readObject('', 1);
    skipWhitespace();
    if (at !== text.length) return { pointer: '', detail: 'is not valid JSON: text after the object' };
    return { topLevelNumbers };
  } catch (error) {
    if (error instanceof ScanError) return error.problem;
    throw error;
  }
}

/** Field names are caller input: keep them short in our messages. */
function shorten(value: string): string {
  return value.length > 64 ? `${value.slice(0, 64)}…` : value;
}
