/* eslint-disable @typescript-eslint/require-await -- the memory store implements an async interface synchronously */
import type { RedisClient } from './redis-client';
import type { Metrics } from '../metrics';
import { LuaScript } from './lua-script';
import { StateUnavailable } from './shared-state';

/**
 * What an entry awaits: `pending`, its pay's end; `unresolved`, an operator's reconciliation of its
 * unknown outcome; `settled`, nothing. Only settled entries are ever trimmed.
 */
export type EntryState = 'pending' | 'unresolved' | 'settled';

/** Where entries live, and which of them must never be trimmed. */
export interface JournalStore {
  /**
   * Writes (or rewrites) entry `id`, started at `startedAt` (ms); with `onlyIfAbsent`, an entry the store
   * has is left alone. Says whether it wrote.
   */
  write(id: string, startedAt: number, entry: string, state: EntryState, onlyIfAbsent?: boolean): Promise<boolean>;
  read(id: string): Promise<string | null>;
  /** Entries started at or after `since`, newest first, at most `limit`. */
  list(since: number, limit: number): Promise<string[]>;
  /**
   * Every unresolved entry, whatever its age, and every pending one started before `stalePendingBefore`
   * (its instance stopped mid-pay: its outcome is unknown too).
   */
  unresolved(stalePendingBefore: number): Promise<string[]>;
  countUnresolved(stalePendingBefore: number): Promise<number>;
}

export interface JournalBounds {
  readonly maxEntries: number;
  readonly maxAgeMs: number;
}

/**
 * KEYS: entry, time index, unresolved set, pending index (by start time). ARGV: id, entry, score,
 * state, max entries, oldest score kept, entry key prefix, only-if-absent flag. Trims a bounded number
 * of the oldest settled entries per write.
 */
const WRITE = new LuaScript(
  `if ARGV[8] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] == 'unresolved' then redis.call('SADD', KEYS[3], ARGV[1]) else redis.call('SREM', KEYS[3], ARGV[1]) end
if ARGV[4] == 'pending' then redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1]) else redis.call('ZREM', KEYS[4], ARGV[1]) end
local count = redis.call('ZCARD', KEYS[2])
local oldest = redis.call('ZRANGE', KEYS[2], 0, 49, 'WITHSCORES')
for i = 1, #oldest, 2 do
  if count <= tonumber(ARGV[5]) and tonumber(oldest[i + 1]) >= tonumber(ARGV[6]) then break end
  if redis.call('SISMEMBER', KEYS[3], oldest[i]) == 0 and not redis.call('ZSCORE', KEYS[4], oldest[i]) then
    redis.call('ZREM', KEYS[2], oldest[i])
    redis.call('DEL', ARGV[7] .. oldest[i])
    count = count - 1
  end
end
return count`,
  4,
);

/**
 * The journal in Redis: one string per entry, a sorted set by start time, a set of the unresolved
 * ones and a sorted set of the pending ones. All under the hash tag {journal}, so every script touches
 * one Redis Cluster slot.
 */
export class RedisJournalStore implements JournalStore {
  readonly #keys: { entry: (id: string) => string; time: string; unresolved: string; pending: string; entryPrefix: string };

  constructor(
    private readonly redis: RedisClient,
    keyPrefix: string,
    private readonly bounds: JournalBounds,
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
  ) {
    const entryPrefix = `${keyPrefix}journal:{journal}:entry:`;
    this.#keys = {
      entry: (id) => `${entryPrefix}${id}`,
      time: `${keyPrefix}journal:{journal}:time`,
      unresolved: `${keyPrefix}journal:{journal}:unresolved`,
      pending: `${keyPrefix}journal:{journal}:pending`,
      entryPrefix,
    };
  }

  async write(id: string, startedAt: number, entry: string, state: EntryState, onlyIfAbsent = false): Promise<boolean> {
    const k = this.#keys;
    const count = await this.#do('journal_write', () =>
      WRITE.run(
        this.redis,
        [k.entry(id), k.time, k.unresolved, k.pending],
        [id, entry, startedAt, state, this.bounds.maxEntries, this.now() - this.bounds.maxAgeMs, k.entryPrefix, onlyIfAbsent ? '1' : '0'],
      ),
    );
    return count !== -1;
  }

  read(id: string): Promise<string | null> {
    return this.#do('journal_read', () => this.redis.get(this.#keys.entry(id)));
  }

  async list(since: number, limit: number): Promise<string[]> {
    const ids = await this.#do('journal_list', () => this.redis.zrevrangebyscore(this.#keys.time, '+inf', since, 'LIMIT', 0, limit));
    return this.#entries(ids);
  }

  async unresolved(stalePendingBefore: number): Promise<string[]> {
    const [unknown, stale] = await this.#do('journal_unresolved', () =>
      Promise.all([this.redis.smembers(this.#keys.unresolved), this.redis.zrangebyscore(this.#keys.pending, '-inf', `(${stalePendingBefore}`)]),
    );
    return this.#entries([...unknown, ...stale]);
  }

  async countUnresolved(stalePendingBefore: number): Promise<number> {
    const [unknown, stale] = await this.#do('journal_unresolved', () =>
      Promise.all([this.redis.scard(this.#keys.unresolved), this.redis.zcount(this.#keys.pending, '-inf', `(${stalePendingBefore}`)]),
    );
    return unknown + stale;
  }

  async #entries(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const values = await this.#do('journal_read', () => this.redis.mget(...ids.map((id) => this.#keys.entry(id))));
    return values.filter((value): value is string => value !== null);
  }

  async #do<T>(operation: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      this.metrics.redisErrors.inc({ operation });
      throw new StateUnavailable(operation, error);
    }
  }
}

/** The journal of a single process without Redis (sandbox, development): bounded the same way. */
export class MemoryJournalStore implements JournalStore {
  readonly #entries = new Map<string, { startedAt: number; entry: string; state: EntryState }>();

  constructor(
    private readonly bounds: JournalBounds,
    private readonly now: () => number = Date.now,
  ) {}

  async write(id: string, startedAt: number, entry: string, state: EntryState, onlyIfAbsent = false): Promise<boolean> {
    if (onlyIfAbsent && this.#entries.has(id)) return false;
    this.#entries.delete(id);
    this.#entries.set(id, { startedAt, entry, state });
    const oldestKept = this.now() - this.bounds.maxAgeMs;
    for (const [key, value] of this.#entries) {
      if (this.#entries.size <= this.bounds.maxEntries && value.startedAt >= oldestKept) break;
      if (value.state === 'settled') this.#entries.delete(key);
    }
    return true;
  }

  async read(id: string): Promise<string | null> {
    return this.#entries.get(id)?.entry ?? null;
  }

  async list(since: number, limit: number): Promise<string[]> {
    return [...this.#entries.values()]
      .filter((value) => value.startedAt >= since)
      .sort((a, b) => b.startedAt - a.startedAt)
      .slice(0, limit)
      .map((value) => value.entry);
  }

  async unresolved(stalePendingBefore: number): Promise<string[]> {
    return [...this.#entries.values()].filter((value) => isAwaitingResolution(value, stalePendingBefore)).map((value) => value.entry);
  }

  async countUnresolved(stalePendingBefore: number): Promise<number> {
    return [...this.#entries.values()].filter((value) => isAwaitingResolution(value, stalePendingBefore)).length;
  }
}

function isAwaitingResolution(value: { startedAt: number; state: EntryState }, stalePendingBefore: number): boolean {
  return value.state === 'unresolved' || (value.state === 'pending' && value.startedAt < stalePendingBefore);
}
