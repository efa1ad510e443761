import type { IcgClient, PayAnswer } from './client';
import type { TokenManager } from './token-manager';

/**
 * Pays an invoice with the shared token. When iCG answers 401 the token is dropped (only if it is
 * still the stored one), a valid token is fetched and the pay is sent ONCE more: a 401 means iCG
 * refused the pay before acting on it, so this retry cannot charge twice. No other answer is retried.
 */
export async function payInvoice(client: IcgClient, tokens: TokenManager, invoiceId: string, body: unknown, requestId: string): Promise<PayAnswer> {
  const held = await tokens.getToken();
  const first = await client.payInvoice(invoiceId, body, held.token, requestId);
  if (first.status !== 401) return first;
  const refusedAt = await tokens.invalidate(held);
  const renewed = await tokens.getToken();
  const second = await client.payInvoice(invoiceId, body, renewed.token, requestId);
  if (second.status !== 401) return second;
  throw await tokens.refuse(renewed, refusedAt);
}
