import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/config';
import { startIcgSandbox, type IcgSandbox, type SandboxOptions } from '@icg-bff/icg-sandbox';
import { createMetrics } from '../../src/metrics';
import { startService, type RunningService } from '../../src/service';
import { createRedis } from '../../src/state/redis-connection';
import { RedisState } from '../../src/state/redis-state';

/** The Redis the test run uses (see global-setup). */
export function testRedisUrl(): string {
  const url = process.env['TEST_REDIS_URL'];
  if (!url) throw new Error('TEST_REDIS_URL is unset: run the tests through jest (npm test)');
  return url;
}

/** Captures a service's JSON log lines for assertions (redaction, one line per request). */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean));
    callback();
  }
  get text(): string {
    return this.lines.join('\n');
  }
  records(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

export interface HarnessOptions {
  /** How many app instances share the one Redis prefix. */
  instances?: number;
  /** Environment variables (names as ops set them) on top of the test defaults. */
  env?: Record<string, string>;
  sandbox?: SandboxOptions;
  /** An external sandbox to share (e.g. two harnesses, one iCG). */
  icg?: IcgSandbox;
  /** false: no REDIS_URL (memory state). */
  redisUrl?: string | false;
  /** The instances meet a Redis with no deployment epoch, as a new deployment does (they pause pays a few seconds). */
  isNewDeployment?: boolean;
}

export interface Harness {
  readonly icg: IcgSandbox;
  readonly services: RunningService[];
  readonly logs: LogCapture[];
  readonly config: Config;
  /** The first instance's base URL. */
  readonly url: string;
  close(): Promise<void>;
}

/** The env a test service starts with: the sandbox's URLs and credentials, a Redis prefix of its own. */
export function testEnv(icg: IcgSandbox, redisUrl: string | false, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    ICG_AUTH_URL: icg.url,
    ICG_API_URL: icg.url,
    ICG_CLIENT_ID: 'sandbox-client',
    ICG_USERNAME: 'sandbox-merchant',
    ICG_PASSWORD: 'sandbox-password',
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    REDIS_KEY_PREFIX: `test:${randomUUID().slice(0, 8)}:`,
    LOG_LEVEL: 'debug',
    ...extra,
  };
}

/** Starts the iCG sandbox and N service instances on one Redis prefix, over real HTTP on loopback. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const icg = options.icg ?? (await startIcgSandbox(options.sandbox ?? {}));
  const redisUrl = options.redisUrl === undefined ? testRedisUrl() : options.redisUrl;
  const config = loadConfig(testEnv(icg, redisUrl, options.env));
  if (!options.isNewDeployment) await seedDeploymentEpoch(config.redis);
  const logs: LogCapture[] = [];
  const services: RunningService[] = [];
  for (let i = 0; i < (options.instances ?? 1); i += 1) {
    const log = new LogCapture();
    logs.push(log);
    services.push(await startService(config, { logDestination: log }));
  }
  const first = services[0];
  if (!first) throw new Error('a harness needs at least one instance');
  return {
    icg,
    services,
    logs,
    config,
    url: first.url,
    close: async () => {
      await Promise.all(services.map((service) => service.shutdown()));
      if (!options.icg) await icg.close();
      if (redisUrl) await deleteKeys(redisUrl, config.redis.keyPrefix);
    },
  };
}

/**
 * Writes a deployment epoch under the test's prefix, as a running deployment has one: instances that
 * meet none pause pays for a few seconds (data-loss.ts), which only tests of that want. A Redis the
 * test breaks on purpose (down, a wrong password) is left alone after a short wait.
 */
export async function seedDeploymentEpoch(redisConfig: Config['redis']): Promise<void> {
  if (!redisConfig.url) return;
  const metrics = createMetrics();
  const { redis } = createRedis(redisConfig, pino({ level: 'silent' }), metrics);
  const seen = { error: false };
  redis.once('error', () => {
    seen.error = true;
  });
  try {
    for (const until = Date.now() + 10_000; redis.status !== 'ready' && !seen.error && Date.now() < until;) await sleep(50);
    if (redis.status === 'ready') await new RedisState(redis, redisConfig.keyPrefix, metrics).writeEpoch(randomUUID(), true);
  } catch {
    // Unreachable after all: the instances will meet that themselves.
  } finally {
    redis.disconnect();
  }
}

/** Removes a test's keys from a shared Redis (tokens live a day); a Redis the test killed is skipped. */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  // A Redis the test misconfigured (a wrong password) fails connect(), caught below; without a
  // listener ioredis would also print the error as unhandled.
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } catch {
    // The test stopped this Redis on purpose: nothing to clean.
  } finally {
    redis.disconnect();
  }
}

/** A valid pay body with a test card (approved by the sandbox). */
export function payBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { Amount: 12.5, Type: 'D', Description: 'order 1001', Method: { CardNumber: '4111111111111111', Cvv: '123', Expiration: '1229' }, ...overrides };
}

/** POSTs JSON with fetch (real HTTP), returning status, headers and parsed body. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { raw: text };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}
