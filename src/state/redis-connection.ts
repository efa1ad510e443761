import Redis, { Cluster, type RedisOptions } from 'ioredis';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { RedisClient } from './redis-client';
import { clusterOptions, sentinelOptions } from './redis-url';

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

/** What is known about the connection, for logs and /readyz: where it goes and why it last failed. Never a password. */
export interface RedisDiagnosis {
  /** `host:port`, or the sentinels and master name. */
  readonly target: string;
  /** The last connection error, named (`WRONGPASS …`, `ECONNREFUSED …`), or null while connected. */
  lastError: string | null;
}

/**
 * A Redis Cluster client with the same promises: no offline queue (a command fails at once while the
 * cluster is down or refreshing its slots), one attempt per command and node, and redirections
 * (MOVED/ASK during a resharding, TRYAGAIN mid-migration, a failover) followed by ioredis itself.
 * No auto-pipelining: ioredis batches a cluster's commands per node and routes EVALSHA by its SHA,
 * so a batch meeting a MOVED fails whole instead of being redirected (ioredis issues 2075, 2109).
 */
function clusterClient(config: Config['redis'], cluster: NonNullable<ReturnType<typeof clusterOptions>>): Cluster {
  const nodeOptions: RedisOptions = { maxRetriesPerRequest: 1, commandTimeout: config.commandTimeoutMs, connectTimeout: config.connectTimeoutMs };
  return new Cluster(cluster.nodes, {
    enableOfflineQueue: false,
    enableAutoPipelining: false,
    scaleReads: 'master',
    clusterRetryStrategy: redisOptions(config).retryStrategy ?? null,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 50,
    retryDelayOnMoved: 0,
    maxRedirections: 16,
    slotsRefreshTimeout: config.connectTimeoutMs,
    redisOptions: { ...nodeOptions, ...(cluster.password ? { password: cluster.password } : {}), ...(cluster.tls ? { tls: {} } : {}) },
  });
}

/** Where a Redis URL points, without its credentials. */
export function describeTarget(url: string): string {
  const cluster = clusterOptions(url);
  if (cluster) return `cluster ${cluster.nodes.map((node) => `${node.host}:${String(node.port)}`).join(',')}${cluster.tls ? ' (TLS)' : ''}`;
  const sentinel = sentinelOptions(url);
  if (sentinel)
    return `sentinels ${(sentinel.sentinels ?? []).map((s) => `${s.host ?? ''}:${String(s.port ?? 26379)}`).join(',')} (master ${sentinel.name ?? ''})`;
  if (!URL.canParse(url)) return 'redis';
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '6379'}${parsed.protocol === 'rediss:' ? ' (TLS)' : ''}`;
}

/** A connection error as on-call needs it: its code and what that usually means. */
export function nameRedisError(error: Error & { code?: string }): string {
  const code = error.code ?? '';
  if (error.message.startsWith('WRONGPASS')) return 'WRONGPASS: the password (or user) in REDIS_URL is wrong';
  if (error.message.startsWith('NOAUTH')) return 'NOAUTH: Redis requires a password and REDIS_URL has none';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${code}: the host name does not resolve`;
  if (code === 'ECONNREFUSED') return 'ECONNREFUSED: nothing accepts connections at that address';
  if (code === 'ETIMEDOUT' || /ETIMEDOUT/.test(error.message)) return 'ETIMEDOUT: no answer from that address (firewall, wrong host)';
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /certificate|SSL|TLS|wrong version number/i.test(error.message))
    return `TLS: ${code || error.message.slice(0, 80)} (certificate, or rediss:// against a plain port)`;
  if (code === 'ECONNRESET') return 'ECONNRESET: the connection was cut (a TLS port spoken to in plain text, or a proxy)';
  return code ? `${code}: ${error.message.slice(0, 80)}` : error.message.slice(0, 80);
}

/**
 * The one Redis connection a process uses (token, locks, idempotency and rate limits share it).
 * Connection events drive the redis_up gauge and are logged without the URL (it may hold a
 * password): where it goes and, when it fails, the named reason, once per change of reason.
 */
export function createRedis(config: Config['redis'], logger: Logger, metrics: Metrics): { redis: RedisClient; diagnosis: RedisDiagnosis } {
  if (!config.url) throw new Error('createRedis needs REDIS_URL');
  const url = config.url.reveal();
  const options = redisOptions(config);
  const sentinel = sentinelOptions(url);
  const cluster = clusterOptions(url);
  const redis: RedisClient = cluster ? clusterClient(config, cluster) : sentinel ? new Redis({ ...options, ...sentinel }) : new Redis(url, options);
  const diagnosis: RedisDiagnosis = { target: describeTarget(url), lastError: null };
  let wasReady = false;
  metrics.redisUp.set(0);
  redis.on('ready', () => {
    metrics.redisUp.set(1);
    diagnosis.lastError = null;
    logger.info({ event: 'redis_ready', redis: diagnosis.target }, wasReady ? 'redis connection restored' : 'redis connected');
    wasReady = true;
  });
  redis.on('close', () => {
    metrics.redisUp.set(0);
    if (wasReady) logger.warn({ event: 'redis_down', redis: diagnosis.target }, 'redis connection lost; serving degraded until it returns');
    wasReady = false;
  });
  // ioredis emits 'error' on every failed reconnect: log when the reason changes, not every retry.
  redis.on('error', (error: Error) => {
    const reason = nameRedisError(error);
    if (reason !== diagnosis.lastError)
      logger.warn({ event: 'redis_unavailable', redis: diagnosis.target, reason }, `redis at ${diagnosis.target} is unavailable: ${reason}`);
    diagnosis.lastError = reason;
  });
  return { redis, diagnosis };
}

/** Waits until the client is ready or `timeoutMs` passes; false means start degraded. */
export async function waitForRedis(redis: RedisClient, timeoutMs: number): Promise<boolean> {
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
