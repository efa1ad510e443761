import { foldCase } from './fold-case';

/**
 * Cardholder data (PCI DSS): primary account numbers, card verification codes and bank account
 * numbers. Whatever this service relays, stores or logs passes through here: card and account numbers
 * come out masked to their last four digits, verification codes not at all. Detection errs on the
 * side of masking: a long number that happens to pass the Luhn check is masked too.
 */

/** What may separate the digit groups of a number someone typed: spaces, dots, commas, dashes, slashes … */
const SEPARATOR_CHARS = String.raw`[\s\u00a0._,:/+-]`;
/** … up to three of them between two digits. */
const SEPARATOR = String.raw`(?:%20|${SEPARATOR_CHARS}){0,3}`;
const SEPARATORS = new RegExp(SEPARATOR_CHARS, 'g');

/** The digits of a number however it was grouped (`4111 1111-1111.1111` → `4111111111111111`); other characters stay. */
export function withoutSeparators(text: string): string {
  return text.replace(SEPARATORS, '');
}

/** 13 or more digits, possibly grouped by separators. */
const DIGIT_RUN = new RegExp(String.raw`\d(?:${SEPARATOR}\d){12,}`, 'g');

/** Field names (lower case, letters and digits only) whose value is a card verification code, or a PIN. */
const VERIFICATION_CODE_KEY =
  /^(card)?(cvv|cvc|cvn|cvd|csc|cav|cid|cv|csv)\d?(value|code|number|num|no|nr|data)?$|^(card)?(security|verification)(value|code|number)$|^cardcode$|^(card)?pin(code|number|block|value)?$/;

/** Field names whose value is a bank account number (a routing number names a bank, not an account). */
const ACCOUNT_NUMBER_KEY = /account|acct|iban|bban|kontonummer|^dda|^acc(no|nr|nbr|num|number)$|^(checking|savings)(account)?(number|num|no|nr)?$/;

/** Objects whose number field is an account number: `BankAccount.Number`, `ACH.Number`, `Checking.No`. */
const ACCOUNT_OBJECT_KEY = /account|acct|iban|^ach|^dda|checking|savings/;
const NUMBER_KEY = /^(number|num|no|nr|nbr)$/;

/** A verification code written in free text after its name: `"Cvv":"123"`, `cvv=123`, `CVV 123 does not match`. */
const VERIFICATION_CODE_IN_TEXT = /\b(cvv\d?|cvc\d?|cvn|cvd|csc|security code|verification code|card code)\b(\W{0,6})\d{3,4}\b/gi;

/** An account number written in free text after its name: `acct 4218525472384`, `account: 446-674-336`. */
const ACCOUNT_NUMBER_IN_TEXT = new RegExp(String.raw`\b(account|acct|a\/c|iban|dda)\b(\W{0,6}(?:no\.?|number|nr|#)?\W{0,3})(\d(?:${SEPARATOR}\d){4,33})`, 'gi');

function normalisedKey(key: string): string {
  return foldCase(key).replace(/[^a-z0-9]/g, '');
}

export function isVerificationCodeKey(key: string): boolean {
  return VERIFICATION_CODE_KEY.test(normalisedKey(key));
}

/** True for a field holding a bank account number: by its name, or a number field of an account object (`parent`). */
export function isAccountNumberKey(key: string, parent = ''): boolean {
  const normalised = normalisedKey(key);
  const parentName = normalisedKey(parent);
  if (normalised.includes('routing') || parentName.includes('routing')) return false;
  return ACCOUNT_NUMBER_KEY.test(normalised) || (NUMBER_KEY.test(normalised) && ACCOUNT_OBJECT_KEY.test(parentName));
}

/** True for `digits` (digits only) passing the Luhn check. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return sum % 10 === 0;
}

/** True when some window of `digits` (digits only), `shortest` to 19 long, passes the Luhn check: it may be a card number. */
export function holdsCardNumber(digits: string, shortest = 13): boolean {
  for (let length = shortest; length <= Math.min(19, digits.length); length += 1) {
    for (let start = 0; start + length <= digits.length; start += 1) if (passesLuhn(digits.slice(start, start + length))) return true;
  }
  return false;
}

/** `digits` as a receipt shows it: X for all but the last four. */
export function lastFour(digits: string): string {
  return digits.length <= 4 ? 'X'.repeat(digits.length) : `${'X'.repeat(digits.length - 4)}${digits.slice(-4)}`;
}

/** Card lengths in the order a masked window is chosen when several would pass the Luhn check. */
const LENGTH_PREFERENCE = [16, 15, 13, 19, 14, 18, 17];

/**
 * A run of digit groups with its card numbers masked. Cards are looked for as whole groups first
 * (`4111 1111 1111 1111 0` masks the first four groups and keeps the `0`); a run where no whole groups
 * make a card number but some window of digits does is masked whole.
 */
function maskRun(run: string): string {
  // %20 is a separator, not the digits 2 and 0: blank it out (same length, so positions still match).
  const groups = [...run.replace(/%20/g, '   ').matchAll(/\d+/g)].map((match) => ({
    digits: match[0],
    start: match.index,
    end: match.index + match[0].length,
  }));
  let best: { from: number; to: number; digits: string; rank: number } | null = null;
  for (let first = 0; first < groups.length; first += 1) {
    let digits = '';
    for (let last = first; last < groups.length && digits.length < 19; last += 1) {
      digits += groups[last]?.digits ?? '';
      const rank = LENGTH_PREFERENCE.indexOf(digits.length);
      if (rank < 0 || !passesLuhn(digits) || (best && best.rank <= rank)) continue;
      best = { from: groups[first]?.start ?? 0, to: groups[last]?.end ?? run.length, digits, rank };
    }
  }
  if (best) return `${maskCardNumbers(run.slice(0, best.from))}${lastFour(best.digits)}${maskCardNumbers(run.slice(best.to))}`;
  const digits = run.replace(/%20/g, '').replace(/\D/g, '');
  return holdsCardNumber(digits) ? lastFour(digits) : run;
}

/**
 * `text` with every card number (13-19 digits passing the Luhn check, grouped by spaces, dots, dashes,
 * slashes, underscores, colons, plus signs or %20) masked to its last four digits. For free text and
 * body values; invoice ids are checked by their own allow-list instead.
 */
export function maskCardNumbers(text: string): string {
  return text.replace(DIGIT_RUN, maskRun);
}

/** True when `text` carries something that may be a card number (see maskCardNumbers). */
export function mayHoldCardNumber(text: string): boolean {
  for (const match of text.matchAll(DIGIT_RUN)) if (holdsCardNumber(match[0].replace(/%20/g, '').replace(/\D/g, ''))) return true;
  return false;
}

/** `text` with verification codes and account numbers written after their names removed or masked. */
export function scrubNamedNumbers(text: string): string {
  return text
    .replace(VERIFICATION_CODE_IN_TEXT, '$1$2')
    .replace(ACCOUNT_NUMBER_IN_TEXT, (_match, name: string, gap: string, number: string) => `${name}${gap}${lastFour(number.replace(/\D/g, ''))}`);
}

/**
 * The payment instrument of a pay body as a receipt shows it: `card XXXXXXXXXXXX1111` or
 * `account XXXXX4336` (the first card number found, else the first account number), or null.
 */
export function maskedInstrument(body: unknown): string | null {
  let account: string | null = null;
  const visit = (value: unknown, key: string, parent: string, depth: number): string | null => {
    if (depth > 64) return null;
    if (typeof value === 'string' || typeof value === 'number') {
      const digits = withoutSeparators(String(value));
      const isAccount = isAccountNumberKey(key, parent);
      if (/^\d{13,19}$/.test(digits) && passesLuhn(digits) && !isAccount) return `card ${lastFour(digits)}`;
      if (account === null && isAccount && /^\d{5,34}$/.test(digits)) account = `account ${lastFour(digits)}`;
      return null;
    }
    if (typeof value !== 'object' || value === null) return null;
    const children = Array.isArray(value)
      ? value.map((item: unknown) => [key, item, parent] as const)
      : Object.entries(value).map(([k, v]) => [k, v, key] as const);
    for (const [childKey, child, childParent] of children) {
      const found = visit(child, childKey, childParent, depth + 1);
      if (found) return found;
    }
    return null;
  };
  return visit(body, '', '', 0) ?? account;
}

/** A pattern matching `digits` however it is grouped. */
function groupedPattern(digits: string): RegExp {
  return new RegExp(digits.split('').join(SEPARATOR), 'g');
}

/**
 * The cardholder data one pay request carries, wherever it sits in the body: card numbers (by Luhn),
 * bank account numbers and verification codes (by field name). An answer that echoes any of them —
 * iCG's RawRequest, or an extra field that copies part of the request — is scrubbed by value, so an
 * account number under an unforeseen field name, or regrouped, is caught too.
 */
export class SensitiveValues {
  /** Digit strings to mask to their last four wherever they appear, however grouped. */
  readonly #numbers = new Map<string, RegExp>();
  /** Verification codes: dropped as whole values, removed as whole words from text. */
  readonly #codes = new Set<string>();

  static none(): SensitiveValues {
    return new SensitiveValues();
  }

  /** Collects from a parsed JSON body (bounded depth: the body passed validation). */
  static of(body: unknown): SensitiveValues {
    const found = new SensitiveValues();
    found.#collect(body, '', '', 0);
    return found;
  }

  /** True when `value` (a whole leaf) is a verification code the request carried. */
  isVerificationCode(value: string | number): boolean {
    return this.#codes.has(String(value).trim());
  }

  /**
   * `text` with card numbers masked, verification codes and account numbers written after their names
   * scrubbed, and every number the request carried masked (codes removed) wherever it appears.
   */
  scrub(text: string): string {
    return this.scrubEchoes(scrubNamedNumbers(maskCardNumbers(text)));
  }

  /** `text` with every number the request carried masked and its verification codes removed: nothing else touched. */
  scrubEchoes(text: string): string {
    let out = text;
    for (const [digits, pattern] of this.#numbers) out = out.replace(pattern, lastFour(digits));
    for (const code of this.#codes) if (out.includes(code)) out = out.replace(new RegExp(String.raw`\b${code}\b`, 'g'), '');
    return out;
  }

  #collect(value: unknown, key: string, parent: string, depth: number): void {
    if (depth > 64) return;
    if (typeof value === 'string' || typeof value === 'number') {
      const text = String(value).trim();
      const digits = withoutSeparators(text);
      if (isVerificationCodeKey(key)) {
        if (/^\d{3,4}$/.test(digits)) this.#codes.add(digits);
      } else if (isAccountNumberKey(key, parent) && /^\d{5,34}$/.test(digits)) {
        this.#numbers.set(digits, groupedPattern(digits));
      } else if (/^\d{13,19}$/.test(digits) && passesLuhn(digits)) {
        this.#numbers.set(digits, groupedPattern(digits));
      }
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) for (const item of value) this.#collect(item, key, parent, depth + 1);
    else for (const [childKey, child] of Object.entries(value)) this.#collect(child, childKey, key, depth + 1);
  }
}
