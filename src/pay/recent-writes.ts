import type { Clock } from '../clock';

/** How far back an instance remembers the answers it wrote, and how much: the window in which clients retry. */
export const RETRY_WINDOW_MS = 15 * 60_000;
const MAX_REMEMBERED = 20_000;
/** Writes sent together (one pipeline's worth) when republishing. */
const BATCH = 200;

/**
 * The records of finished pays this instance wrote lately (the answers under their keys, the holds on
 * their invoices), kept in memory so they can be written again after Redis lost data: without Redis
 * persistence a restart erases them, and a retry would then pay again. Bounded in time (`windowMs`:
 * the retry window for answers; a hold or an unresolved entry matters for as long as it lives) and in
 * number: the oldest go first.
 */
export class RecentWrites {
  /** In the order written, oldest first. */
  readonly #entries = new Map<string, { value: string; writtenAt: number; expiresAt: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
  ) {}

  /** Remembers `value` written under `key` for `lifetimeMs` (at most the remembering window). */
  remember(key: string, value: string, lifetimeMs: number): void {
    const now = this.clock.now();
    this.#entries.delete(key);
    this.#entries.set(key, { value, writtenAt: now, expiresAt: now + lifetimeMs });
    for (const [oldest, entry] of this.#entries) {
      const isKept = this.#entries.size <= MAX_REMEMBERED && entry.writtenAt > now - this.windowMs && entry.expiresAt > now;
      if (isKept) break;
      this.#entries.delete(oldest);
    }
  }

  /** Forgets what no longer needs writing back (a hold an operator ended, say). */
  forget(key: string): void {
    this.#entries.delete(key);
  }

  /**
   * Writes every remembered record that has not expired, through `writeBack` (which leaves a record the
   * store still has alone), some at a time; returns how many were written.
   */
  async republish(writeBack: (key: string, value: string, ttlMs: number) => Promise<boolean>): Promise<number> {
    const now = this.clock.now();
    const live = [...this.#entries].filter(([, entry]) => entry.expiresAt > now);
    let written = 0;
    for (let start = 0; start < live.length; start += BATCH) {
      const results = await Promise.all(live.slice(start, start + BATCH).map(([key, entry]) => writeBack(key, entry.value, entry.expiresAt - now)));
      written += results.filter(Boolean).length;
    }
    return written;
  }
}
