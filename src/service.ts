import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Redis from 'ioredis';
import type { DestinationStream } from 'pino';
import { createApp } from './app';
import type { Config } from './config';
import { checkRedis, checkToken } from './health-checks';
import { answerUnparsableRequests } from './http/client-error';
import { createRateLimiters } from './http/rate-limit';
import { AnswerFilter } from './icg/answer-filter';
import { IcgClient } from './icg/client';
import { TokenManager } from './icg/token-manager';
import { TokenStore, tokenKeys } from './icg/token-record';
import { createLogger, type Logger } from './logger';
import { createMetrics } from './metrics';
import { IdempotencyStore } from './pay/idempotency';
import { InFlightPays } from './pay/in-flight-pays';
import { InvoiceLocks } from './pay/invoice-locks';
import { PayInvoice } from './pay/pay-invoice';
import { scheduleAnswerScrub } from './pay/scrub-stored-answers';
import { MemoryState } from './state/memory-state';
import { rateLimitStore } from './state/rate-limit-store';
import { createRedis, waitForRedis } from './state/redis-connection';
import { RedisState } from './state/redis-state';
import { RedisTrouble } from './state/redis-trouble';
import { withinMs } from './within';

export interface RunningService {
  readonly url: string;
  readonly server: Server;
  readonly logger: Logger;
  /** Stops taking connections, lets in-flight requests finish (up to SHUTDOWN_DRAIN_MS), closes Redis. */
  shutdown(): Promise<void>;
}

/** How long start-up waits for Redis before serving degraded (readiness says so meanwhile). */
const REDIS_STARTUP_WAIT_MS = 3000;

/**
 * Timeouts derived from ICG_TIMEOUT_MS so every lock outlives the work it guards: a login may try
 * the refresh grant and then the password grant; a pay may wait for a token, pay, get a new token
 * after a 401 and pay once more.
 */
export function guardTimings(timeoutMs: number) {
  const loginLockTtlMs = 2 * timeoutMs + 1000;
  const tokenWaitMs = loginLockTtlMs + 1000;
  // Getting a token: waiting for another instance's login, then a refresh and a login of its own.
  const tokenBudgetMs = tokenWaitMs + 2 * timeoutMs;
  const payBudgetMs = 2 * timeoutMs + 2 * tokenBudgetMs + 1000;
  return { loginLockTtlMs, tokenWaitMs, payBudgetMs, payLockTtlMs: payBudgetMs + 5000 };
}

/** Whether `work` resolves within `ms`. */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return withinMs(ms, work).then(
    () => true,
    () => false,
  );
}

/** Builds every part from the config (the composition root), starts listening, wires shutdown. */
export async function startService(config: Config, options: { logDestination?: DestinationStream } = {}): Promise<RunningService> {
  const logger = createLogger(config, options.logDestination);
  if (config.sandbox) {
    logger.warn(
      { event: 'sandbox_mode', icgUrl: config.icg.apiUrl },
      'SANDBOX MODE: iCG is the built-in simulator, PAYMENTS ARE SIMULATED and nothing is charged. Set ICG_AUTH_URL, ICG_API_URL and the credentials to use the real iCG.',
    );
  }
  const metrics = createMetrics();
  const trouble = new RedisTrouble(metrics, logger);
  const local = new MemoryState();
  let redis: Redis | null = null;
  if (config.redis.url) {
    redis = createRedis(config.redis, logger, metrics);
    if (!(await waitForRedis(redis, REDIS_STARTUP_WAIT_MS)))
      logger.warn({ event: 'redis_unavailable_at_start' }, 'redis is not reachable yet: serving degraded and reconnecting in the background');
  } else {
    metrics.redisUp.set(1);
    logger.warn({ event: 'memory_state' }, 'REDIS_URL is unset: token, limits and idempotency live in this process only (single instance, development only)');
  }
  const state = redis ? new RedisState(redis, config.redis.keyPrefix, metrics) : local;
  const timings = guardTimings(config.icg.timeoutMs);

  const icg = new IcgClient(config.icg, metrics);
  const tokens = new TokenManager({
    grants: icg,
    store: new TokenStore(state, tokenKeys(config.icg.clientId, config.icg.username), trouble),
    policy: config.token,
    backoff: { baseMs: config.icg.loginBackoffMs, maxMs: config.icg.loginBackoffMaxMs },
    lockTtlMs: timings.loginLockTtlMs,
    waitTimeoutMs: timings.tokenWaitMs,
    logger,
    metrics,
  });
  const answerFilter = new AnswerFilter(config.icg.responseExtraFields);
  const idempotency = new IdempotencyStore(state, config.idempotency.ttlSeconds, timings.payLockTtlMs, metrics, logger, trouble);
  const inFlight = new InFlightPays();
  const payInvoice = new PayInvoice({
    icg,
    tokens,
    answerFilter,
    idempotency,
    locks: new InvoiceLocks(state, local, timings.payLockTtlMs, trouble),
    inFlight,
    metrics,
    logger,
  });

  // Redis came back (perhaps empty after a restart): put the shared token there again.
  redis?.on('ready', () => void tokens.republish());
  // Records an earlier version stored with iCG's whole answer are scrubbed in place once Redis answers.
  let stopScrub: (() => void) | null = null;
  const startScrub = (): void => {
    stopScrub ??= scheduleAnswerScrub(state, new AnswerFilter(config.icg.responseExtraFields, true), logger);
  };
  if (redis?.status === 'ready') startScrub();
  else redis?.once('ready', startScrub);

  const stores = {
    client: rateLimitStore('client', redis, config.redis.keyPrefix, config.rateLimit.onRedisDown, trouble),
    invoice: rateLimitStore('invoice', redis, config.redis.keyPrefix, config.rateLimit.onRedisDown, trouble),
  };
  const checkTimeoutMs = Math.min(config.icg.timeoutMs, 2000);
  let isShuttingDown = false;
  const app = createApp({
    config,
    logger,
    metrics,
    payInvoice,
    limiters: createRateLimiters(config.rateLimit, stores, metrics),
    readiness: async () => {
      const [redisCheck, token] = await Promise.all([checkRedis(state, checkTimeoutMs), checkToken(tokens, checkTimeoutMs)]);
      return { redis: redisCheck, token };
    },
    beforeScrape: async () => {
      metrics.tokenExpiry.set(tokens.secondsToExpiry());
      // A PING at each scrape, so a Redis that hangs while connected shows as down.
      metrics.redisUp.set((await checkRedis(state, 1000)).status === 'down' ? 0 : 1);
    },
    isShuttingDown: () => isShuttingDown,
  });
  // Slow-loris and idle keep-alive bounds: receiving a request (headers and a ≤16 KiB body) may take
  // 10 s and 15 s at most, checked every second; the pay itself is bounded by the iCG timeouts.
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 15_000, connectionsCheckingInterval: 1000 }, app);
  server.keepAliveTimeout = 5_000;
  answerUnparsableRequests(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;

  let shutdownPromise: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    shutdownPromise ??= (async () => {
      isShuttingDown = true;
      logger.info({ event: 'shutdown_started', drainMs: config.http.shutdownDrainMs }, 'draining: no new connections, finishing in-flight requests');
      const closed = new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
      // A keep-alive socket turns idle when its in-flight answer is sent: close it then, not at the drain timeout.
      server.closeIdleConnections();
      const idleSweeper = setInterval(() => {
        server.closeIdleConnections();
      }, 50);
      let drained = await settlesWithin(closed, config.http.shutdownDrainMs);
      if (!drained && inFlight.count > 0) {
        // A pay cut off now may still charge, unanswered: let the pays at iCG finish (they are bounded).
        logger.warn({ event: 'shutdown_waiting_for_pays', pays: inFlight.count }, 'drain window over with pays at iCG: waiting for their answers');
        await settlesWithin(inFlight.settled(), timings.payBudgetMs);
        drained = await settlesWithin(closed, 1000);
      }
      clearInterval(idleSweeper);
      if (!drained) {
        logger.warn({ event: 'shutdown_drain_timeout' }, 'drain timeout: closing the remaining connections');
        server.closeAllConnections();
        await closed;
      }
      // A pay whose client left is still at iCG: its outcome must be stored before Redis is closed.
      await settlesWithin(inFlight.settled(), timings.payBudgetMs);
      idempotency.close();
      await settlesWithin(idempotency.settled(), 5000);
      stopScrub?.();
      stores.client.shutdown();
      stores.invoice.shutdown();
      icg.close();
      local.close();
      if (redis) {
        const connection = redis;
        await connection.quit().catch(() => {
          connection.disconnect();
        });
      }
      logger.info({ event: 'shutdown_complete' }, 'shutdown complete');
    })();
    return shutdownPromise;
  };
  logger.info({ event: 'listening', url, sandbox: config.sandbox, redis: redis ? 'redis' : 'memory' }, `icg-bff listening on ${url}`);
  return { url, server, logger, shutdown };
}
