import type { Harness } from '../support/harness';
import { PayLoad } from '../support/pay-load';
import { waitFor } from '../support/wait';

/** What one failover cost, as docs/ha.md reports it. */
export interface FailoverNumbers {
  /** From the promotion to the first unkeyed pay sent after it that was paid. */
  readonly resumedAfterPromotionMs: number;
  /** From the master's death to the promotion. */
  readonly promotionAfterKillMs: number;
  /** Logins and refreshes at iCG from the kill to the end. */
  readonly logins: number;
  /** Unkeyed pays answered 503 from the kill to the resumption, and 503s keyed clients retried through. */
  readonly refusedUnkeyed: number;
  readonly refusedKeyed: number;
  /** Log lines of instances noticing possible data loss, and the answers they wrote back after it. */
  readonly lossNoticed: number;
  readonly answersWrittenBack: number;
  readonly payments: number;
  readonly payCalls: number;
  readonly maxPaysPerInvoice: number;
  readonly serverErrors: number;
}

/**
 * Runs keyed and unkeyed pays against every instance, makes the replica lag and kills the master
 * with pays in flight (`kill`), waits for the promotion (`isPromoted`), and measures what it cost.
 */
export async function failoverUnderLoad(
  h: Harness,
  runId: string,
  steps: { lag: () => Promise<void>; kill: () => Promise<void>; isPromoted: () => Promise<boolean> },
): Promise<FailoverNumbers> {
  h.icg.faults.payDelayMs = 800;
  const load = new PayLoad(
    h.services.map((s) => s.url),
    runId,
  );
  load.startUnkeyed(100);
  const keyed = load.keyedClients(30, 50);
  await waitFor(() => h.icg.stats.pays >= 10, 15_000, 'pays at iCG');
  // The replica falls behind, then the master dies with pays at iCG and answers only it had.
  await steps.lag();
  await waitFor(() => h.icg.stats.pays >= 20, 15_000, 'pays while the replica lags');
  const loginsBefore = h.icg.stats.logins + h.icg.stats.refreshes;
  const killedAt = Date.now();
  await steps.kill();
  await waitFor(steps.isPromoted, 30_000, 'the promotion', 100);
  const promotedAt = Date.now();
  await waitFor(() => load.firstPaidAfter(promotedAt) !== undefined, 30_000, 'an unkeyed pay paid after the promotion', 100);
  const resumed = load.firstPaidAfter(promotedAt);
  await load.stop();
  await keyed;
  const invoices = new Set(load.answers.map((a) => a.invoice));
  const records = h.logs.flatMap((log) => log.records());
  const paysPerInvoice = [...invoices].map((invoice) => h.icg.stats.paysByInvoice[invoice] ?? 0);
  return {
    resumedAfterPromotionMs: (resumed?.sentAt ?? promotedAt) - promotedAt,
    promotionAfterKillMs: promotedAt - killedAt,
    logins: h.icg.stats.logins + h.icg.stats.refreshes - loginsBefore,
    refusedUnkeyed: load.answers.filter(
      (a) => a.invoice.includes('-u-') && a.status === 503 && a.sentAt >= killedAt && a.sentAt <= (resumed?.sentAt ?? Infinity),
    ).length,
    refusedKeyed: load.refusals,
    lossNoticed: records.filter((r) => r['event'] === 'redis_data_lost').length,
    answersWrittenBack: records.filter((r) => r['event'] === 'records_republished').reduce((n, r) => n + Number(r['answers']), 0),
    payments: invoices.size,
    payCalls: h.icg.stats.pays,
    maxPaysPerInvoice: Math.max(...paysPerInvoice),
    serverErrors: load.answers.filter((a) => a.status >= 500 && a.status !== 503).length,
  };
}
