import { RedisProcess, redisAnswers } from './redis-server';

/**
 * Tests need a real Redis. REDIS_URL wins; else 127.0.0.1:6379 when it answers; else a throwaway
 * redis-server on a free port; else a clear failure. The choice reaches the tests as TEST_REDIS_URL.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env['REDIS_URL']) {
    process.env['TEST_REDIS_URL'] = process.env['REDIS_URL'];
    return;
  }
  if (await redisAnswers(6379)) {
    process.env['TEST_REDIS_URL'] = 'redis://127.0.0.1:6379';
    return;
  }
  let redis: RedisProcess;
  try {
    redis = await RedisProcess.start();
  } catch (error) {
    throw new Error(
      `Tests need Redis: set REDIS_URL, run one on 127.0.0.1:6379, or install redis-server. (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  process.env['TEST_REDIS_URL'] = redis.url;
  (globalThis as { __testRedis?: RedisProcess }).__testRedis = redis;
}
