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
      // A stalled Redis may still take the lock after we gave up on it, blocking the invoice until the
      // TTL: give it back (runs after the SET on the same connection; deletes only our own lock).
      void this.shared.deleteIfEquals(key, owner).catch(() => undefined);
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
      await store.deleteIfEquals(key, owner).catch(() => undefined);
    };
  }
}
