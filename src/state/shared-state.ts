/**
 * The few atomic operations every cross-instance guarantee is built from: the shared token, its
 * login lock, the idempotency records and the per-invoice lock. Redis implements them for real
 * deployments; memory implements them for a single sandbox process without Redis, and as the
 * in-process fallback while Redis is unreachable. Keys are given without the deployment prefix.
 */
export interface SharedState {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  /** Reads several keys in one round trip. */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** SET NX PX: true when this call created the key (a lock won). A null `ttlMs`: the key never expires. */
  setIfAbsent(key: string, value: string, ttlMs: number | null): Promise<boolean>;
  /**
   * Creates the key, or returns what it already holds: one atomic step. With an `epoch`, first checks
   * that Redis still holds that deployment epoch: if not, Redis lost data and nothing is written.
   */
  reserve(key: string, value: string, ttlMs: number, epoch: string | null): Promise<ReserveResult>;
  /**
   * Starts a pay of one invoice, atomically: refused while its lock is held or a hold (an earlier
   * unknown outcome) stands; otherwise takes the lock and, when `pendingHold` is given, writes it as
   * the hold that stands if this pay never settles. Checks the epoch like reserve().
   */
  beginInvoicePay(
    keys: InvoiceKeys,
    owner: string,
    lockTtlMs: number,
    pendingHold: { readonly value: string; readonly ttlMs: number } | null,
    epoch: string | null,
  ): Promise<BeginResult>;
  /**
   * Ends a pay of one invoice: releases the lock if it is still `owner`'s; then writes `unknownHold`
   * (an outcome that may have charged: written whatever is there, so it always lands) or, for a known
   * outcome, removes the pending hold of payment `paymentId` (never another payment's hold).
   */
  settleInvoicePay(keys: InvoiceKeys, owner: string, paymentId: string, unknownHold: { readonly value: string; readonly ttlMs: number } | null): Promise<void>;
  /** INCRBY `delta`; a key it creates lives `ttlMs`. Returns the new value. */
  addToCounter(key: string, delta: number, ttlMs: number): Promise<number>;
  /** Deletes the key only while it still holds `expected`: releases by the owner only. */
  deleteIfEquals(key: string, expected: string): Promise<boolean>;
  /**
   * Writes `value` where the key holds `expected` or nothing (it vanished: Redis lost it), never over
   * anything else. Says which it was; `unchanged` when the key already holds `value` (a write re-sent
   * after a timeout that had in fact landed).
   */
  replaceIfEqualsOrAbsent(key: string, expected: string, value: string, ttlMs: number): Promise<'replaced' | 'created' | 'unchanged' | 'other'>;
  /** Replaces the key only while it holds `expected`, keeping its remaining lifetime. */
  replaceIfEqualsKeepingTtl(key: string, expected: string, value: string): Promise<boolean>;
  /** The keys starting with `keyPrefix`, a batch at a time (SCAN: keys written meanwhile may or may not appear). */
  scan(keyPrefix: string): AsyncIterable<string[]>;
  delete(key: string): Promise<void>;
  /** Fails when the store cannot answer: what readiness reports. */
  ping(): Promise<void>;
  /**
   * The deployment epoch (data-loss.ts): its value, null when it is nowhere, or `mixed` when only part
   * of the store holds it (a cluster shard lost data). `onePerServer`: on a cluster, read on one slot
   * of each master only (a master that lost data lost all its slots' copies), not on all 16384.
   */
  readEpoch(onePerServer: boolean): Promise<EpochRead>;
  /** Writes the epoch everywhere: only where it is missing (`onlyIfAbsent`), or over whatever is there. */
  writeEpoch(value: string, onlyIfAbsent: boolean): Promise<void>;
  /**
   * Writes an unknown-outcome hold back after a data loss, unless the invoice already has an unknown
   * hold: a `pending` hold (a pay admitted meanwhile) is replaced, and that pay's settlement, which
   * removes only its own hold, leaves it. True when written.
   */
  restoreHold(key: string, value: string, ttlMs: number): Promise<boolean>;
}

/** Redis no longer holds the deployment epoch this instance knows: it lost data. `epoch` is what it holds now. */
export interface EpochLost {
  readonly kind: 'epoch_lost';
  readonly epoch: string | null;
}

export type ReserveResult = { readonly kind: 'created' } | { readonly kind: 'exists'; readonly value: string } | EpochLost;

export type BeginResult = { readonly kind: 'begun' } | { readonly kind: 'locked' } | { readonly kind: 'held'; readonly hold: string } | EpochLost;

/** An invoice's keys: its lock and its hold, under one hash tag (one slot in a Redis Cluster). */
export interface InvoiceKeys {
  readonly lock: string;
  readonly hold: string;
}

/** The deployment epoch as read: its value (null: nowhere), or `isMixed` when only part of the store holds it. */
export type EpochRead = { readonly isMixed: false; readonly value: string | null } | { readonly isMixed: true };

/** The in-process store is at its cap: a new key is refused rather than another evicted. */
export class StateFull extends Error {
  constructor() {
    super('the in-process fallback state is full');
    this.name = 'StateFull';
  }
}

/** Raised by a store that cannot answer (Redis down, command timeout); callers decide how to degrade. */
export class StateUnavailable extends Error {
  constructor(operation: string, cause: unknown) {
    super(`shared state unavailable during ${operation}`, { cause });
    this.name = 'StateUnavailable';
  }
}
