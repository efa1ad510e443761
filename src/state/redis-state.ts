import type Redis from 'ioredis';
import { LuaScript } from './lua-script';
import type { Metrics } from '../metrics';
import { StateUnavailable, type SharedState } from './shared-state';

const DELETE_IF_EQUALS = new LuaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1);

const REPLACE_IF_EQUALS = new LuaScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0`,
  1,
);

const REPLACE_IF_EQUALS_OR_ABSENT = new LuaScript(
  `local current = redis.call('GET', KEYS[1])
if current == ARGV[2] then return 'unchanged' end
if current and current ~= ARGV[1] then return 'other' end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if current then return 'replaced' end
return 'created'`,
  1,
);

const REPLACE_IF_EQUALS_KEEPING_TTL = new LuaScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0`,
  1,
);

const SET_IF_ABSENT_OR_GET = new LuaScript(
  `local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`,
  1,
);

/**
 * SharedState on Redis: what makes one token, one login, one lock and one idempotency record hold
 * across every instance. Each failure becomes StateUnavailable (and a counted Redis error) so the
 * caller decides whether to degrade or refuse; none of them waits longer than the command timeout.
 */
export class RedisState implements SharedState {
  readonly kind = 'redis';

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly metrics: Metrics,
  ) {}

  get(key: string): Promise<string | null> {
    return this.#do('get', () => this.redis.get(this.prefix + key));
  }

  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return this.#do('mget', () => this.redis.mget(...keys.map((key) => this.prefix + key)));
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#do('set', () => this.redis.set(this.prefix + key, value, 'PX', positive(ttlMs)));
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#do('set_nx', () => this.redis.set(this.prefix + key, value, 'PX', positive(ttlMs), 'NX'));
    return reply === 'OK';
  }

  async setIfAbsentOrGet(key: string, value: string, ttlMs: number): Promise<string | null> {
    const reply = await this.#do('set_nx_get', () => SET_IF_ABSENT_OR_GET.run(this.redis, [this.prefix + key], [value, positive(ttlMs)]));
    return typeof reply === 'string' ? reply : null;
  }

  async deleteIfEquals(key: string, expected: string): Promise<boolean> {
    const reply = await this.#do('compare_and_delete', () => DELETE_IF_EQUALS.run(this.redis, [this.prefix + key], [expected]));
    return reply === 1;
  }

  async replaceIfEquals(key: string, expected: string, value: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#do('compare_and_set', () => REPLACE_IF_EQUALS.run(this.redis, [this.prefix + key], [expected, value, positive(ttlMs)]));
    return reply === 1;
  }

  async replaceIfEqualsOrAbsent(key: string, expected: string, value: string, ttlMs: number): Promise<'replaced' | 'created' | 'unchanged' | 'other'> {
    const reply = await this.#do('compare_or_create', () =>
      REPLACE_IF_EQUALS_OR_ABSENT.run(this.redis, [this.prefix + key], [expected, value, positive(ttlMs)]),
    );
    if (reply === 'replaced' || reply === 'created' || reply === 'unchanged' || reply === 'other') return reply;
    throw new StateUnavailable('compare_or_create', new Error('unexpected reply'));
  }

  async replaceIfEqualsKeepingTtl(key: string, expected: string, value: string): Promise<boolean> {
    const reply = await this.#do('compare_and_set', () => REPLACE_IF_EQUALS_KEEPING_TTL.run(this.redis, [this.prefix + key], [expected, value]));
    return reply === 1;
  }

  async *scan(keyPrefix: string): AsyncIterable<string[]> {
    let cursor = '0';
    do {
      const [next, keys] = await this.#do('scan', () => this.redis.scan(cursor, 'MATCH', `${escapeGlob(this.prefix + keyPrefix)}*`, 'COUNT', 500));
      cursor = next;
      if (keys.length > 0) yield keys.map((key) => key.slice(this.prefix.length));
    } while (cursor !== '0');
  }

  async delete(key: string): Promise<void> {
    await this.#do('del', () => this.redis.del(this.prefix + key));
  }

  async ping(): Promise<void> {
    await this.#do('ping', () => this.redis.ping());
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

/** A key prefix as a literal in a SCAN pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Redis rejects PX 0 or below; a record that should already be gone lives one millisecond. */
function positive(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs));
}
