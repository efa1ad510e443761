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
  /** SET NX PX: true when this call created the key (a lock won, a reservation made). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Creates the key, or returns what it already holds (null when created): one atomic step. */
  setIfAbsentOrGet(key: string, value: string, ttlMs: number): Promise<string | null>;
  /** Deletes the key only while it still holds `expected`: releases by the owner only. */
  deleteIfEquals(key: string, expected: string): Promise<boolean>;
  /** Replaces the key only while it still holds `expected`: a reservation completed by its owner. */
  replaceIfEquals(key: string, expected: string, value: string, ttlMs: number): Promise<boolean>;
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
}

/** Raised by a store that cannot answer (Redis down, command timeout); callers decide how to degrade. */
export class StateUnavailable extends Error {
  constructor(operation: string, cause: unknown) {
    super(`shared state unavailable during ${operation}`, { cause });
    this.name = 'StateUnavailable';
  }
}
