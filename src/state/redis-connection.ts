import Redis, { type RedisOptions } from 'ioredis';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { sentinelOptions } from './redis-url';
import type { Metrics } from '../metrics';

/**
 * Connection options chosen so that Redis trouble can never hang a payment request:
 * - no offline queue: while disconnected a command fails at once instead of waiting for a reconnect;
 * - one attempt per command and a command timeout: a stalled server costs at most commandTimeoutMs;
 * - reconnect forever with a capped backoff, so the service heals by itself when Redis returns.
 * Auto-pipelining batches the commands issued in one tick (release + store result) into one write.
 */
export function redisOptions(config: Config['redis']): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: config.commandTimeoutMs,
    connectTimeout: config.connectTimeoutMs,
    enableAutoPipelining: true,
    retryStrategy: (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000),
    reconnectOnError: (error: Error) => error.message.startsWith('READONLY'),
    lazyConnect: false,
  };
}

/**
 * The one Redis connection a process uses (token, locks, idempotency and rate limits share it).
 * Connection events drive the redis_up gauge and are logged without the URL (it may hold a password).
 */
export function createRedis(config: Config['redis'], logger: Logger, metrics: Metrics): Redis {
  if (!config.url) throw new Error('createRedis needs REDIS_URL');
  const url = config.url.reveal();
  const options = redisOptions(config);
  const sentinel = sentinelOptions(url);
  const redis = sentinel ? new Redis({ ...options, ...sentinel }) : new Redis(url, options);
  let wasReady = false;
  metrics.redisUp.set(0);
  redis.on('ready', () => {
    metrics.redisUp.set(1);
    logger.info({ event: 'redis_ready' }, wasReady ? 'redis connection restored' : 'redis connected');
    wasReady = true;
  });
  redis.on('close', () => {
    metrics.redisUp.set(0);
    if (wasReady) logger.warn({ event: 'redis_down' }, 'redis connection lost; serving degraded until it returns');
    wasReady = false;
  });
  // ioredis emits 'error' on every failed reconnect; the 'close' line above already says it once.
  redis.on('error', (error: Error) => {
    logger.debug({ event: 'redis_error', err: { message: error.message } }, 'redis error');
  });
  return redis;
}

/** Waits until the client is ready or `timeoutMs` passes; false means start degraded. */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => {
      done(true);
    };
    const timer = setTimeout(() => {
      done(false);
    }, timeoutMs);
    redis.once('ready', onReady);
  });
}
