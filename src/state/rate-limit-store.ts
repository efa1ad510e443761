import { MemoryStore, type ClientRateLimitInfo, type IncrementResponse, type Options, type Store } from 'express-rate-limit';
import { ReplyError } from 'ioredis';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { ServiceUnavailable } from '../errors';
import { masters, type RedisClient } from './redis-client';
import type { RedisTrouble } from './redis-trouble';
import { StateUnavailable } from './shared-state';

/**
 * A rate-limit store that counts in Redis (one limit across every instance) and, when Redis cannot
 * answer, either counts in this process (`local`: each instance enforces the limit on its own, so the
 * effective limit is at most N× while Redis is down) or refuses with 503 (`refuse`). It never waits on
 * a dead Redis: the client has no offline queue, so a failing call fails at once.
 */
export class FailoverStore implements Store {
  readonly localKeys = false;
  #options: Options | undefined;
  #needsInit = false;

  constructor(
    private readonly shared: RedisStore,
    private readonly local: BoundedMemoryStore,
    private readonly onRedisDown: 'local' | 'refuse',
    private readonly trouble: RedisTrouble,
    private readonly name: string,
  ) {}

  init(options: Options): void {
    this.#options = options;
    this.local.init(options);
    this.shared.init(options).catch(() => {
      this.#needsInit = true;
    });
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    return this.#either(
      () => this.shared.get(key),
      () => this.local.get(key),
    );
  }

  async increment(key: string): Promise<IncrementResponse> {
    return this.#either(
      () => this.shared.increment(key),
      () => this.local.increment(key),
    );
  }

  async decrement(key: string): Promise<void> {
    await this.#either(
      () => this.shared.decrement(key),
      () => this.local.decrement(key),
    );
  }

  async resetKey(key: string): Promise<void> {
    await Promise.all([this.trouble.tolerate('rate_limit', () => this.shared.resetKey(key)), this.local.resetKey(key)]);
  }

  shutdown(): void {
    this.local.shutdown();
  }

  async #either<T>(onShared: () => Promise<T>, onLocal: () => Promise<T> | T): Promise<T> {
    const shared = async (): Promise<T> => {
      try {
        // A failed start-up (Redis was down) or a lost script cache: load the scripts again first.
        if (this.#needsInit && this.#options) await this.shared.init(this.#options);
        this.#needsInit = false;
        return await onShared();
      } catch (error) {
        this.#needsInit = true;
        throw error;
      }
    };
    if (this.onRedisDown === 'refuse')
      return this.trouble.refuse(
        'rate_limit',
        shared,
        () => new ServiceUnavailable('Rate limiting is unavailable, so payments are paused; try again shortly', { retryAfterSeconds: 1 }),
      );
    return this.trouble.degrade('rate_limit', shared, onLocal, `redis unreachable: rate limit ${this.name} counted in this process`);
  }
}

/**
 * express-rate-limit's in-process store with a cap on the clients or invoices it tracks: a new key past
 * the cap is refused (503) instead of growing without bound while Redis is away (unique invoice ids
 * would otherwise cost memory per request), and no tracked key is evicted (that would reset its limit).
 */
export class BoundedMemoryStore implements Store {
  readonly localKeys = true;
  readonly #inner = new MemoryStore();
  /** Tracked keys and when their window ends. */
  readonly #resets = new Map<string, number>();

  constructor(private readonly maxKeys: number) {}

  init(options: Options): void {
    this.#inner.init(options);
  }

  get(key: string): Promise<ClientRateLimitInfo | undefined> {
    return this.#inner.get(key);
  }

  async increment(key: string): Promise<IncrementResponse> {
    if (!this.#resets.has(key) && this.#resets.size >= this.maxKeys) {
      const now = Date.now();
      for (const [tracked, resetAt] of this.#resets) if (resetAt <= now) this.#resets.delete(tracked);
      if (this.#resets.size >= this.maxKeys)
        throw new ServiceUnavailable('Too many clients or invoices are being limited while our shared store is unavailable; retry shortly', {
          retryAfterSeconds: 2,
        });
    }
    const response = await this.#inner.increment(key);
    this.#resets.set(key, response.resetTime?.getTime() ?? Date.now());
    return response;
  }

  decrement(key: string): Promise<void> {
    return this.#inner.decrement(key);
  }

  resetKey(key: string): Promise<void> {
    this.#resets.delete(key);
    return this.#inner.resetKey(key);
  }

  shutdown(): void {
    this.#inner.shutdown();
  }
}

/**
 * The store for one named limit: in Redis under `<prefix>rl:<name>:` (failing over as configured), or
 * in this process when there is no Redis. Every Redis failure reaches the store as StateUnavailable.
 */
export function rateLimitStore(
  name: string,
  redis: RedisClient | null,
  keyPrefix: string,
  onRedisDown: 'local' | 'refuse',
  maxLocalKeys: number,
  trouble: RedisTrouble,
): MemoryStore | FailoverStore {
  if (!redis) return new MemoryStore();
  const local = new BoundedMemoryStore(maxLocalKeys);
  const send = async ([command = '', ...args]: string[]): Promise<RedisReply> => {
    // A script is loaded on every master: a cluster routes SCRIPT LOAD to any node, EVALSHA to the key's.
    if (command.toUpperCase() === 'SCRIPT')
      return (await Promise.all(masters(redis).map((node) => node.call(command, ...args) as Promise<RedisReply>)))[0] ?? '';
    return redis.call(command, ...args) as Promise<RedisReply>;
  };
  const shared = new RedisStore({
    prefix: `${keyPrefix}rl:${name}:`,
    sendCommandCluster: ({ command }) =>
      send(command).catch((error: unknown) => {
        // NOSCRIPT (after a restart) passes through: rate-limit-redis reloads its script. A cluster's
        // redirections that ioredis could not follow (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) are Redis being unavailable.
        if (error instanceof ReplyError && (error as Error).message.startsWith('NOSCRIPT')) throw error;
        throw new StateUnavailable(`rate_limit ${(command[0] ?? '').toLowerCase()}`, error);
      }),
  });
  return new FailoverStore(shared, local, onRedisDown, trouble, name);
}
