/**
 * How a TypeScript frontend pays an invoice with the client generated from GET /openapi.json
 * (openapi-typescript + openapi-fetch). Type-checked, never run: test/contract/typed-client.test.ts
 * compiles it against freshly generated types, so a document change that breaks integrators fails
 * the tests.
 */
import createClient from 'openapi-fetch';
import type { components, paths } from '../generated/icg-bff';

type PayRequest = components['schemas']['PayRequest'];
type PayResponse = components['schemas']['PayResponse'];
type Problem = components['schemas']['Problem'];

const OUTCOME_UNKNOWN: Problem['type'] = 'tag:icg-bff,2026:problem:outcome-unknown';

export const client = createClient<paths>({ baseUrl: 'https://pay.shop.example' });

export type Paid =
  | { readonly kind: 'answered'; readonly answer: PayResponse | undefined; readonly replayed: boolean }
  | { readonly kind: 'outcome-unknown'; readonly requestId: string }
  | { readonly kind: 'failed'; readonly status: number; readonly message: string; readonly retryAfterSeconds: number | null };

/** One attempt: a new Idempotency-Key per payment, the same one for every retry of it. */
export async function pay(invoiceId: string, body: PayRequest, idempotencyKey: string): Promise<Paid> {
  const { data, error, response } = await client.POST('/pay/{invoiceId}', {
    params: { path: { invoiceId }, header: { 'Idempotency-Key': idempotencyKey } },
    body,
  });
  if (error === undefined) return { kind: 'answered', answer: data, replayed: response.headers.get('Idempotent-Replayed') === 'true' };
  const retryAfter = response.headers.get('Retry-After');
  // This service's own errors are problems; iCG's own 4xx answers are relayed as application/json.
  if (response.headers.get('Content-Type')?.startsWith('application/problem+json')) {
    const problem = error as Problem;
    if (problem.type === OUTCOME_UNKNOWN) return { kind: 'outcome-unknown', requestId: problem.requestId };
    return { kind: 'failed', status: problem.status, message: problem.detail, retryAfterSeconds: retryAfter === null ? null : Number(retryAfter) };
  }
  const relayed = error as components['schemas']['IcgError'];
  return { kind: 'failed', status: response.status, message: relayed.Message ?? relayed.StatusMessage ?? 'iCG refused the payment', retryAfterSeconds: null };
}

export function payWithCard(invoiceId: string, idempotencyKey: string): Promise<Paid> {
  return pay(
    invoiceId,
    {
      Amount: 12.5,
      Type: 'D',
      Description: 'Order 1001',
      Method: { CardNumber: '4111111111111111', Expiration: '1229', Cvv: '123' },
      Customer: { FirstName: 'Ada', LastName: 'Lovelace', Email: 'ada@shop.example' },
      Invoices: [{ Id: 112, Amount: 12.5 }],
    },
    idempotencyKey,
  );
}

export function payWithBankAccount(invoiceId: string, idempotencyKey: string): Promise<Paid> {
  return pay(invoiceId, { Amount: 99.99, Type: 'D', Method: { RoutingNumber: '083000056', AccountNumber: '446674336' } }, idempotencyKey);
}

/**
 * Pays with a card and, when the answer was lost or the outcome is unknown, retries the same attempt
 * with the same key: the service replays the first answer (`Idempotent-Replayed: true`) instead of
 * charging again.
 */
export async function payWithCardAndRetry(invoiceId: string, idempotencyKey: string): Promise<Paid> {
  const first = await payWithCard(invoiceId, idempotencyKey).catch(() => null);
  if (first !== null && first.kind !== 'outcome-unknown') return first;
  return payWithCard(invoiceId, idempotencyKey);
}

/** The operator side: the admin API on its own listener, with its bearer token. */
export async function unresolvedPayments(adminToken: string): Promise<string[]> {
  const admin = createClient<paths>({ baseUrl: 'http://127.0.0.1:9090', headers: { Authorization: `Bearer ${adminToken}` } });
  const { data } = await admin.GET('/admin/payments', { params: { query: { unresolved: 'true', outcome: 'unknown' } } });
  return (data?.payments ?? []).map((entry) => `${entry.id} ${entry.invoiceId} ${entry.amount} ${entry.outcome}`);
}
