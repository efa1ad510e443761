import { holdsCardNumber, passesLuhn } from '../cardholder-data';
import { InvalidRequest } from '../errors';

/**
 * Invoice ids iCG uses are numbers or GUID-like strings: an allow-list, checked before anything else.
 * The validation and the OpenAPI document both read it from here.
 */
export const INVOICE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** iCG's SDK declares the Pay invoice id a 32-bit int: an all-digit id above this names no invoice. */
export const MAX_NUMERIC_INVOICE_ID = 2_147_483_647;

const GUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** Runs of 15 or more digits, and card numbers written in their printed groups (4-4-4-4[-1..3], 4-6-4/5) with - or _. */
const DIGIT_RUN = /\d{15,}/g;
const GROUPED_CARD = /(?<!\d)(?:\d{4}([-_])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{4}([-_])\d{6}\2\d{4,5})(?!\d)/g;
/** Digit groups joined by `-` or `_`, however split (`4111-111111111111`, `41_11_11…`). */
const JOINED_DIGITS = /\d+(?:[-_]\d+)+/g;

/** A card number as issued: a known brand's prefix and length (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro, Mir). */
const ISSUED_CARD =
  /^(?:4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|(?:222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)\d{12}|3[47]\d{13}|(?:6011|65\d\d|64[4-9]\d)\d{12,15}|35(?:2[89]|[3-8]\d)\d{12,15}|3(?:0[0-5]|[68]\d)\d{11,16}|(?:62|67|50|5[6-8]|6[3-9]|220[0-4])\d{11,17})$/;

/**
 * True when `id` may hold a card number: a run of 15 or more digits with a 15-19-digit stretch that
 * passes the Luhn check, or a number in a card's printed groups that does. Shorter runs (a 13-digit
 * timestamp, dates) are left alone: they are what order ids are made of. A card number split by `-`
 * or `_` anywhere counts when the joined number is one as issued. GUIDs too: written with their
 * hyphens, about one random GUID in two thousand is refused; without them, one in four hundred
 * (their 32 hex digits hold long digit runs), so the refusal says to send the hyphens.
 */
function idHoldsCardNumber(id: string): boolean {
  if ([...id.matchAll(DIGIT_RUN)].some(([run]) => holdsCardNumber(run, 15))) return true;
  if ([...id.matchAll(GROUPED_CARD)].some(([grouped]) => passesLuhn(grouped.replace(/[-_]/g, '')))) return true;
  // A card split anywhere else: the whole joined number must be one as issued (brand and length), so
  // dates and counters joined by dashes (`2026-11-26-0001234`) are left alone.
  return [...id.matchAll(JOINED_DIGITS)].some(([joined]) => {
    const digits = joined.replace(/[-_]/g, '');
    return ISSUED_CARD.test(digits) && passesLuhn(digits);
  });
}

/** An invoice id: as the client sent it (what is forwarded to iCG) and in its one canonical form (what everything keyed by invoice uses). */
export interface InvoiceId {
  readonly asSent: string;
  readonly canonical: string;
}

/** The answer to any unacceptable invoice id, including one the router could not percent-decode. */
export function invalidInvoiceId(detail = `must match ${INVOICE_ID_PATTERN.source}`): InvalidRequest {
  return new InvalidRequest('The invoice id must be 1-64 letters, digits, "-" or "_" (an all-digit id at most 2147483647), and hold no card number', [
    { pointer: '/invoiceId', detail },
  ]);
}

/**
 * The one form of an invoice id that locks, budgets, holds, fingerprints and logs use: iCG binds the
 * id as an integer (so `962`, `0962` and `00962` are one invoice) and GUIDs case-insensitively. All-digit
 * ids lose their leading zeros; GUIDs become lower case with hyphens (also when sent without); any other
 * id is kept as sent.
 */
export function canonicalInvoiceId(id: string): string {
  if (/^\d+$/.test(id)) return id.replace(/^0+(?=\d)/, '');
  if (GUID.test(id)) {
    const hex = id.replace(/-/g, '').toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  return id;
}

/**
 * Throws InvalidRequest unless `value` is an acceptable invoice id: the allow-list, for an all-digit
 * id iCG's int range, and no card number inside (invoice ids are logged and key Redis records).
 */
export function parseInvoiceId(value: unknown): InvoiceId {
  if (typeof value !== 'string' || !INVOICE_ID_PATTERN.test(value)) throw invalidInvoiceId();
  const canonical = canonicalInvoiceId(value);
  // iCG binds `-962` and `-0962` as one int, and no invoice number is negative.
  if (/^-\d+$/.test(value)) throw invalidInvoiceId('an invoice number is not negative');
  if (/^\d+$/.test(canonical) && (canonical.length > 10 || Number(canonical) > MAX_NUMERIC_INVOICE_ID))
    throw invalidInvoiceId(`an all-digit invoice id must be at most ${MAX_NUMERIC_INVOICE_ID} (iCG's invoice number is a 32-bit integer)`);
  if (idHoldsCardNumber(value))
    throw invalidInvoiceId(
      `must not hold a card number (it would be stored and logged with the invoice id)${GUID.test(value) && !value.includes('-') ? '; send a GUID with its hyphens' : ''}`,
    );
  return { asSent: value, canonical };
}
