import { randomBytes, randomInt, randomUUID } from 'node:crypto';

/** Test cards a payments platform documents for iCheckGateway: the only cards the sandbox approves. */
const TEST_CARDS: ReadonlyMap<string, string> = new Map([
  ['4111111111111111', 'Visa'],
  ['5454545454545454', 'MasterCard'],
  ['378282246310005', 'AmEx'],
  ['6011000990139424', 'Discover'],
]);

/** Test bank accounts (routing/account) the same notes document: the only ACH debits the sandbox approves. */
const TEST_ACCOUNTS: ReadonlySet<string> = new Set(['083000056/446674336', '083000108/115654668777']);

/** A pay body that passed validation, with the fields the answer needs. */
export interface PayRequest {
  readonly amount: number;
  /** undefined: no payment method given (the invoice is paid with what iCG has on file). */
  readonly method: unknown;
}

/** Either a valid request or ASP.NET Web API's 400 body for it. */
export type PayValidation = { readonly ok: true; readonly request: PayRequest } | { readonly ok: false; readonly body: Readonly<Record<string, unknown>> };

/** ASP.NET binds JSON property names case-insensitively (`amount` fills `Amount`); so does the sandbox. */
function property(body: Readonly<Record<string, unknown>>, name: string): unknown {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(body)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** ASP.NET Web API's model-validation answer: one message list per invalid property. */
function invalid(modelState: Record<string, string[]>): PayValidation {
  return { ok: false, body: { Message: 'The request is invalid.', ModelState: modelState } };
}

/** Checks what iCG's SDK marks required: a positive `Amount` and a non-empty `Type`. */
export function validatePay(body: unknown): PayValidation {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalid({ request: ['The request body must be a JSON object.'] });
  const record = body as Readonly<Record<string, unknown>>;
  const amount = property(record, 'Amount');
  const type = property(record, 'Type');
  const errors: Record<string, string[]> = {};
  if (amount === undefined || amount === null) errors['request.Amount'] = ['The Amount field is required.'];
  else if (typeof amount !== 'number' || !(amount > 0) || !Number.isFinite(amount))
    errors['request.Amount'] = ['The field Amount must be a number greater than 0.'];
  if (type === undefined || type === null || type === '') errors['request.Type'] = ['The Type field is required.'];
  else if (typeof type !== 'string') errors['request.Type'] = ['The field Type must be a string.'];
  if (typeof amount !== 'number' || Object.keys(errors).length > 0) return invalid(errors);
  return { ok: true, request: { amount, method: property(record, 'Method') ?? undefined } };
}

/** String fields of the payment method (nested up to three levels), keys lower-cased, spaces and dashes dropped from values. */
function methodFields(value: unknown, depth = 0, out: [string, string][] = []): [string, string][] {
  if (typeof value !== 'object' || value === null || depth > 2) return out;
  for (const [key, inner] of Object.entries(value)) {
    if (typeof inner === 'string') out.push([key.toLowerCase(), inner.replace(/[\s-]/g, '')]);
    else methodFields(inner, depth + 1, out);
  }
  return out;
}

const DIGITS = /^\d+$/;

function findDigits(fields: readonly [string, string][], matches: (key: string) => boolean): string | undefined {
  return fields.find(([key, value]) => matches(key) && DIGITS.test(value))?.[1];
}

/** Only the last four digits ever leave the sandbox, as on a real receipt. */
function mask(digits: string): string {
  return digits.length <= 4 ? 'X'.repeat(digits.length) : 'X'.repeat(digits.length - 4) + digits.slice(-4);
}

/** Card brands by leading digit, so a declined card still shows a plausible CardType. */
const BRANDS: Readonly<Record<string, string>> = { '3': 'AmEx', '4': 'Visa', '5': 'MasterCard', '6': 'Discover' };

function brandOf(card: string): string | null {
  return TEST_CARDS.get(card) ?? BRANDS[card.charAt(0)] ?? null;
}

interface Instrument {
  readonly approved: boolean;
  readonly display: string | null;
  readonly type: string | null;
}

/** Reads the payment method: a routing + account pair wins, else a card number, else nothing approvable. */
function instrumentOf(method: unknown): Instrument {
  if (method === undefined) return { approved: true, display: null, type: null };
  const fields = methodFields(method);
  const routing = findDigits(fields, (key) => key.includes('routing'));
  const account = findDigits(fields, (key) => key.includes('account') && !key.includes('routing'));
  if (routing !== undefined && account !== undefined) return { approved: TEST_ACCOUNTS.has(`${routing}/${account}`), display: mask(account), type: 'ACH' };
  const card = findDigits(fields, (key) => key.includes('number') && !key.includes('routing') && !key.includes('account'));
  if (card !== undefined) return { approved: TEST_CARDS.has(card), display: mask(card), type: brandOf(card) };
  return { approved: false, display: null, type: null };
}

/**
 * iCG's ProcessResponse for a validated pay: Approved for a test card, a test bank account or no
 * method at all (paid on file), else Declined, still HTTP 200 as iCG reports declines. Full card and
 * account numbers are never echoed, so the proxy's redaction tests can look for them anywhere.
 */
export function settlePay(request: PayRequest, invoiceId: string, now = Date.now()): Record<string, unknown> {
  const instrument = instrumentOf(request.method);
  return {
    TransactionId: randomUUID(),
    Status: instrument.approved ? 'Approved' : 'Declined',
    StatusMessage: instrument.approved ? 'Approved' : 'Declined by issuer',
    ConfirmationCode: instrument.approved ? randomBytes(5).toString('hex').toUpperCase() : null,
    ApprovalCode: instrument.approved ? String(randomInt(100_000, 1_000_000)) : null,
    TransactionAmount: request.amount,
    TransactionDate: new Date(now).toISOString(),
    CardDisplay: instrument.display,
    CardType: instrument.type,
    CvcResponse: instrument.approved ? 'M' : null,
    AvsResponse: instrument.approved ? 'Y' : null,
    ReferenceNumber: invoiceId,
    ErrorData: instrument.approved ? null : { Code: '05', Message: 'Do not honor' },
    ExtraData: null,
  };
}
