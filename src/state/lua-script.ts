import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client';

/** A Lua script run by SHA (EVALSHA) with a fallback to EVAL when the server has not cached it. */
export class LuaScript {
  readonly sha: string;
  constructor(
    readonly source: string,
    readonly keyCount: number,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, this.keyCount, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.source, this.keyCount, ...keys, ...args);
    }
  }
}
