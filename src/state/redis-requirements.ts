import type { Redis } from 'ioredis';
import { masters, type RedisClient } from './redis-client';

/** What the service found out about the Redis it uses. */
export interface RedisFacts {
  /** null: the server does not allow CONFIG (many managed Redis services), so it could not be checked. */
  readonly maxmemoryPolicy: string | null;
  readonly aof: boolean;
  /** RDB snapshots configured (null: unknown without CONFIG). */
  readonly rdb: boolean | null;
}

/** Reads maxmemory-policy and persistence (AOF from INFO, RDB `save` from CONFIG when allowed), on every master: the weakest counts. */
export async function readRedisFacts(redis: RedisClient): Promise<RedisFacts> {
  const facts = await Promise.all(masters(redis).map(readNodeFacts));
  const policy = facts.map((fact) => fact.maxmemoryPolicy).find((value) => value !== 'noeviction') ?? facts[0]?.maxmemoryPolicy ?? null;
  return {
    maxmemoryPolicy: policy,
    aof: facts.every((fact) => fact.aof),
    rdb: facts.some((fact) => fact.rdb === null) ? null : facts.every((fact) => fact.rdb === true),
  };
}

async function readNodeFacts(node: Redis): Promise<RedisFacts> {
  const info = await node.info('persistence');
  const aof = /^aof_enabled:1\s*$/m.test(info);
  try {
    const [, policy] = (await node.config('GET', 'maxmemory-policy')) as [string, string];
    const [, save] = (await node.config('GET', 'save')) as [string, string];
    return { maxmemoryPolicy: policy, aof, rdb: save.trim() !== '' };
  } catch {
    return { maxmemoryPolicy: null, aof, rdb: null };
  }
}

/** Who the masters are: their run ids, sorted. A new one (failover, restart) may lack the last writes. */
export async function masterIdentity(redis: RedisClient): Promise<string> {
  const ids = await Promise.all(masters(redis).map(async (node) => /^run_id:(\S+)/m.exec(await node.info('server'))?.[1] ?? '?'));
  return ids.sort().join(',');
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
