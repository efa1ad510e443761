import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHarness, payBody, postJson, testRedisUrl, type Harness } from '../support/harness';

const LIMITS = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_INVOICE_MAX: '100000' };

/** N pays at once, each on its own invoice, spread over the harness's instances. */
async function payConcurrently(h: Harness, count: number, tag: string): Promise<number[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const service = h.services[i % h.services.length];
      return (await postJson(`${service?.url}/pay/${tag}-${i}`, payBody())).status;
    }),
  );
}

describe('token management', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('logs in once for 100 concurrent pays on a cold start', async () => {
    h = await startHarness({ env: LIMITS });
    const statuses = await payConcurrently(h, 100, 'cold');
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(h.icg.stats.logins).toBe(1);
  });

  it('logs in once for 100 concurrent pays across two instances sharing Redis', async () => {
    h = await startHarness({ env: LIMITS, instances: 2 });
    const statuses = await payConcurrently(h, 100, 'two');
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(h.icg.stats.logins).toBe(1);
  });

  it('sends the documented login form and never logs in again while the token is fresh', async () => {
    h = await startHarness({ env: LIMITS });
    for (let i = 0; i < 5; i += 1) expect((await postJson(`${h.url}/pay/fresh-${i}`, payBody())).status).toBe(200);
    expect(h.icg.stats.logins).toBe(1);
  });

  it('refreshes ahead of expiry so pays never meet an expired token', async () => {
    h = await startHarness({ env: LIMITS, sandbox: { tokenLifetimeSeconds: 2 } });
    const deadline = Date.now() + 4500;
    let i = 0;
    while (Date.now() < deadline) {
      expect((await postJson(`${h.url}/pay/ahead-${i}`, payBody())).status).toBe(200);
      i += 1;
      await sleep(100);
    }
    expect(h.icg.stats.unauthorizedPays).toBe(0);
    expect(h.icg.stats.logins).toBeGreaterThanOrEqual(2);
    expect(h.icg.stats.logins).toBeLessThanOrEqual(4);
  });

  it('uses the refresh grant when iCG issues a refresh token', async () => {
    h = await startHarness({ env: LIMITS, sandbox: { tokenLifetimeSeconds: 1, issueRefreshTokens: true } });
    expect((await postJson(`${h.url}/pay/refresh-1`, payBody())).status).toBe(200);
    await sleep(1000);
    expect((await postJson(`${h.url}/pay/refresh-2`, payBody())).status).toBe(200);
    expect(h.icg.stats.logins).toBe(1);
    expect(h.icg.stats.refreshes).toBeGreaterThanOrEqual(1);
  });

  it('retries a pay once after iCG answers 401, with a new token', async () => {
    h = await startHarness({ env: LIMITS });
    expect((await postJson(`${h.url}/pay/warm`, payBody())).status).toBe(200);
    h.icg.revokeAllTokens();
    const res = await postJson(`${h.url}/pay/after-401`, payBody());
    expect(res.status).toBe(200);
    expect(h.icg.stats.unauthorizedPays).toBe(1);
    expect(h.icg.stats.logins).toBe(2);
  });

  it('never retries twice: a second 401 is a 503 problem, not a loop', async () => {
    h = await startHarness({ env: LIMITS });
    h.icg.faults.payUnauthorizedCount = 10;
    const res = await postJson(`${h.url}/pay/always-401`, payBody());
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(h.icg.stats.pays).toBe(2);
  });

  it('sends at most one login a second while iCG login is down, answering pays at once meanwhile', async () => {
    h = await startHarness({ env: LIMITS });
    h.icg.faults.loginStatus = 500;
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 20; i += 1) statuses.push((await postJson(`${h.url}/pay/auth-down-${i}`, payBody())).status);
    expect(statuses).toEqual(Array(20).fill(502));
    expect(h.icg.stats.loginAttempts).toBeGreaterThanOrEqual(1);
    expect(h.icg.stats.loginAttempts).toBeLessThanOrEqual(1 + Math.floor((Date.now() - started) / 1000));
    expect(h.icg.stats.pays).toBe(0);
  });

  it('pauses logins when iCG refuses a token it has just issued, instead of logging in for every pay', async () => {
    h = await startHarness({ env: { ...LIMITS, ICG_LOGIN_BACKOFF_MS: '60000', ICG_LOGIN_BACKOFF_MAX_MS: '60000' }, instances: 2 });
    const urls = h.services.map((service) => service.url);
    h.icg.faults.payStatus = 401;
    expect((await postJson(`${urls[0]}/pay/refused-0`, payBody())).status).toBe(503);
    const loginsAfterFirst = h.icg.stats.logins;
    const more = await Promise.all(Array.from({ length: 10 }, (_, i) => postJson(`${urls[i % 2]}/pay/refused-${i + 1}`, payBody())));
    expect(more.map((r) => r.status)).toEqual(Array(10).fill(503));
    expect(Number(more[0]?.headers.get('retry-after'))).toBeGreaterThan(1);
    expect(h.icg.stats.logins).toBe(loginsAfterFirst);
    expect(h.logs.flatMap((log) => log.records()).filter((r) => r['event'] === 'icg_token_refused')).toHaveLength(1);
  });

  it('pauses once, not once per pay, when many pays meet a refused token at the same moment', async () => {
    h = await startHarness({ env: { ...LIMITS, ICG_LOGIN_BACKOFF_MS: '30000', ICG_LOGIN_BACKOFF_MAX_MS: '900000' } });
    expect((await postJson(`${h.url}/pay/warm-refused`, payBody())).status).toBe(200);
    h.icg.faults.payStatus = 401;
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => postJson(`${h?.url ?? ''}/pay/refused-at-once-${i}`, payBody())));
    expect(answers.map((r) => r.status)).toEqual(Array(6).fill(503));
    const retryAfters = answers.map((r) => Number(r.headers.get('retry-after')));
    expect(Math.max(...retryAfters)).toBeGreaterThan(1);
    expect(Math.max(...retryAfters)).toBeLessThanOrEqual(30);
    expect(h.logs[0]?.records().filter((r) => r['event'] === 'icg_token_refused')).toHaveLength(1);
  });

  it('does not throw away a fresh token because another instance saw a stale 401', async () => {
    h = await startHarness({ env: LIMITS, instances: 2 });
    const [a, b] = h.services;
    expect((await postJson(`${a?.url}/pay/s1`, payBody())).status).toBe(200);
    expect((await postJson(`${b?.url}/pay/s2`, payBody())).status).toBe(200);
    expect(h.icg.stats.logins).toBe(1);
    h.icg.revokeAllTokens();
    // B meets the 401 first and stores a new token; A's later 401 must adopt it, not log in again.
    expect((await postJson(`${b?.url}/pay/s3`, payBody())).status).toBe(200);
    expect((await postJson(`${a?.url}/pay/s4`, payBody())).status).toBe(200);
    expect(h.icg.stats.logins).toBe(2);
  });

  it('takes over when the instance holding the login lock died', async () => {
    h = await startHarness({ env: { ...LIMITS, ICG_TIMEOUT_MS: '300' } });
    const redis = new Redis(testRedisUrl());
    const id = createHash('sha256').update('sandbox-client\0sandbox-merchant').digest('hex').slice(0, 16);
    // A lock left by a crashed winner: it expires after its TTL (2 × timeout + 1 s = 1.6 s).
    await redis.set(`${h.config.redis.keyPrefix}token-lock:{${id}}`, 'crashed-owner', 'PX', 1600);
    const started = Date.now();
    const res = await postJson(`${h.url}/pay/after-crash`, payBody());
    await redis.quit();
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(h.icg.stats.logins).toBe(1);
  });

  it('backs off on rejected credentials across instances and says so once', async () => {
    h = await startHarness({ env: { ...LIMITS, ICG_LOGIN_BACKOFF_MS: '60000', ICG_LOGIN_BACKOFF_MAX_MS: '60000' }, instances: 2 });
    h.icg.faults.rejectCredentials = true;
    const first = await postJson(`${h.services[0]?.url}/pay/creds-1`, payBody());
    expect(first.status).toBe(503);
    expect(first.body).toMatchObject({ status: 503, type: expect.stringContaining('upstream-rejected') });
    expect(Number(first.headers.get('retry-after'))).toBeGreaterThan(0);
    const more = await Promise.all([postJson(`${h.services[0]?.url}/pay/creds-2`, payBody()), postJson(`${h.services[1]?.url}/pay/creds-3`, payBody())]);
    expect(more.map((r) => r.status)).toEqual([503, 503]);
    expect(h.icg.stats.loginsRejected).toBe(1);
    expect(h.icg.stats.pays).toBe(0);
    const errorLines = h.logs.flatMap((log) => log.records()).filter((r) => r['event'] === 'icg_credentials_rejected');
    expect(errorLines).toHaveLength(1);
    const metrics = await (await fetch(`${h.services[0]?.url}/metrics`)).text();
    expect(metrics).toMatch(/icg_bff_token_acquisitions_total\{kind="login",result="rejected"\} 1/);
  });

  it('keeps every secret out of responses and logs, at the most verbose level', async () => {
    h = await startHarness({ env: { ...LIMITS, LOG_LEVEL: 'trace', ICG_TIMEOUT_MS: '300' } });
    const responses = [
      await postJson(`${h.url}/pay/secret-1`, payBody(), { Authorization: 'Bearer client-secret-token', Cookie: 'sid=cookie-secret' }),
      await postJson(`${h.url}/pay/secret-2`, payBody({ Method: { RoutingNumber: '083000056', AccountNumber: '446674336' } })),
      await postJson(`${h.url}/pay/secret-3`, { Amount: 'x', Method: { CardNumber: '5454545454545454' } }),
    ];
    h.icg.faults.payStatus = 500;
    responses.push(await postJson(`${h.url}/pay/secret-4`, payBody()));
    const token = String(h.icg.received.at(-1)?.headers['authorization']).replace('Bearer ', '');
    h.icg.faults.payStatus = null;
    h.icg.faults.payHang = true;
    responses.push(await postJson(`${h.url}/pay/secret-5`, payBody()));
    h.icg.faults.payHang = false;
    h.icg.revokeAllTokens();
    h.icg.faults.rejectCredentials = true;
    responses.push(await postJson(`${h.url}/pay/secret-6`, payBody()));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 400, 502, 504, 503]);
    expect(token.length).toBeGreaterThan(20);
    const logs = h.logs[0]?.text ?? '';
    expect(logs).toContain('"level":"debug"');
    const outputs = [logs, ...responses.map((r) => JSON.stringify(r.body) + JSON.stringify([...r.headers]))];
    for (const output of outputs) {
      for (const secret of [
        token,
        'sandbox-password',
        'client-secret-token',
        'cookie-secret',
        '4111111111111111',
        '5454545454545454',
        '446674336',
        '083000056',
      ]) {
        expect(output).not.toContain(secret);
      }
    }
  });
});
