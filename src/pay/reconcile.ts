import type { Answer } from '../answer';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { IdempotencyStore } from './idempotency';
import type { InvoiceGuard } from './invoice-guard';
import type { Journal, JournalEntry, Resolution } from './journal';

export interface ReconcileDeps {
  readonly journal: Journal;
  readonly invoices: InvoiceGuard;
  readonly idempotency: IdempotencyStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** What a key whose payment an operator confirmed charged replays from then on. */
export function chargedAnswer(reference: string): Answer {
  return {
    status: 200,
    contentType: 'application/json',
    body: {
      Status: 'Approved',
      StatusMessage: "Charged: confirmed by the merchant's reconciliation after the payment's outcome was unknown",
      TransactionId: reference,
      Reconciled: true,
    },
  };
}

/**
 * An operator's resolution of an unknown outcome, after checking iCG's portal or reports (iCG offers no
 * status lookup): an audit entry is appended to the journal (nothing is deleted), the invoice's hold
 * ends, and the Idempotency-Key's stored answer is rewritten: `not_charged` frees the key, so a retry
 * with it pays; `charged` makes it replay an answer saying so. Each step can be repeated safely.
 */
export async function resolvePayment(deps: ReconcileDeps, id: string, resolution: Omit<Resolution, 'at'>): Promise<JournalEntry> {
  const entry = await deps.journal.resolve(id, resolution);
  await deps.invoices.endHold({ canonical: entry.invoiceId }, entry.id);
  if (entry.keyHash) {
    const rewritten = await deps.idempotency.resolve(entry.keyHash, entry.id, resolution.as === 'charged' ? chargedAnswer(resolution.reference ?? '') : null);
    if (!rewritten)
      deps.logger.warn(
        { event: 'payment_resolved_key_missing', payment: entry.id },
        'the payment had no finished Idempotency-Key record to rewrite (expired, or never stored)',
      );
  }
  deps.metrics.resolutions.inc({ as: resolution.as });
  return entry;
}
