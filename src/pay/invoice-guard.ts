import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock';
import { Conflict, InvoiceHeld, ServiceUnavailable } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { dataLossRefusal, type DataLossGuard } from '../state/data-loss';
import type { LandingWrites } from '../state/landing-writes';
import type { RedisTrouble } from '../state/redis-trouble';
import { StateFull, type BeginResult, type InvoiceKeys, type SharedState } from '../state/shared-state';
import type { InvoiceId } from './invoice-id';
import { RecentWrites } from './recent-writes';

/** Why an invoice is held, as stored under its hold key. */
interface HoldRecord {
  readonly payment: string;
  readonly requestId: string;
  /** pending: the pay is (or was, if its instance died) at iCG; unknown: it ended without a known outcome. */
  readonly state: 'pending' | 'unknown';
  readonly since: number;
  readonly until: number;
}

/** One pay of an invoice, between its start and its outcome. */
export interface InvoicePay {
  /**
   * Ends the pay: the lock is released; an outcome that may have charged holds the invoice (other
   * attempts get 409) for the hold time or until an operator resolves it; a known outcome ends the
   * pending hold. Re-sent until it lands.
   */
  settle(outcome: 'known' | 'unknown'): Promise<void>;
  /** Nothing was sent to iCG: lock and pending hold go. */
  abandon(): Promise<void>;
}

export function invoiceKeys(invoice: Pick<InvoiceId, 'canonical'>): InvoiceKeys {
  // One hash tag per invoice: the lock and the hold live on one Redis Cluster slot, so one script takes both.
  return { lock: `pay-lock:{${invoice.canonical}}`, hold: `invoice-hold:{${invoice.canonical}}` };
}

export interface InvoiceGuardOptions {
  readonly shared: SharedState;
  /** The in-process fallback (REDIS_DOWN_MODE=local), bounded. */
  readonly local: SharedState;
  readonly downMode: 'refuse' | 'local';
  /** The lock outlives the longest a pay can take. */
  readonly lockTtlMs: number;
  /** How long an unknown outcome holds the invoice (0: no hold). */
  readonly holdMs: number;
  readonly dataLoss: DataLossGuard | null;
  readonly landing: LandingWrites;
  readonly trouble: RedisTrouble;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: Clock;
}

/**
 * One pay per invoice at a time across all instances (double clicks, two tabs, two pods), keyed by
 * the canonical invoice id; and after a pay whose outcome is unknown, no other pay of that invoice
 * until the hold ends. The hold is written before the pay is forwarded (as `pending`, outliving the
 * lock), so an instance that dies mid-pay leaves the invoice held too. While Redis is unreachable the
 * lock is taken in this process (REDIS_DOWN_MODE=local, safe with one instance) or the pay refused.
 */
export class InvoiceGuard {
  readonly #o: InvoiceGuardOptions;
  readonly #clock: Clock;
  /** The unknown-outcome holds this instance wrote lately, to write again if Redis loses them. */
  readonly #recentHolds: RecentWrites;

  constructor(options: InvoiceGuardOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#recentHolds = new RecentWrites(this.#clock, Number.POSITIVE_INFINITY);
  }

  /** Starts a pay of `invoice` for journal entry `payment`, or throws why not (409 in flight or held, 503). */
  async begin(invoice: InvoiceId, payment: string, requestId: string): Promise<InvoicePay> {
    const keys = invoiceKeys(invoice);
    const owner = randomUUID();
    const now = this.#clock.now();
    const pendingHold =
      this.#o.holdMs > 0
        ? {
            value: JSON.stringify({ payment, requestId, state: 'pending', since: now, until: now + this.#o.lockTtlMs + this.#o.holdMs } satisfies HoldRecord),
            ttlMs: this.#o.lockTtlMs + this.#o.holdMs,
          }
        : null;
    let stores = [this.#o.shared];
    const begin = (store: SharedState, epoch: string | null) => store.beginInvoicePay(keys, owner, this.#o.lockTtlMs, pendingHold, epoch);
    const result: BeginResult = await this.#o.trouble.degrade(
      'invoice_lock',
      () =>
        begin(this.#o.shared, this.#o.dataLoss?.epoch ?? null).catch((error: unknown) => {
          // A stalled Redis may still run this later; take it back then (same connection, so after it).
          void this.#o.trouble.tolerate('invoice_lock', () => this.#o.shared.settleInvoicePay(keys, owner, payment, null));
          throw error;
        }),
      () => {
        if (this.#o.downMode === 'refuse')
          throw new ServiceUnavailable('Payments are paused while our shared store is unavailable; nothing was charged, retry shortly', {
            retryAfterSeconds: 2,
          });
        stores = [this.#o.local];
        return begin(this.#o.local, null).catch((error: unknown) => {
          if (error instanceof StateFull)
            throw new ServiceUnavailable('Too many invoices are being paid while our shared store is unavailable; retry shortly', { retryAfterSeconds: 2 });
          throw error;
        });
      },
      this.#o.downMode === 'local'
        ? 'redis unreachable: invoice locks are taken in this process only (REDIS_DOWN_MODE=local)'
        : 'redis unreachable: pays are refused (REDIS_DOWN_MODE=refuse)',
    );
    switch (result.kind) {
      case 'epoch_lost':
        await this.#o.dataLoss?.lost(result.epoch);
        throw dataLossRefusal(this.#o.dataLoss);
      case 'locked':
        this.#o.metrics.inFlightConflicts.inc({ guard: 'invoice' });
        throw new Conflict('Another payment for this invoice is in progress; wait for its result before trying again', { retryAfterSeconds: 1 });
      case 'held':
        this.#o.metrics.inFlightConflicts.inc({ guard: 'invoice_hold' });
        throw this.#heldError(result.hold);
      case 'begun':
        return this.#pay(keys, owner, payment, requestId, stores);
    }
  }

  /**
   * Ends an invoice's hold (an operator resolved the unknown outcome of `payment`): the next pay of the
   * invoice runs. A hold of another payment is left alone.
   */
  async endHold(invoice: Pick<InvoiceId, 'canonical'>, payment: string): Promise<void> {
    const keys = invoiceKeys(invoice);
    this.#recentHolds.forget(keys.hold);
    await this.#o.shared.settleInvoicePay(keys, '', payment, null);
  }

  /** Writes the unknown-outcome holds this instance wrote lately back where Redis lost them (see DataLossGuard). */
  republish(): Promise<number> {
    return this.#recentHolds.republish((key, value, ttlMs) => this.#o.shared.restoreHold(key, value, ttlMs));
  }

  #pay(keys: InvoiceKeys, owner: string, payment: string, requestId: string, stores: SharedState[]): InvoicePay {
    let isSettled = false;
    const settle = async (unknownHold: { value: string; ttlMs: number } | null): Promise<void> => {
      if (isSettled) return;
      isSettled = true;
      await Promise.all(
        stores.map((store) =>
          this.#o.landing.land(
            () => store.settleInvoicePay(keys, owner, payment, unknownHold),
            Math.max(this.#o.lockTtlMs, this.#o.holdMs),
            () => {
              this.#o.logger.error(
                { event: 'invoice_settle_lost', unknownOutcome: unknownHold !== null },
                'could not record the end of an invoice pay in Redis; its lock and pending hold expire by themselves',
              );
            },
          ),
        ),
      );
    };
    return {
      settle: (outcome) => {
        if (outcome === 'known' || this.#o.holdMs === 0) return settle(null);
        const now = this.#clock.now();
        this.#o.metrics.invoiceHolds.inc();
        const hold = {
          value: JSON.stringify({ payment, requestId, state: 'unknown', since: now, until: now + this.#o.holdMs } satisfies HoldRecord),
          ttlMs: this.#o.holdMs,
        };
        if (stores.includes(this.#o.shared)) this.#recentHolds.remember(keys.hold, hold.value, hold.ttlMs);
        return settle(hold);
      },
      abandon: () => settle(null),
    };
  }

  #heldError(raw: string): InvoiceHeld {
    let until = this.#clock.now() + 1000;
    try {
      const record = JSON.parse(raw) as Partial<HoldRecord>;
      if (typeof record.until === 'number') until = record.until;
    } catch {
      // An unreadable hold still holds; Retry-After is then a guess.
    }
    return new InvoiceHeld(
      'An earlier payment of this invoice has an unknown outcome and may have charged: do not pay again with a new Idempotency-Key. The merchant is checking; a retry with the Idempotency-Key of that earlier attempt (if it had one) shows the result once it is known',
      { retryAfterSeconds: Math.max(1, Math.ceil((until - this.#clock.now()) / 1000)) },
    );
  }
}
