import type Redis from 'ioredis';

/** What the service found out about the Redis it uses. */
export interface RedisFacts {
  /** null: the server does not allow CONFIG (many managed Redis services), so it could not be checked. */
  readonly maxmemoryPolicy: string | null;
  readonly aof: boolean;
  /** RDB snapshots configured (null: unknown without CONFIG). */
  readonly rdb: boolean | null;
}

/** Reads maxmemory-policy and persistence (AOF from INFO, RDB `save` from CONFIG when allowed). */
export async function readRedisFacts(redis: Redis): Promise<RedisFacts> {
  const info = await redis.info('persistence');
  const aof = /^aof_enabled:1\s*$/m.test(info);
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    const [, save] = (await redis.config('GET', 'save')) as [string, string];
    return { maxmemoryPolicy: policy, aof, rdb: save.trim() !== '' };
  } catch {
    return { maxmemoryPolicy: null, aof, rdb: null };
  }
}

/**
 * The problem with `facts` that must stop a production start, or null. Any eviction policy but
 * noeviction lets Redis drop an Idempotency-Key record or an invoice lock under memory pressure, and a
 * dropped record is a payment that can be charged twice.
 */
export function blockingProblem(facts: RedisFacts): string | null {
  if (facts.maxmemoryPolicy === null || facts.maxmemoryPolicy === 'noeviction') return null;
  return `Redis maxmemory-policy is ${facts.maxmemoryPolicy}; it must be noeviction (an evicted idempotency record or invoice lock can charge a payment twice)`;
}
