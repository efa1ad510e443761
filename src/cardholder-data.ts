/**
 * Cardholder data (PCI DSS): primary account numbers, card verification codes and bank account
 * numbers. Whatever this service relays, stores or logs passes through here: card and account numbers
 * come out masked to their last four digits, verification codes not at all.
 */

/** 13 or more digits, possibly grouped by a space (also URL-encoded), a dash or a plus. */
const DIGIT_RUN = /\d(?:(?:[ +-]|%20)?\d){12,}/g;
const SEPARATORS = /%20|[ +-]/g;

/** Field names whose value is a card verification code (CVV2, CVC2, CID…): never kept, never relayed. */
const VERIFICATION_CODE_KEY = /^(cvv\d?|cvc\d?|cvn|cid|csc|cav\d?|securitycode|card_?security_?code|card_?verification(_?(value|code))?)$/i;

/** A verification code written in free text after its name (`"Cvv":"123"`, `cvv=123`, `CVC2: 1234`): what an echoed raw request holds. */
const VERIFICATION_CODE_IN_TEXT = /(cvv\d?|cvc\d?|cvn|csc|security_?code)(\\?["']?\s*[:=]\s*\\?["']?)\d{3,4}/gi;

/** Field names whose value is a bank account number (not a routing number: that one names a bank). */
const ACCOUNT_NUMBER_KEY = /(account|acct)(_?(number|no|num))?$|^iban$|^bban$|^dda(_?(number|account))?$/i;

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

/** True when some 13-19-digit window of `digits` (digits only) passes the Luhn check: it may be a card number. */
export function holdsCardNumber(digits: string): boolean {
  for (let length = 13; length <= Math.min(19, digits.length); length += 1) {
    for (let start = 0; start + length <= digits.length; start += 1) if (passesLuhn(digits.slice(start, start + length))) return true;
  }
  return false;
}

/** `digits` as a receipt shows it: X for all but the last four. */
export function lastFour(digits: string): string {
  return digits.length <= 4 ? 'X'.repeat(digits.length) : `${'X'.repeat(digits.length - 4)}${digits.slice(-4)}`;
}

/**
 * `text` with every run of digits that holds a card number (13-19 digits passing the Luhn check,
 * anywhere in the run, grouped by spaces, dashes, plus signs or %20) masked to its last four digits.
 * For free text and body values; invoice ids are checked by their own allow-list instead.
 */
export function maskCardNumbers(text: string): string {
  return text.replace(DIGIT_RUN, (match) => {
    const digits = match.replace(SEPARATORS, '');
    return holdsCardNumber(digits) ? lastFour(digits) : match;
  });
}

/** True when `text` carries something that may be a card number (see maskCardNumbers). */
export function mayHoldCardNumber(text: string): boolean {
  for (const match of text.matchAll(DIGIT_RUN)) if (holdsCardNumber(match[0].replace(SEPARATORS, ''))) return true;
  return false;
}

export function isVerificationCodeKey(key: string): boolean {
  return VERIFICATION_CODE_KEY.test(key.replace(/[\s-]/g, ''));
}

export function isAccountNumberKey(key: string): boolean {
  return ACCOUNT_NUMBER_KEY.test(key.replace(/[\s-]/g, ''));
}

/**
 * The cardholder data one pay request carries, wherever it sits in the body: card numbers (by Luhn),
 * bank account numbers and verification codes (by field name). An answer that echoes any of them —
 * iCG's RawRequest, or an extra field that copies part of the request — is scrubbed by value, so an
 * account number under an unforeseen field name is caught too.
 */
export class SensitiveValues {
  /** Digit strings to mask to their last four wherever they appear. */
  readonly #numbers = new Set<string>();
  /** Whole string values to drop (verification codes). */
  readonly #codes = new Set<string>();

  static none(): SensitiveValues {
    return new SensitiveValues();
  }

  /** Collects from a parsed JSON body (bounded depth: the body passed validation). */
  static of(body: unknown): SensitiveValues {
    const found = new SensitiveValues();
    found.#collect(body, '', 0);
    return found;
  }

  get isEmpty(): boolean {
    return this.#numbers.size === 0 && this.#codes.size === 0;
  }

  /** True when `value` (a whole string leaf) is a verification code the request carried. */
  isVerificationCode(value: string): boolean {
    return this.#codes.has(value.trim());
  }

  /**
   * `text` with card numbers masked, verification codes written after their name removed, and every
   * number the request carried masked wherever it appears.
   */
  scrub(text: string): string {
    let out = maskCardNumbers(text).replace(VERIFICATION_CODE_IN_TEXT, '$1$2');
    for (const digits of this.#numbers) {
      if (!out.includes(digits)) continue;
      out = out.split(digits).join(lastFour(digits));
    }
    return out;
  }

  #collect(value: unknown, key: string, depth: number): void {
    if (depth > 64) return;
    if (typeof value === 'string' || typeof value === 'number') {
      const text = String(value);
      const digits = text.replace(/[\s-]/g, '');
      if (isVerificationCodeKey(key)) {
        if (text.trim() !== '') this.#codes.add(text.trim());
      } else if (isAccountNumberKey(key) && /^\d{5,34}$/.test(digits)) {
        this.#numbers.add(digits);
      } else if (/^\d{13,19}$/.test(digits) && passesLuhn(digits)) {
        this.#numbers.add(digits);
      }
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) for (const item of value) this.#collect(item, key, depth + 1);
    else for (const [childKey, child] of Object.entries(value)) this.#collect(child, childKey, depth + 1);
  }
}
