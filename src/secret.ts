import { timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A value that must never reach a log line, an error message or a response.
 * Every way JavaScript turns an object into text (template strings, JSON, util.inspect,
 * pino's serializers) prints "[redacted]"; only `reveal()` hands out the value, so each
 * use of the real value is a deliberate, greppable call.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The real value, for the one place that must send it (a login form, a Redis connection). */
  reveal(): string {
    return this.#value;
  }

  /** True when both hold the same value, compared without revealing either to the caller. */
  equals(other: Secret): boolean {
    return this.#value === other.#value;
  }

  /** True when `offered` is this value, compared in constant time (for bearer tokens). */
  matches(offered: string): boolean {
    const a = Buffer.from(offered);
    const b = Buffer.from(this.#value);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
