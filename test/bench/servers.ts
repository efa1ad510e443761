/**
 * The servers both benchmarks start: the iCG sandbox (the workspace package's CLI) and a build of the
 * proxy run as `npm start` runs it, in production mode, on the bench's throwaway Redis.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/redis-server';
import { startProcess, type Started } from './processes';

/** The sandbox's login, the same one the proxies are configured with. */
const CREDENTIALS = { username: 'sandbox-merchant', password: 'sandbox-password', client_id: 'sandbox-client' };
/** Production requires a fingerprint key (builds from before it ignore the variable): one per bench run, shared by every instance. */
const FINGERPRINT_KEYS = `bench:${randomBytes(32).toString('base64')}`;
/** In production the public port serves /metrics only behind a token (the bench reads the heap there). */
export const METRICS_TOKEN = randomBytes(24).toString('base64url');

/** The proxy's environment: production, iCG at `icgUrl` (so never the built-in sandbox mode), Redis at `redisUrl` under `prefix`. */
export function proxyEnv(port: number, icgUrl: string, redisUrl: string, prefix: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    ICG_AUTH_URL: icgUrl,
    ICG_API_URL: icgUrl,
    ICG_CLIENT_ID: CREDENTIALS.client_id,
    ICG_USERNAME: CREDENTIALS.username,
    ICG_PASSWORD: CREDENTIALS.password,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    FINGERPRINT_KEYS,
    METRICS_TOKEN,
    // Limits on (counted in Redis on every pay) but high enough never to refuse the benchmark.
    RATE_LIMIT_MAX: '1000000',
    RATE_LIMIT_INVOICE_MAX: '1000',
    CORS_ORIGINS: 'https://shop.example.com',
    LOG_LEVEL: 'info',
  };
}

export interface ProxyBuild {
  /** The tree whose `dist/main.js` runs (its config/ is found beside dist/). */
  readonly root: string;
  /** Node flags before the script: the tree's start script's, or others to compare. */
  readonly nodeFlags: readonly string[];
}

/** Starts `build` on a free port; its output goes to `<logDir>/<name>.log`. */
export async function startProxy(build: ProxyBuild, icgUrl: string, redisUrl: string, prefix: string, name: string, logDir: string): Promise<Started> {
  mkdirSync(logDir, { recursive: true });
  const log = openSync(path.join(logDir, `${name}.log`), 'w');
  const port = await freePort();
  const started = await startProcess(
    name,
    process.execPath,
    [...build.nodeFlags, path.join(build.root, 'dist/main.js')],
    proxyEnv(port, icgUrl, redisUrl, prefix),
    `http://127.0.0.1:${port}`,
    '/healthz',
    log,
  );
  // On a prefix with no deployment epoch yet, pays wait a few seconds (data-loss.ts): not part of a measurement.
  const pausedUntil = Date.now() + 30_000;
  while (
    Date.now() < pausedUntil &&
    (
      await fetch(`${started.url}/readyz`).then(
        (r) => r.text(),
        () => '',
      )
    ).includes('dataLoss')
  )
    await sleep(250);
  return started;
}

/** The iCG sandbox from the workspace package `@icg-bff/icg-sandbox` (built by `npm run build`), answering at once. */
export async function startSandbox(): Promise<Started> {
  const port = await freePort();
  return startProcess(
    'sandbox',
    process.execPath,
    [require.resolve('@icg-bff/icg-sandbox/dist/cli.js'), '--port', String(port)],
    {},
    `http://127.0.0.1:${port}`,
    '/__sandbox/stats',
  );
}

/** An Authorization header for calling the sandbox directly (the floor the proxies are measured against). */
export async function sandboxAuthorization(sandboxUrl: string): Promise<string> {
  const login = await fetch(`${sandboxUrl}/Login`, {
    method: 'POST',
    headers: { Accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'password', ...CREDENTIALS }),
  });
  if (!login.ok) throw new Error(`sandbox login: ${login.status}`);
  return `Bearer ${((await login.json()) as { access_token: string }).access_token}`;
}
