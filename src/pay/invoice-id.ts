import { InvalidRequest } from '../errors';

/**
 * Invoice ids iCG uses are numbers or GUID-like strings: an allow-list, checked before anything else.
 * The validation and the OpenAPI document both read it from here.
 */
export const INVOICE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The answer to any unacceptable invoice id, including one the router could not percent-decode. */
export function invalidInvoiceId(): InvalidRequest {
  return new InvalidRequest('The invoice id must be 1-64 letters, digits, "-" or "_"', [
    { pointer: '/invoiceId', detail: `must match ${INVOICE_ID_PATTERN.source}` },
  ]);
}

/** Throws InvalidRequest unless `value` is an acceptable invoice id. */
export function parseInvoiceId(value: unknown): string {
  if (typeof value !== 'string' || !INVOICE_ID_PATTERN.test(value)) throw invalidInvoiceId();
  return value;
}
