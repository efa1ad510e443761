/* eslint-disable @typescript-eslint/require-await -- an async interface implemented synchronously: running one callback at a time is what makes these operations atomic */
import type { SharedState } from './shared-state';

interface Entry {
  value: string;
  expiresAt: number;
}

/** How often expired entries are swept, so a long-running sandbox does not grow without bound. */
const SWEEP_INTERVAL_MS = 30_000;

/**
 * SharedState inside one process. Atomic because JavaScript runs one callback at a time; shared by
 * nothing else, so it only serves a single instance (sandbox without Redis) or a degraded fallback.
 */
export class MemoryState implements SharedState {
  readonly kind = 'memory';
  readonly #entries = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
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
    this.#entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.#read(key) !== null) return false;
    this.#entries.set(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }

  async setIfAbsentOrGet(key: string, value: string, ttlMs: number): Promise<string | null> {
    const existing = this.#read(key);
    if (existing !== null) return existing;
    this.#entries.set(key, { value, expiresAt: this.now() + ttlMs });
    return null;
  }

  async deleteIfEquals(key: string, expected: string): Promise<boolean> {
    if (this.#read(key) !== expected) return false;
    this.#entries.delete(key);
    return true;
  }

  async replaceIfEquals(key: string, expected: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.#read(key) !== expected) return false;
    this.#entries.set(key, { value, expiresAt: this.now() + ttlMs });
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

  /** Stops the sweeper; the map itself is garbage once the owner drops it. */
  close(): void {
    clearInterval(this.#sweeper);
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
