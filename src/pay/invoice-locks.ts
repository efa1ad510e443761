import { randomUUID } from 'node:crypto';
import type { RedisTrouble } from '../state/redis-trouble';
import type { SharedState } from '../state/shared-state';

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
  constructor(
    private readonly shared: SharedState,
    private readonly local: SharedState,
    private readonly ttlMs: number,
    private readonly trouble: RedisTrouble,
  ) {}

  /** The release function, or null when another pay of this invoice holds the lock. */
  async acquire(invoiceId: string): Promise<ReleaseLock | null> {
    const key = `pay-lock:{${invoiceId}}`;
    const owner = randomUUID();
    let held = [this.shared];
    const isAcquired = await this.trouble.degrade(
      'invoice_lock',
      () => this.shared.setIfAbsent(key, owner, this.ttlMs),
      () => {
        // Taken in this process because Redis failed: a stalled Redis may still run our SET later, and
        // that lock (which kept other instances off this invoice meanwhile) is given back too.
        held = [this.local, this.shared];
        return this.local.setIfAbsent(key, owner, this.ttlMs);
      },
      'redis unreachable: invoice locks are taken in this process only',
    );
    if (!isAcquired) return null;
    let isReleased = false;
    return async () => {
      if (isReleased) return;
      isReleased = true;
      await Promise.all(held.map((store) => this.trouble.tolerate('invoice_lock_release', () => store.deleteIfEquals(key, owner))));
    };
  }
}
