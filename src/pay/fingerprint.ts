import { createHash } from 'node:crypto';
import type { Keyring, KeyedDigest } from '../keyring';
import type { InvoiceId } from './invoice-id';
import type { PayBody } from './pay-body';

/**
 * What a pay asks for, keyed: an HMAC over the canonical invoice id and the body bytes as received,
 * so the same request sent again matches and any change of invoice, amount or card does not. It is
 * stored instead of the body, and without the key it reveals nothing (a plain hash of a body holding a
 * card number could be brute-forced from the card's first six and last four digits).
 */
export function requestFingerprint(keyring: Keyring, invoice: InvoiceId, body: PayBody): KeyedDigest {
  return keyring.sign('pay', invoice.canonical, body.bytes);
}

/**
 * Whether a stored fingerprint is this request's. Records from before keyed fingerprints hold a plain
 * SHA-256 of the invoice id as sent and the body with its keys sorted; they still replay.
 */
export function isSameRequest(stored: unknown, keyring: Keyring, invoice: InvoiceId, body: PayBody): boolean {
  if (typeof stored === 'string') return stored === legacyFingerprint(invoice.asSent, body.fields);
  if (typeof stored !== 'object' || stored === null) return false;
  const { kid, mac } = stored as Partial<KeyedDigest>;
  return typeof kid === 'string' && typeof mac === 'string' && keyring.verify({ kid, mac }, 'pay', invoice.canonical, body.bytes);
}

/** The fingerprint an earlier version stored: SHA-256 of the invoice id and the body with object keys sorted. */
export function legacyFingerprint(invoiceId: string, body: unknown): string {
  return createHash('sha256').update(invoiceId).update('\n').update(canonicalJson(body)).digest('hex');
}

/** JSON with object keys in sorted order at every depth. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, child]) => `${JSON.stringify(key)}:${canonicalJson(child)}`).join(',')}}`;
  }
  // Only parsed JSON reaches here, so every value has a JSON text.
  return JSON.stringify(value);
}
