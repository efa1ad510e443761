/* eslint-disable @typescript-eslint/require-await -- the memory store implements an async interface synchronously */
import type { RedisClient } from './redis-client';
import type { Metrics } from '../metrics';
import { LuaScript } from './lua-script';
import { StateUnavailable } from './shared-state';

/** Where entries live, and which of them must never be trimmed. */
export interface JournalStore {
  /** Writes (or rewrites) entry `id`, started at `startedAt` (ms); `isUnresolved` keeps it out of trimming. */
  write(id: string, startedAt: number, entry: string, isUnresolved: boolean): Promise<void>;
  read(id: string): Promise<string | null>;
  /** Entries started at or after `since`, newest first, at most `limit`. */
  list(since: number, limit: number): Promise<string[]>;
  /** Every unresolved entry (unknown outcomes awaiting reconciliation), whatever its age. */
  unresolved(): Promise<string[]>;
  countUnresolved(): Promise<number>;
}

export interface JournalBounds {
  readonly maxEntries: number;
  readonly maxAgeMs: number;
}

/**
 * KEYS: entry, time index, unresolved set. ARGV: id, entry, score, unresolved flag, max entries,
 * oldest score kept, entry key prefix. Trims a bounded number of the oldest entries per write.
 */
const WRITE = new LuaScript(
  `redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] == '1' then redis.call('SADD', KEYS[3], ARGV[1]) else redis.call('SREM', KEYS[3], ARGV[1]) end
local count = redis.call('ZCARD', KEYS[2])
local oldest = redis.call('ZRANGE', KEYS[2], 0, 49, 'WITHSCORES')
for i = 1, #oldest, 2 do
  if count <= tonumber(ARGV[5]) and tonumber(oldest[i + 1]) >= tonumber(ARGV[6]) then break end
  if redis.call('SISMEMBER', KEYS[3], oldest[i]) == 0 then
    redis.call('ZREM', KEYS[2], oldest[i])
    redis.call('DEL', ARGV[7] .. oldest[i])
    count = count - 1
  end
end
return count`,
  3,
);

/**
 * The journal in Redis: one string per entry, a sorted set by start time, and a set of the unresolved
 * ones. All under the hash tag {journal}, so every script touches one Redis Cluster slot.
 */
export class RedisJournalStore implements JournalStore {
  readonly #keys: { entry: (id: string) => string; time: string; unresolved: string; entryPrefix: string };

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
      entryPrefix,
    };
  }

  async write(id: string, startedAt: number, entry: string, isUnresolved: boolean): Promise<void> {
    const k = this.#keys;
    await this.#do('journal_write', () =>
      WRITE.run(
        this.redis,
        [k.entry(id), k.time, k.unresolved],
        [id, entry, startedAt, isUnresolved ? '1' : '0', this.bounds.maxEntries, this.now() - this.bounds.maxAgeMs, k.entryPrefix],
      ),
    );
  }

  read(id: string): Promise<string | null> {
    return this.#do('journal_read', () => this.redis.get(this.#keys.entry(id)));
  }

  async list(since: number, limit: number): Promise<string[]> {
    const ids = await this.#do('journal_list', () => this.redis.zrevrangebyscore(this.#keys.time, '+inf', since, 'LIMIT', 0, limit));
    return this.#entries(ids);
  }

  async unresolved(): Promise<string[]> {
    return this.#entries(await this.#do('journal_unresolved', () => this.redis.smembers(this.#keys.unresolved)));
  }

  countUnresolved(): Promise<number> {
    return this.#do('journal_unresolved', () => this.redis.scard(this.#keys.unresolved));
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
  readonly #entries = new Map<string, { startedAt: number; entry: string; isUnresolved: boolean }>();

  constructor(
    private readonly bounds: JournalBounds,
    private readonly now: () => number = Date.now,
  ) {}

  async write(id: string, startedAt: number, entry: string, isUnresolved: boolean): Promise<void> {
    this.#entries.delete(id);
    this.#entries.set(id, { startedAt, entry, isUnresolved });
    const oldestKept = this.now() - this.bounds.maxAgeMs;
    for (const [key, value] of this.#entries) {
      if (this.#entries.size <= this.bounds.maxEntries && value.startedAt >= oldestKept) break;
      if (!value.isUnresolved) this.#entries.delete(key);
    }
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

  async unresolved(): Promise<string[]> {
    return [...this.#entries.values()].filter((value) => value.isUnresolved).map((value) => value.entry);
  }

  async countUnresolved(): Promise<number> {
    return [...this.#entries.values()].filter((value) => value.isUnresolved).length;
  }
}
