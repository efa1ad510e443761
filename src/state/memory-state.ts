/* eslint-disable @typescript-eslint/require-await -- an async interface implemented synchronously: running one callback at a time is what makes these operations atomic */
import { EPOCH_KEY } from './epoch-keys';
import { StateFull, type BeginResult, type EpochRead, type InvoiceKeys, type ReserveResult, type SharedState } from './shared-state';

interface Entry {
  value: string;
  expiresAt: number;
}

/** How often expired entries are swept, so a long-running process does not grow without bound. */
const SWEEP_INTERVAL_MS = 30_000;

/**
 * SharedState inside one process. Atomic because JavaScript runs one callback at a time; shared by
 * nothing else, so it only serves a single instance (sandbox without Redis) or a degraded fallback.
 * At most `maxEntries` live keys: a write that would add one more is refused (StateFull) rather than
 * evicting another, which would silently drop a lock or a hold. It never loses data, so there is no
 * epoch to check.
 */
export class MemoryState implements SharedState {
  readonly kind = 'memory';
  readonly #entries = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries = Number.POSITIVE_INFINITY,
  ) {
    this.#sweeper = setInterval(() => {
      this.#sweep();
    }, SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  async get(key: string): Promise<string | null> {
    return this.#read(key);
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return keys.map((key) => this.#read(key));
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.#write(key, value, ttlMs);
  }

  async setIfAbsent(key: string, value: string, ttlMs: number | null): Promise<boolean> {
    if (this.#read(key) !== null) return false;
    this.#write(key, value, ttlMs ?? Number.POSITIVE_INFINITY);
    return true;
  }

  async addToCounter(key: string, delta: number, ttlMs: number): Promise<number> {
    const current = this.#entries.get(key);
    const value = Number(this.#read(key) ?? 0) + delta;
    if (current && current.expiresAt > this.now()) current.value = String(value);
    else this.#write(key, String(value), ttlMs);
    return value;
  }

  async reserve(key: string, value: string, ttlMs: number): Promise<ReserveResult> {
    const existing = this.#read(key);
    if (existing !== null) return { kind: 'exists', value: existing };
    this.#write(key, value, ttlMs);
    return { kind: 'created' };
  }

  async beginInvoicePay(
    keys: InvoiceKeys,
    owner: string,
    lockTtlMs: number,
    pendingHold: { readonly value: string; readonly ttlMs: number } | null,
  ): Promise<BeginResult> {
    if (this.#read(keys.lock) !== null) return { kind: 'locked' };
    const hold = this.#read(keys.hold);
    if (hold !== null) return { kind: 'held', hold };
    if (pendingHold && this.#isNew(keys.hold) && this.#entries.size + 2 > this.maxEntries) throw new StateFull();
    this.#write(keys.lock, owner, lockTtlMs);
    if (pendingHold) this.#write(keys.hold, pendingHold.value, pendingHold.ttlMs);
    return { kind: 'begun' };
  }

  async settleInvoicePay(
    keys: InvoiceKeys,
    owner: string,
    paymentId: string,
    unknownHold: { readonly value: string; readonly ttlMs: number } | null,
  ): Promise<void> {
    if (this.#read(keys.lock) === owner) this.#entries.delete(keys.lock);
    if (unknownHold) {
      this.#entries.set(keys.hold, { value: unknownHold.value, expiresAt: this.now() + unknownHold.ttlMs });
      return;
    }
    const hold = this.#read(keys.hold);
    if (hold !== null && (JSON.parse(hold) as { payment?: unknown }).payment === paymentId) this.#entries.delete(keys.hold);
  }

  async restoreHold(key: string, value: string, ttlMs: number): Promise<boolean> {
    const current = this.#read(key);
    if (current !== null && (JSON.parse(current) as { state?: unknown }).state !== 'pending') return false;
    this.#entries.set(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }

  async deleteIfEquals(key: string, expected: string): Promise<boolean> {
    if (this.#read(key) !== expected) return false;
    this.#entries.delete(key);
    return true;
  }

  async replaceIfEqualsOrAbsent(key: string, expected: string, value: string, ttlMs: number): Promise<'replaced' | 'created' | 'unchanged' | 'other'> {
    const current = this.#read(key);
    if (current === value) return 'unchanged';
    if (current !== null && current !== expected) return 'other';
    this.#entries.set(key, { value, expiresAt: this.now() + ttlMs });
    return current === null ? 'created' : 'replaced';
  }

  async replaceIfEqualsKeepingTtl(key: string, expected: string, value: string): Promise<boolean> {
    const entry = this.#entries.get(key);
    if (!entry || this.#read(key) !== expected) return false;
    entry.value = value;
    return true;
  }

  async *scan(keyPrefix: string): AsyncIterable<string[]> {
    yield [...this.#entries.keys()].filter((key) => key.startsWith(keyPrefix) && this.#read(key) !== null);
  }

  async delete(key: string): Promise<void> {
    this.#entries.delete(key);
  }

  async ping(): Promise<void> {
    return undefined;
  }

  async readEpoch(): Promise<EpochRead> {
    return { isMixed: false, value: this.#read(EPOCH_KEY) };
  }

  async writeEpoch(value: string, onlyIfAbsent: boolean): Promise<void> {
    if (!onlyIfAbsent || this.#read(EPOCH_KEY) === null) this.#entries.set(EPOCH_KEY, { value, expiresAt: Number.POSITIVE_INFINITY });
  }

  /** How many keys are held now (expired ones not yet swept included). */
  get size(): number {
    return this.#entries.size;
  }

  /** Stops the sweeper; the map itself is garbage once the owner drops it. */
  close(): void {
    clearInterval(this.#sweeper);
  }

  #isNew(key: string): boolean {
    return this.#read(key) === null;
  }

  /** Writes a key; adding one past the cap is refused (sweeping expired entries first). */
  #write(key: string, value: string, ttlMs: number): void {
    if (!this.#entries.has(key) && this.#entries.size >= this.maxEntries) {
      this.#sweep();
      if (this.#entries.size >= this.maxEntries) throw new StateFull();
    }
    this.#entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  #read(key: string): string | null {
    const entry = this.#entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.#entries.delete(key);
      return null;
    }
    return entry.value;
  }

  #sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
  }
}
