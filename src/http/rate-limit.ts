import type { Request, RequestHandler } from 'express';
import { MemoryStore, rateLimit, type ClientRateLimitInfo, type IncrementResponse, type Options, type Store } from 'express-rate-limit';
import type Redis from 'ioredis';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { Config } from '../config';
import { RateLimited, ServiceUnavailable } from '../errors';
import { everyMs, type Logger } from '../logger';
import type { Metrics } from '../metrics';
import { contextOf } from './context';

/**
 * A rate-limit store that counts in Redis (one limit across every instance) and, when Redis cannot
 * answer, either counts in this process (`open`: each instance enforces the limit on its own, so the
 * effective limit is at most N× while Redis is down) or refuses with 503 (`closed`). It never waits on
 * a dead Redis: the client has no offline queue, so a failing call fails at once.
 */
export class FailoverStore implements Store {
  readonly localKeys = false;
  #options: Options | undefined;
  #needsInit = false;

  constructor(
    private readonly shared: RedisStore,
    private readonly local: MemoryStore,
    private readonly onRedisDown: 'open' | 'closed',
    private readonly onDegraded: (operation: string) => void,
  ) {}

  init(options: Options): void {
    this.#options = options;
    this.local.init(options);
    this.shared.init(options).catch(() => {
      this.#needsInit = true;
    });
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    return this.#either('rate_limit_get', () => this.shared.get(key), () => this.local.get(key));
  }

  async increment(key: string): Promise<IncrementResponse> {
    return this.#either('rate_limit', () => this.shared.increment(key), () => this.local.increment(key));
  }

  async decrement(key: string): Promise<void> {
    await this.#either('rate_limit_decrement', () => this.shared.decrement(key), () => this.local.decrement(key));
  }

  async resetKey(key: string): Promise<void> {
    await Promise.all([this.shared.resetKey(key).catch(() => undefined), this.local.resetKey(key)]);
  }

  shutdown(): void {
    this.local.shutdown();
  }

  async #either<T>(operation: string, onShared: () => Promise<T>, onLocal: () => Promise<T> | T): Promise<T> {
    try {
      // A failed start-up (Redis was down) or a lost script cache: load the scripts again first.
      if (this.#needsInit && this.#options) await this.shared.init(this.#options);
      this.#needsInit = false;
      return await onShared();
    } catch {
      this.#needsInit = true;
      this.onDegraded(operation);
      if (this.onRedisDown === 'closed') throw new ServiceUnavailable('Rate limiting is unavailable, so payments are paused; try again shortly', { retryAfterSeconds: 1 });
      return onLocal();
    }
  }
}

export interface RateLimiters {
  readonly perClient: RequestHandler;
  readonly perInvoice: RequestHandler;
  /** Stops the in-process stores' timers. */
  close(): void;
}

/**
 * The two budgets on /pay: per client (socket address, or X-Forwarded-For only as far as TRUST_PROXY
 * trusts it) and, stricter, per invoice (card testing hammers one invoice with many cards). Both
 * answer 429 problem+json with Retry-After and the IETF RateLimit/RateLimit-Policy headers.
 */
export function createRateLimiters(config: Config, redis: Redis | null, metrics: Metrics, logger: Logger): RateLimiters {
  const locals: MemoryStore[] = [];
  const storeFor = (name: string): Store => {
    const local = new MemoryStore();
    locals.push(local);
    if (!redis) return local;
    const shared = new RedisStore({
      prefix: `${config.redis.keyPrefix}rl:${name}:`,
      sendCommand: (command: string, ...args: string[]) => redis.call(command, ...args) as Promise<RedisReply>,
    });
    const shouldWarn = everyMs(10_000);
    return new FailoverStore(shared, local, config.rateLimit.onRedisDown, (operation) => {
      metrics.degradedOperations.inc({ operation });
      if (shouldWarn()) logger.warn({ event: 'degraded_rate_limit', limit: name }, `redis unreachable: rate limit ${config.rateLimit.onRedisDown === 'open' ? 'counted in this process' : 'refusing requests'}`);
    });
  };
  const limiter = (name: 'client' | 'invoice', limit: number, windowMs: number, keyGenerator?: (req: Request) => string): RequestHandler =>
    rateLimit({
      windowMs,
      limit,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      identifier: `per-${name}`,
      requestPropertyName: `rateLimit_${name}`,
      store: storeFor(name),
      ...(keyGenerator ? { keyGenerator } : {}),
      // Any client can send X-Forwarded-For; whether it counts is TRUST_PROXY's business, not a warning's.
      validate: { xForwardedForHeader: false },
      handler: (_req, res, next) => {
        metrics.rateLimited.inc({ limit: name });
        const retryAfter = Number(res.getHeader('Retry-After') ?? Math.ceil(windowMs / 1000));
        next(new RateLimited(name === 'client' ? 'Too many payment attempts from this client; wait before trying again' : 'Too many payment attempts for this invoice; wait before trying again', { retryAfterSeconds: retryAfter }));
      },
    });
  return {
    perClient: limiter('client', config.rateLimit.clientMax, config.rateLimit.clientWindowMs),
    perInvoice: limiter('invoice', config.rateLimit.invoiceMax, config.rateLimit.invoiceWindowMs, contextOfInvoice),
    close: () => {
      for (const local of locals) local.shutdown();
    },
  };
}

function contextOfInvoice(req: Request): string {
  return req.res ? (contextOf(req.res).invoiceId ?? 'unknown') : 'unknown';
}
