/**
 * Payments with a field of the wrong type: they must NOT type-check against the generated client.
 * Each `@ts-expect-error` marks the line whose error is expected (so the repo's own typecheck proves
 * the error is there); test/contract/typed-client.test.ts removes the markers, compiles this file
 * against freshly generated types and expects exactly these errors, on these lines.
 */
import { client } from './pay';

export async function amountAsText(): Promise<void> {
  await client.POST('/pay/{invoiceId}', {
    params: { path: { invoiceId: '112' } },
    body: {
      // @ts-expect-error -- Amount is a number, not text
      Amount: '12.50',
      Type: 'D',
    },
  });
}

export async function cardNumberAsNumber(): Promise<void> {
  await client.POST('/pay/{invoiceId}', {
    params: { path: { invoiceId: '112' } },
    body: {
      Amount: 12.5,
      Type: 'D',
      // @ts-expect-error -- CardNumber is text (its digits), not a number
      Method: { CardNumber: 4111111111111111, Expiration: '1229', Cvv: '123' },
    },
  });
}
