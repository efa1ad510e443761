import { createHash } from 'node:crypto';

/**
 * A digest of what a pay asks for: the invoice id and the body with object keys sorted, so the same
 * request sent again (even re-serialised by another client library) matches, and any change of
 * invoice, amount or card does not. It is stored instead of the body: no card data at rest.
 */
export function requestFingerprint(invoiceId: string, body: unknown): string {
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
