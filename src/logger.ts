import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from './config';

export type { Logger } from 'pino';

/**
 * Field names (compared in lower case) whose values are censored wherever they appear in a log
 * record, at any depth. We never log headers, bodies or credentials on purpose; this list is the
 * second line of defence for a future log call that passes one by mistake.
 */
export const REDACTED_KEYS: ReadonlySet<string> = new Set([
  'authorization',
  'cookie',
  'set-cookie',
  'password',
  'token',
  'accesstoken',
  'access_token',
  'refreshtoken',
  'refresh_token',
  'client_secret',
  'headers',
  'body',
  'config',
  'cardnumber',
  'card_number',
  'accountnumber',
  'account_number',
  'routingnumber',
  'routing_number',
  'cvv',
]);

const CENSOR = '[redacted]';

/** 13 or more digits, possibly grouped by a space (also URL-encoded), a dash or a plus. */
const DIGIT_RUN = /\d(?:(?:[ +-]|%20)?\d){12,}/g;
const SEPARATORS = /%20|[ +-]/g;

/**
 * `text` with every run of digits that holds a card number (13-19 consecutive digits passing the
 * Luhn check, anywhere in the run) masked to its last four digits, as iCG displays cards. For values
 * that come from callers and are logged, such as the path: a caller who puts a card number in a URL
 * must not put it in our logs.
 */
export function maskCardNumbers(text: string): string {
  return text.replace(DIGIT_RUN, (match) => {
    const digits = match.replace(SEPARATORS, '');
    return holdsCardNumber(digits) ? `${'X'.repeat(digits.length - 4)}${digits.slice(-4)}` : match;
  });
}

function holdsCardNumber(digits: string): boolean {
  for (let length = 13; length <= Math.min(19, digits.length); length += 1) {
    for (let start = 0; start + length <= digits.length; start += 1) if (passesLuhn(digits.slice(start, start + length))) return true;
  }
  return false;
}

function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return sum % 10 === 0;
}
const MAX_DEPTH = 6;

/**
 * Returns `value` with every REDACTED_KEYS field censored. Copy-on-write: a record with nothing to
 * censor (every request line) is returned as it is, without allocating. pino's own path-based
 * `redact` option cost a sixth of all allocations in the benchmark, hence this.
 */
export function redactSensitive<T>(value: T, depth = 0): T {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH || value instanceof Error) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    value.forEach((item: unknown, index) => {
      const redacted = redactSensitive(item, depth + 1);
      if (redacted !== item) (copy ??= [...value])[index] = redacted;
    });
    return (copy ?? value) as T;
  }
  let copy: Record<string, unknown> | null = null;
  for (const [key, item] of Object.entries(value)) {
    const redacted = REDACTED_KEYS.has(key.toLowerCase()) ? CENSOR : redactSensitive(item, depth + 1);
    if (redacted !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = redacted;
  }
  return (copy ?? value) as T;
}

/**
 * The service's logger: JSON lines with redaction. Pretty output only in development (pino-pretty
 * is a devDependency, so production images never load it). `destination` lets tests capture lines.
 */
export function createLogger(config: Pick<Config, 'logLevel' | 'env'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    base: { service: 'icg-bff' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }), log: (record: Record<string, unknown>) => redactSensitive(record) },
  };
  if (destination) return pino(options, destination);
  if (config.env === 'development' && isInstalled('pino-pretty')) {
    return pino({ ...options, formatters: { log: options.formatters.log }, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(options);
}

function isInstalled(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * A gate that opens at most once per `intervalMs`: for warnings that would otherwise repeat on every
 * request while a dependency is down (the metrics count every occurrence; the log says it once).
 */
export function everyMs(intervalMs: number, now: () => number = Date.now): () => boolean {
  let last = -Infinity;
  return () => {
    const current = now();
    if (current - last < intervalMs) return false;
    last = current;
    return true;
  };
}
