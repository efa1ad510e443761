/** The sandbox's fault knobs: tests and the bench flip them at run time to play a misbehaving iCG; reset() restores the defaults. */
export interface SandboxFaults {
  tokenLifetimeSeconds: number;
  issueRefreshTokens: boolean;
  /** /Login's password grant answers 400 invalid_grant even for the right credentials. */
  rejectCredentials: boolean;
  loginDelayMs: number;
  /** Force /Login to answer this status with a JSON error body. */
  loginStatus: number | null;
  /** Delay before answering a pay. */
  payDelayMs: number;
  /** Never answer pays (close() still finishes promptly). */
  payHang: boolean;
  /** Force this status for pays, with a JSON `{"Message": ...}` body (5xx ones leak fake internals). */
  payStatus: number | null;
  /** Answer 401 to the next N pays even with a valid token (decremented each time). */
  payUnauthorizedCount: number;
  /** Answer pays with a text/html body (status 200, or payStatus when set). */
  payNonJson: boolean;
  /** Echo the pay request in the answer: RawRequest (the body text), RawResponse, and ExtraData (the parsed body), as a careless gateway might. */
  payEcho: boolean;
}

/** The fault values a sandbox starts with and returns to on reset(): no faults, the configured token policy. */
export function defaultFaults(tokenLifetimeSeconds: number, issueRefreshTokens: boolean): SandboxFaults {
  return {
    tokenLifetimeSeconds,
    issueRefreshTokens,
    rejectCredentials: false,
    loginDelayMs: 0,
    loginStatus: null,
    payDelayMs: 0,
    payHang: false,
    payStatus: null,
    payUnauthorizedCount: 0,
    payNonJson: false,
    payEcho: false,
  };
}

/** setTimeout's ceiling: a longer delay would silently fire after 1 ms. */
const MAX_DELAY_MS = 2_147_483_647;

interface Rule {
  readonly accepts: (value: unknown) => boolean;
  readonly expected: string;
}

const BOOLEAN: Rule = { accepts: (v) => typeof v === 'boolean', expected: 'a boolean' };
const DELAY: Rule = { accepts: (v) => typeof v === 'number' && v >= 0 && v <= MAX_DELAY_MS, expected: `a number of ms from 0 to ${MAX_DELAY_MS}` };
const STATUS: Rule = {
  accepts: (v) => v === null || (Number.isInteger(v) && typeof v === 'number' && v >= 200 && v <= 599),
  expected: 'null or an HTTP status from 200 to 599',
};

/** What the admin endpoint accepts for each fault: a typo or a wrong type is a 400, never a silent no-op. */
const RULES: Readonly<Record<keyof SandboxFaults, Rule>> = {
  tokenLifetimeSeconds: { accepts: (v) => typeof v === 'number' && Number.isFinite(v) && v > 0, expected: 'a positive number of seconds' },
  issueRefreshTokens: BOOLEAN,
  rejectCredentials: BOOLEAN,
  loginDelayMs: DELAY,
  loginStatus: STATUS,
  payDelayMs: DELAY,
  payHang: BOOLEAN,
  payStatus: STATUS,
  payUnauthorizedCount: { accepts: (v) => Number.isSafeInteger(v) && typeof v === 'number' && v >= 0, expected: 'a non-negative integer' },
  payNonJson: BOOLEAN,
  payEcho: BOOLEAN,
};

function isFaultName(key: string): key is keyof SandboxFaults {
  return Object.hasOwn(RULES, key);
}

/**
 * Merges a JSON patch (from POST /__sandbox/faults) into `faults`, all or nothing. Returns null on
 * success, else what was wrong, so out-of-process users (bench, curl) learn about typos at once.
 */
export function patchFaults(faults: SandboxFaults, patch: unknown): string | null {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return 'expected a JSON object of faults';
  const entries = Object.entries(patch);
  for (const [key, value] of entries) {
    if (!isFaultName(key)) return `unknown fault '${key}' (known: ${Object.keys(RULES).join(', ')})`;
    if (!RULES[key].accepts(value)) return `${key}: expected ${RULES[key].expected}`;
  }
  Object.assign(faults, Object.fromEntries(entries));
  return null;
}
