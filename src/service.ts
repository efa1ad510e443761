import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { createApp } from './app';
import type { Config } from './config';
import { guardTimings } from './guard-timings';
import { checkRedis, checkToken, type Check } from './health-checks';
import { createAdminApp } from './http/admin-app';
import { answerUnparsableRequests } from './http/client-error';
import { readinessStatus } from './http/health';
import { createRateLimiters } from './http/rate-limit';
import { AnswerFilter } from './icg/answer-filter';
import { IcgClient } from './icg/client';
import { CredentialsProvider } from './icg/credentials';
import { TokenManager } from './icg/token-manager';
import { Keyring } from './keyring';
import { createLogger, type Logger } from './logger';
import { createMetrics, recordReadiness } from './metrics';
import { IdempotencyStore } from './pay/idempotency';
import { InFlightPays } from './pay/in-flight-pays';
import { InvoiceGuard } from './pay/invoice-guard';
import { Journal } from './pay/journal';
import { PayInvoice } from './pay/pay-invoice';
import { resolvePayment } from './pay/reconcile';
import { scheduleAnswerScrub } from './pay/scrub-stored-answers';
import { DataLossGuard, MASTER_CHECK_INTERVAL_MS } from './state/data-loss';
import { MemoryJournalStore, RedisJournalStore } from './state/journal-store';
import { LandingWrites } from './state/landing-writes';
import { MemoryState } from './state/memory-state';
import { rateLimitStore } from './state/rate-limit-store';
import type { RedisClient } from './state/redis-client';
import { createRedis, waitForRedis, type RedisDiagnosis } from './state/redis-connection';
import { blockingProblem, masterIdentity, readRedisFacts, type RedisFacts } from './state/redis-requirements';
import { RedisState } from './state/redis-state';
import { RedisTrouble } from './state/redis-trouble';
import { withinMs } from './within';

export interface RunningService {
  readonly url: string;
  /** The admin listener (/metrics, /admin): loopback by default. */
  readonly adminUrl: string;
  readonly server: Server;
  readonly logger: Logger;
  /** Reads the iCG credential files again (SIGHUP). */
  reloadCredentials(): void;
  /** Readiness 503 at once; the listener closes once pays in flight are done; connections drain; Redis closes. */
  shutdown(): Promise<void>;
}

/** Thrown at start-up when Redis is configured in a way that could charge a payment twice (production only). */
export class RedisMisconfigured extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = 'RedisMisconfigured';
  }
}

/** How often Redis's configuration (eviction policy, persistence) is read again. */
const REDIS_FACTS_INTERVAL_MS = 60_000;

/** How long start-up waits for Redis before serving degraded (readiness detail says so meanwhile). */
const REDIS_STARTUP_WAIT_MS = 3000;

/** Whether `work` resolves within `ms`. */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return withinMs(ms, work).then(
    () => true,
    () => false,
  );
}

async function listen(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return urlOf(server);
}

/** The admin listener on ADMIN_PORT; with `auto`, a port taken by another instance on this host falls back to a free one. */
async function listenAdmin(server: Server, settings: Config['admin'], logger: Logger): Promise<string> {
  try {
    return await listen(server, settings.port.port, settings.host);
  } catch (error) {
    if (settings.port.isFixed || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    const url = await listen(server, 0, settings.host);
    logger.warn({ event: 'admin_port_taken', adminUrl: url }, `port ${settings.port.port} is taken: the admin listener uses ${url} (set ADMIN_PORT to choose)`);
    return url;
  }
}

function urlOf(server: Server): string {
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${shown === '0.0.0.0' || shown === '[::]' ? '127.0.0.1' : shown}:${address.port}`;
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
  const landing = new LandingWrites(logger);
  const local = new MemoryState(Date.now, config.redis.localStateMaxEntries);
  const keyring = Keyring.fromSetting(config.idempotency.fingerprintKeys, config.idempotency.fingerprintKeysFile) ?? Keyring.development();
  if (keyring.currentId === 'dev')
    logger.warn(
      { event: 'development_fingerprint_key' },
      'FINGERPRINT_KEYS is unset: request fingerprints use the public development key (never in production)',
    );
  const credentials = new CredentialsProvider(config.icg.credentials);

  let redis: RedisClient | null = null;
  let diagnosis: RedisDiagnosis | null = null;
  let redisFacts: RedisFacts | null = null;
  if (config.redis.url) {
    ({ redis, diagnosis } = createRedis(config.redis, logger, metrics));
    if (!(await waitForRedis(redis, REDIS_STARTUP_WAIT_MS))) {
      logger.warn(
        { event: 'redis_unavailable_at_start', redis: diagnosis.target, reason: diagnosis.lastError },
        `redis at ${diagnosis.target} is not reachable yet (${diagnosis.lastError ?? 'no answer'}): serving degraded and reconnecting in the background`,
      );
    }
  } else {
    metrics.redisUp.set(1);
    logger.warn(
      { event: 'memory_state' },
      'REDIS_URL is unset: token, limits, idempotency and the journal live in this process only (single instance, development only)',
    );
  }
  const state = redis ? new RedisState(redis, config.redis.keyPrefix, metrics) : local;
  const connection = redis;
  const inFlight = new InFlightPays();
  const dataLoss = connection
    ? new DataLossGuard(state, config.pay.deadlineMs, metrics, logger, {
        mastersOf: () => masterIdentity(connection).catch(() => null),
        paysInFlight: inFlight,
      })
    : null;
  const timings = guardTimings(config.icg.timeoutMs, config.pay.deadlineMs);

  const icg = new IcgClient(config.icg, metrics);
  const tokens = new TokenManager({
    grants: icg,
    credentials,
    keyring,
    state,
    trouble,
    policy: config.token,
    backoff: { baseMs: config.icg.loginBackoffMs, maxMs: config.icg.loginBackoffMaxMs },
    callTimeoutMs: config.icg.timeoutMs,
    lockTtlMs: timings.loginLockTtlMs,
    waitTimeoutMs: timings.tokenWaitMs,
    logger,
    metrics,
  });
  const answerFilter = new AnswerFilter(config.icg.responseExtraFields);
  const idempotency = new IdempotencyStore(state, config.idempotency.ttlSeconds, timings.payLockTtlMs, dataLoss, landing, metrics, logger, trouble);
  const invoices = new InvoiceGuard({
    shared: state,
    local,
    downMode: config.redis.downMode,
    lockTtlMs: timings.payLockTtlMs,
    holdMs: config.pay.unknownOutcomeHoldMs,
    dataLoss,
    landing,
    trouble,
    metrics,
    logger,
  });
  const journalBounds = { maxEntries: config.journal.maxEntries, maxAgeMs: config.journal.maxAgeDays * 86_400_000 };
  const journal = new Journal(
    redis ? new RedisJournalStore(redis, config.redis.keyPrefix, journalBounds, metrics) : new MemoryJournalStore(journalBounds),
    trouble,
    logger,
    metrics,
    timings.payLockTtlMs,
  );
  // Redis lost data: write back what must outlive it, so a retry after the quarantine replays instead of paying again.
  dataLoss?.onLoss(() =>
    trouble.tolerate('republish', async () => {
      const [answers, holds, journalEntries] = await Promise.all([idempotency.republish(), invoices.republish(), journal.republish()]);
      logger.warn(
        { event: 'records_republished', answers, holds, journalEntries },
        'wrote back the payment records this instance stored lately that Redis had lost',
      );
    }),
  );
  const payInvoice = new PayInvoice({
    icg,
    tokens,
    answerFilter,
    keyring,
    idempotency,
    invoices,
    journal,
    dataLoss,
    inFlight,
    statuses: { approved: config.icg.statusApproved, declined: config.icg.statusDeclined },
    deadlineMs: config.pay.deadlineMs,
    callTimeoutMs: config.icg.timeoutMs,
    metrics,
    logger,
  });

  // Each time Redis is (again) ready: did it lose data? what is it? and put the shared token back.
  let stopScrub: (() => void) | null = null;
  const refreshRedisFacts = async (connection: RedisClient): Promise<RedisFacts | null> => {
    const facts = await readRedisFacts(connection).catch(() => null);
    if (!facts) return null;
    const problem = blockingProblem(facts);
    if (problem && problem !== (redisFacts && blockingProblem(redisFacts))) logger.error({ event: 'redis_misconfigured' }, problem);
    redisFacts = facts;
    return facts;
  };
  const onRedisReady = async (connection: RedisClient): Promise<RedisFacts | null> => {
    await trouble.tolerate('data_loss_check', async () => dataLoss?.check());
    const facts = await refreshRedisFacts(connection);
    await tokens.republish();
    // Records an earlier version stored with iCG's whole answer are scrubbed in place.
    stopScrub ??= scheduleAnswerScrub(state, new AnswerFilter(config.icg.responseExtraFields, true), logger);
    return facts;
  };
  if (redis) {
    const connection = redis;
    if (connection.status === 'ready') {
      const facts = await onRedisReady(connection);
      const problem = facts ? blockingProblem(facts) : null;
      if (problem && config.env === 'production') {
        connection.disconnect();
        throw new RedisMisconfigured(problem);
      }
    }
    connection.on('ready', () => void onRedisReady(connection));
    // A cluster that changed its topology may have a new master that lacks the last writes: the cheap
    // check at once (a resharding refreshes the slots on every MOVED, so it runs often then).
    for (const event of ['+node', '-node', 'refresh']) connection.on(event, () => void trouble.tolerate('data_loss_check', async () => dataLoss?.recheck()));
    // Unknown eviction policy (a managed Redis forbidding CONFIG) or no AOF: a warning, so it is seen.
    const facts = redisFacts as RedisFacts | null; // set by onRedisReady above
    const isDoubtful = facts !== null && (facts.maxmemoryPolicy === null || !facts.aof);
    logger[isDoubtful ? 'warn' : 'info']({ event: 'redis_requirements', facts }, describeFacts(facts));
  }
  // Between reconnects, a failover or a FLUSHALL, or a loss another instance noticed: checked every few seconds.
  const masterWatch = setInterval(() => {
    if (redis?.status === 'ready') void trouble.tolerate('data_loss_check', async () => dataLoss?.recheck());
  }, MASTER_CHECK_INTERVAL_MS);
  masterWatch.unref();
  // An eviction policy set on a running Redis (CONFIG SET) is as dangerous as one set before start.
  const factsWatch = setInterval(() => {
    if (redis?.status === 'ready') void refreshRedisFacts(redis);
  }, REDIS_FACTS_INTERVAL_MS);
  factsWatch.unref();

  const stores = {
    client: rateLimitStore('client', redis, config.redis.keyPrefix, config.redis.downMode, config.redis.localStateMaxEntries, trouble),
    invoice: rateLimitStore('invoice', redis, config.redis.keyPrefix, config.redis.downMode, config.redis.localStateMaxEntries, trouble),
  };
  const checkTimeoutMs = Math.min(config.icg.timeoutMs, 2000);
  let isDraining = false;
  /** The checks /readyz shows. With `mayLogIn` false (a metrics scrape) a missing token is not fetched: a scrape has no side effects. */
  const readiness = async (mayLogIn = true): Promise<Record<string, Check>> => {
    const [redisCheck, token] = await Promise.all([
      checkRedis(state, checkTimeoutMs),
      mayLogIn ? checkToken(tokens, checkTimeoutMs) : Promise.resolve<Check>({ status: 'up', detail: 'not checked at scrape time' }),
    ]);
    const quarantine = dataLoss?.quarantineLeftMs ?? 0;
    const named =
      redisCheck.status === 'down' && diagnosis
        ? { detail: `redis at ${diagnosis.target} does not answer: ${diagnosis.lastError ?? 'command timeout (stalled?)'}` }
        : {};
    const misconfigured = redisFacts ? blockingProblem(redisFacts) : null;
    const redisDetail: Check = {
      ...redisCheck,
      ...named,
      ...(redisFacts ? { persistence: { aof: redisFacts.aof, rdb: redisFacts.rdb }, maxmemoryPolicy: redisFacts.maxmemoryPolicy } : {}),
    };
    const tokenDetail: Check = tokens.isCredentialsRejected ? { ...token, status: 'down', detail: 'iCG rejected the credentials; logins are paused' } : token;
    return {
      redis: redisDetail,
      token: tokenDetail,
      ...(quarantine > 0
        ? {
            dataLoss: {
              status: 'down',
              detail: `Redis lost data, or held no deployment epoch: pays refused until the pays in flight then have ended (${Math.ceil(quarantine / 1000)} s at most)`,
            },
          }
        : {}),
      ...(misconfigured ? { redisConfig: { status: 'down', detail: misconfigured } } : {}),
    };
  };
  const beforeScrape = async () => {
    metrics.tokenExpiry.set(tokens.secondsToExpiry());
    metrics.payQuarantine.set((dataLoss?.quarantineLeftMs ?? 0) / 1000);
    // A PING at each scrape, so a Redis that hangs while connected shows as down.
    metrics.redisUp.set((await checkRedis(state, 1000)).status === 'down' ? 0 : 1);
    await trouble.tolerate('journal', async () => {
      metrics.unresolvedPayments.set(await journal.countUnresolved());
    });
    // Set at every scrape, so the readiness alert does not depend on load-balancer probes.
    recordReadiness(metrics, readinessStatus(await readiness(false), isDraining));
  };
  const app = createApp({
    config,
    logger,
    metrics,
    payInvoice,
    limiters: createRateLimiters(config.rateLimit, stores, metrics),
    readiness: () => readiness(true),
    beforeScrape,
    isDraining: () => isDraining,
  });
  // Slow-loris and idle keep-alive bounds: receiving a request (headers and a ≤16 KiB body) may take
  // 10 s and 15 s at most, checked every second; the pay itself is bounded by PAY_DEADLINE_MS.
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 15_000, connectionsCheckingInterval: 1000 }, app);
  server.keepAliveTimeout = 5_000;
  answerUnparsableRequests(server);
  const adminServer = createServer(
    createAdminApp({
      logger,
      metrics,
      registry: metrics.registry,
      beforeScrape,
      metricsToken: config.http.metricsToken,
      adminToken: config.admin.token,
      journal,
      resolve: (id, resolution) => resolvePayment({ journal, invoices, idempotency, metrics, logger }, id, resolution),
    }),
  );
  const url = await listen(server, config.port, config.host);
  const adminUrl = await listenAdmin(adminServer, config.admin, logger);

  let shutdownPromise: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    shutdownPromise ??= (async () => {
      isDraining = true;
      logger.info(
        { event: 'shutdown_started', delayMs: config.http.shutdownDelayMs, drainMs: config.http.shutdownDrainMs },
        'draining: readiness is 503; new pays are refused after the shutdown delay, and pays in flight finish before the listener closes',
      );
      // The load balancer needs a moment to see readiness fail; pays already running are answered.
      await new Promise((resolve) => setTimeout(resolve, config.http.shutdownDelayMs));
      // From here new pays go elsewhere (503, nothing sent): the ones in flight are the last to wait for.
      payInvoice.close();
      if (inFlight.count > 0)
        logger.info({ event: 'shutdown_waiting_for_pays', pays: inFlight.count }, 'waiting for pays in flight before closing the listener');
      await settlesWithin(inFlight.settled(), config.pay.deadlineMs);
      const closed = new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      const adminClosed = new Promise<void>((resolve) => {
        adminServer.close(() => {
          resolve();
        });
      });
      // A keep-alive socket turns idle when its in-flight answer is sent: close it then, not at the drain timeout.
      server.closeIdleConnections();
      adminServer.closeIdleConnections();
      const idleSweeper = setInterval(() => {
        server.closeIdleConnections();
      }, 50);
      let drained = await settlesWithin(closed, config.http.shutdownDrainMs);
      if (!drained && inFlight.count > 0) {
        // A pay cut off now may still charge, unanswered: let the pays at iCG finish (they are bounded).
        await settlesWithin(inFlight.settled(), config.pay.deadlineMs);
        drained = await settlesWithin(closed, 1000);
      }
      clearInterval(idleSweeper);
      if (!drained) {
        logger.warn({ event: 'shutdown_drain_timeout' }, 'drain timeout: closing the remaining connections');
        server.closeAllConnections();
        await closed;
      }
      adminServer.closeAllConnections();
      await adminClosed;
      // A pay whose client left is still at iCG: its outcome must be stored before Redis is closed.
      await settlesWithin(inFlight.settled(), config.pay.deadlineMs);
      landing.close();
      await settlesWithin(landing.settled(), 5000);
      stopScrub?.();
      clearInterval(masterWatch);
      clearInterval(factsWatch);
      dataLoss?.close();
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
  const reloadCredentials = () => {
    try {
      if (!tokens.reloadCredentials()) logger.info({ event: 'icg_credentials_unchanged' }, 'SIGHUP: iCG credentials read again, unchanged');
    } catch (error) {
      logger.error(
        { event: 'icg_credentials_unreadable', err: { message: error instanceof Error ? error.message : 'unknown' } },
        'SIGHUP: could not read the iCG credential files; the previous credentials stay',
      );
    }
  };
  logger.info(
    { event: 'listening', url, adminUrl, sandbox: config.sandbox, redis: redis ? 'redis' : 'memory' },
    `icg-bff listening on ${url} (admin on ${adminUrl})`,
  );
  return { url, adminUrl, server, logger, reloadCredentials, shutdown };
}

function describeFacts(facts: RedisFacts | null): string {
  if (!facts) return 'redis not reachable yet: its persistence and eviction policy are checked when it is';
  const persistence = facts.aof ? 'AOF on' : facts.rdb === true ? 'RDB snapshots only (the last writes can be lost)' : 'no persistence (a restart empties it)';
  return `redis: ${persistence}; maxmemory-policy ${facts.maxmemoryPolicy ?? 'unknown (CONFIG not allowed)'}`;
}
