import Redis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisProcess } from '../support/redis-server';
import { startHarness, payBody, postJson, type Harness } from '../support/harness';
import { waitFor, waitForRedisBack } from '../support/wait';

// These tests are about the per-process fallback; the default (REDIS_DOWN_MODE=refuse) is tested in rate-limit.test.ts.
const LIMITS = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_INVOICE_MAX: '100000', REDIS_DOWN_MODE: 'local' };

describe('when Redis fails', () => {
  let redis: RedisProcess;
  let h: Harness;
  beforeEach(async () => {
    redis = await RedisProcess.start();
    h = await startHarness({ redisUrl: redis.url, env: LIMITS, instances: 2 });
  });
  afterEach(async () => {
    await h.close();
    await redis.kill();
  });

  it('keeps paying with the cached token, answers quickly, and refuses keyed pays with 503', async () => {
    expect((await postJson(`${h.url}/pay/r1`, payBody())).status).toBe(200);
    await redis.kill();
    const started = Date.now();
    const res = await postJson(`${h.url}/pay/r2`, payBody());
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    const keyed = await postJson(`${h.url}/pay/r3`, payBody(), { 'Idempotency-Key': 'redis-down-key-1' });
    expect(keyed.status).toBe(503);
    expect(Number(keyed.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(h.icg.stats.pays).toBe(2);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/icg_bff_redis_up 0/);
    expect(metrics).toMatch(/icg_bff_degraded_operations_total\{operation="invoice_lock"\} [1-9]/);
  });

  it('still guards one invoice within an instance while Redis is down', async () => {
    expect((await postJson(`${h.url}/pay/r4`, payBody())).status).toBe(200);
    await redis.kill();
    h.icg.faults.payDelayMs = 300;
    const results = await Promise.all([postJson(`${h.url}/pay/r5`, payBody()), postJson(`${h.url}/pay/r5`, payBody())]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
  });

  it('logs in without the shared lock when Redis is down and no token is cached', async () => {
    await redis.kill();
    expect((await postJson(`${h.url}/pay/r6`, payBody())).status).toBe(200);
    expect(h.icg.stats.logins).toBe(1);
  });

  it('answers within the command timeout when Redis hangs, says so in redis_up, and leaves no lock or key behind', async () => {
    expect((await postJson(`${h.url}/pay/r7`, payBody())).status).toBe(200);
    redis.pause();
    try {
      const started = Date.now();
      const res = await postJson(`${h.url}/pay/r8`, payBody());
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(4000);
      expect((await postJson(`${h.url}/pay/r9`, payBody(), { 'Idempotency-Key': 'stalled-key-1' })).status).toBe(503);
      expect(await (await fetch(`${h.url}/metrics`)).text()).toMatch(/^icg_bff_redis_up 0$/m);
    } finally {
      redis.resume();
    }
    // The stalled Redis ran the lock and the reservation after we had given up on them; both were taken back.
    await sleep(200);
    expect((await postJson(`${h.services[1]?.url ?? ''}/pay/r8`, payBody())).status).toBe(200);
    expect((await postJson(`${h.services[1]?.url ?? ''}/pay/r9`, payBody(), { 'Idempotency-Key': 'stalled-key-1' })).status).toBe(200);
    expect(await (await fetch(`${h.url}/metrics`)).text()).toMatch(/^icg_bff_redis_up 1$/m);
  });

  it('sends nothing to iCG for a client that left while its request waited on a stalled Redis', async () => {
    expect((await postJson(`${h.url}/pay/r10`, payBody())).status).toBe(200);
    const paysBefore = h.icg.stats.pays;
    redis.pause();
    try {
      const abandoned = fetch(`${h.url}/pay/r11`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(payBody()),
        signal: AbortSignal.timeout(150),
      });
      await expect(abandoned).rejects.toThrow();
      await sleep(2500);
    } finally {
      redis.resume();
    }
    expect(h.icg.stats.pays).toBe(paysBefore);
  });

  it('stays ready but tells the truth in /readyz while Redis is down, and heals without a restart', async () => {
    expect((await postJson(`${h.url}/pay/r9`, payBody())).status).toBe(200);
    await redis.kill();
    // Redis is shared: every instance would be unready at once, so it is detail, not a 503.
    const ready = await fetch(`${h.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'degraded', checks: { redis: { status: 'down' }, token: { status: 'up' } } });
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);

    await redis.restart();
    // It came back empty: a data loss, so pays wait out the quarantine (PAY_DEADLINE_MS) first.
    await waitForRedisBack(h.url);
    // The token is written back, so the other instance uses it instead of logging in again.
    const client = new Redis(redis.url);
    await waitFor(async () => (await client.keys(`${h.config.redis.keyPrefix}token:*`)).length === 1, 5000, 'the token written back');
    await client.quit();
    await waitForRedisBack(h.services[1]?.url ?? '');
    expect((await postJson(`${h.services[1]?.url}/pay/r10`, payBody())).status).toBe(200);
    expect(h.icg.stats.logins).toBe(1);
    const keyed = await postJson(`${h.url}/pay/r11`, payBody(), { 'Idempotency-Key': 'redis-back-key-1' });
    expect(keyed.status).toBe(200);
  });
});

describe('a misconfigured Redis', () => {
  it.each([
    ['a wrong password', (port: number) => `redis://:wrong-password@127.0.0.1:${port}`, 'WRONGPASS'],
    ['no password where one is required', (port: number) => `redis://127.0.0.1:${port}`, 'NOAUTH'],
    ['nothing listening', () => 'redis://127.0.0.1:1', 'ECONNREFUSED'],
    ['a host that does not resolve', () => 'redis://no-such-host.invalid:6379', 'ENOTFOUND'],
  ])('is named in the log and in /readyz: %s', async (_name, urlOf, reason) => {
    const redis = await RedisProcess.start(undefined, ['--requirepass', 'right-password']);
    const h = await startHarness({ redisUrl: urlOf(redis.port), env: { LOG_LEVEL: 'debug' } });
    try {
      await waitFor(async () => JSON.stringify(await (await fetch(`${h.url}/readyz`)).json()).includes(reason), 5000, `${reason} in /readyz`);
      const ready = (await (await fetch(`${h.url}/readyz`)).json()) as { checks: { redis: { detail: string } } };
      expect(ready.checks.redis.detail).toMatch(/^redis at \S+:\d+ does not answer/);
      const logged = h.logs[0]?.records().find((r) => r['event'] === 'redis_unavailable');
      expect(String(logged?.['reason'])).toContain(reason);
      const text = `${h.logs[0]?.text ?? ''}${JSON.stringify(ready)}`;
      expect(text).not.toContain('wrong-password');
      expect(text).not.toContain('right-password');
    } finally {
      await h.close();
      await redis.kill();
    }
  });
});
