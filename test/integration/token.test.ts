import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
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

  it('fails only the pay whose fresh token iCG refuses; the others go on with it', async () => {
    h = await startHarness({ env: LIMITS, instances: 2 });
    expect((await postJson(`${h.url}/pay/transient-0`, payBody())).status).toBe(200);
    // Two 401s in a row: the pay's token, then the fresh one it got. That pay fails alone.
    h.icg.faults.payUnauthorizedCount = 2;
    const refused = await postJson(`${h.url}/pay/transient-1`, payBody());
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ type: expect.stringContaining('token-refused') });
    const others = await Promise.all(Array.from({ length: 20 }, (_, i) => postJson(`${h?.services[i % 2]?.url ?? ''}/pay/transient-${i + 2}`, payBody())));
    expect(others.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(h.icg.stats.logins).toBe(2);
  });

  it('logs in at most once per five seconds while iCG refuses every token, and recovers within five seconds of accepting them', async () => {
    h = await startHarness({ env: LIMITS, instances: 2 });
    expect((await postJson(`${h.url}/pay/refusing-0`, payBody())).status).toBe(200);
    h.icg.faults.payStatus = 401;
    const refused = await Promise.all(Array.from({ length: 10 }, (_, i) => postJson(`${h?.services[i % 2]?.url ?? ''}/pay/refusing-${i + 1}`, payBody())));
    expect(refused.map((r) => r.status)).toEqual(Array(10).fill(503));
    expect(refused.every((r) => JSON.stringify(r.body).includes('token-refused'))).toBe(true);
    expect(h.icg.stats.logins).toBe(2);
    // Nothing says the credentials were rejected: they were not.
    expect(h.logs.flatMap((log) => log.records()).filter((r) => r['event'] === 'icg_credentials_rejected')).toHaveLength(0);
    h.icg.faults.payStatus = null;
    const recoveredAt = Date.now();
    let status = 0;
    for (let i = 0; status !== 200; i += 1) {
      status = (await postJson(`${h.url}/pay/recovered-${i}`, payBody())).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
      if (Date.now() - recoveredAt > 7000) throw new Error('pays did not recover within 7 s');
    }
    expect(Date.now() - recoveredAt).toBeLessThan(5500);
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

  it('lets a restart with corrected credentials log in at once, though the wrong ones paused logins', async () => {
    const prefix = `test:creds-${Date.now()}:`;
    h = await startHarness({
      env: { ...LIMITS, REDIS_KEY_PREFIX: prefix, ICG_PASSWORD: 'wrong-password', ICG_LOGIN_BACKOFF_MS: '60000', ICG_LOGIN_BACKOFF_MAX_MS: '60000' },
    });
    expect((await postJson(`${h.url}/pay/fixed-0`, payBody())).status).toBe(503);
    const fixed = await startHarness({ icg: h.icg, env: { ...LIMITS, REDIS_KEY_PREFIX: prefix } });
    try {
      expect((await postJson(`${fixed.url}/pay/fixed-1`, payBody())).status).toBe(200);
      // The instance with the wrong password stays paused: the pause is bound to the credentials that were rejected.
      expect((await postJson(`${h.url}/pay/fixed-2`, payBody())).status).toBe(503);
      expect(h.icg.stats.loginsRejected).toBe(1);
    } finally {
      await fixed.close();
    }
  });

  it('reads a rotated password from ICG_PASSWORD_FILE on reload (SIGHUP), without a restart', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'icg-bff-creds-'));
    const file = path.join(dir, 'password');
    writeFileSync(file, 'old-password\n');
    h = await startHarness({ env: { ...LIMITS, ICG_PASSWORD: '', ICG_PASSWORD_FILE: file, ICG_LOGIN_BACKOFF_MS: '60000', ICG_LOGIN_BACKOFF_MAX_MS: '60000' } });
    expect((await postJson(`${h.url}/pay/rotate-0`, payBody())).status).toBe(503);
    writeFileSync(file, 'sandbox-password\n');
    h.services[0]?.reloadCredentials();
    expect((await postJson(`${h.url}/pay/rotate-1`, payBody())).status).toBe(200);
    expect(h.icg.stats.logins).toBe(1);
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
