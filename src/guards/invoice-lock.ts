import { randomUUID } from 'node:crypto';
import { everyMs, type Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { MemoryState } from '../state/memory-state';
import { StateUnavailable, type SharedState } from '../state/shared-state';

/** Gives the lock back; safe to call twice, never throws. */
export type ReleaseLock = () => Promise<void>;

/**
 * At most one pay per invoice in flight across all instances (double clicks, two tabs, two pods).
 * A Redis SET NX PX with a random owner value, released by compare-and-delete so only its owner can
 * release it; the TTL outlives the longest a pay can take, so a crashed owner's lock expires.
 * While Redis is unreachable the lock is taken in this process instead (degraded, counted): it still
 * stops double clicks that land on the same instance.
 */
export class InvoiceLocks {
  readonly #shouldWarn = everyMs(10_000);

  constructor(
    private readonly shared: SharedState,
    private readonly local: MemoryState,
    private readonly ttlMs: number,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** The release function, or null when another pay of this invoice holds the lock. */
  async acquire(invoiceId: string): Promise<ReleaseLock | null> {
    const key = `pay-lock:{${invoiceId}}`;
    const owner = randomUUID();
    let store: SharedState = this.shared;
    let isAcquired: boolean;
    try {
      isAcquired = await store.setIfAbsent(key, owner, this.ttlMs);
    } catch (error) {
      if (!(error instanceof StateUnavailable)) throw error;
      this.metrics.degradedOperations.inc({ operation: 'invoice_lock' });
      if (this.#shouldWarn()) this.logger.warn({ event: 'degraded_invoice_lock' }, 'redis unreachable: invoice locks are taken in this process only');
      store = this.local;
      isAcquired = await store.setIfAbsent(key, owner, this.ttlMs);
    }
    if (!isAcquired) return null;
    let isReleased = false;
    return async () => {
      if (isReleased) return;
      isReleased = true;
      // Taken in this process because Redis stalled: a stalled Redis may still have run our SET later,
      // and that lock (which kept other instances off this invoice meanwhile) is given back too.
      const stores = store === this.shared ? [store] : [store, this.shared];
      await Promise.all(stores.map(async (held) => held.deleteIfEquals(key, owner).catch(() => undefined)));
    };
  }
}
