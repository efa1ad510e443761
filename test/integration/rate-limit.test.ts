import { RedisProcess } from '../support/redis-server';
import { waitForRedisBack } from '../support/wait';
import { startHarness, payBody, postJson, type Harness } from '../support/harness';

describe('rate limits', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('enforces one per-client limit across two instances sharing Redis', async () => {
    h = await startHarness({ env: { RATE_LIMIT_MAX: '4', RATE_LIMIT_INVOICE_MAX: '100' }, instances: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await postJson(`${h.services[i % 2]?.url}/pay/c${i}`, payBody())).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    expect(h.icg.stats.pays).toBe(4);
  });

  it('answers 429 problem+json with Retry-After and the RateLimit headers', async () => {
    h = await startHarness({ env: { RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW_MS: '60000' } });
    const first = await postJson(`${h.url}/pay/h1`, payBody());
    expect(first.headers.get('ratelimit')).toMatch(/"per-client"; r=0; t=\d+/);
    expect(first.headers.get('ratelimit-policy')).toMatch(/"per-client"; q=1; w=60/);
    const limited = await postJson(`${h.url}/pay/h2`, payBody());
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(limited.body).toMatchObject({ status: 429, type: expect.stringContaining('rate-limited') });
  });

  it('gives each invoice a stricter budget of its own', async () => {
    h = await startHarness({ env: { RATE_LIMIT_MAX: '100', RATE_LIMIT_INVOICE_MAX: '2' }, instances: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1)
      statuses.push((await postJson(`${h.services[i % 2]?.url}/pay/same-invoice`, payBody({ Method: { CardNumber: `400000000000000${i}` } }))).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await postJson(`${h.url}/pay/other-invoice`, payBody())).status).toBe(200);
    expect(h.icg.stats.pays).toBe(3);
  });

  it('does not let a client reset its limit with X-Forwarded-For unless TRUST_PROXY says so', async () => {
    h = await startHarness({ env: { RATE_LIMIT_MAX: '2', RATE_LIMIT_INVOICE_MAX: '100' } });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await postJson(`${h.url}/pay/x${i}`, payBody(), { 'X-Forwarded-For': `10.0.0.${i}` })).status);
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('counts each forwarded client on its own behind a trusted proxy', async () => {
    h = await startHarness({ env: { RATE_LIMIT_MAX: '1', RATE_LIMIT_INVOICE_MAX: '100', TRUST_PROXY: 'loopback' } });
    expect((await postJson(`${h.url}/pay/p1`, payBody(), { 'X-Forwarded-For': '203.0.113.1' })).status).toBe(200);
    expect((await postJson(`${h.url}/pay/p2`, payBody(), { 'X-Forwarded-For': '203.0.113.2' })).status).toBe(200);
    expect((await postJson(`${h.url}/pay/p3`, payBody(), { 'X-Forwarded-For': '203.0.113.1' })).status).toBe(429);
  });

  it('does not limit health, readiness or metrics', async () => {
    h = await startHarness({ env: { RATE_LIMIT_MAX: '1' } });
    for (let i = 0; i < 5; i += 1) {
      expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${h.url}/readyz`)).status).toBe(200);
      expect((await fetch(`${h.url}/metrics`)).status).toBe(200);
    }
  });

  it('prints no express-rate-limit validation warnings', async () => {
    const errors: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void errors.push(args.map(String).join(' ')));
    const warn = jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void errors.push(args.map(String).join(' ')));
    try {
      h = await startHarness({ env: { RATE_LIMIT_MAX: '5' } });
      await postJson(`${h.url}/pay/w1`, payBody(), { 'X-Forwarded-For': '1.2.3.4' });
    } finally {
      spy.mockRestore();
      warn.mockRestore();
    }
    expect(errors.filter((e) => e.includes('ERR_ERL'))).toEqual([]);
  });
});

describe('rate limits when Redis is unreachable', () => {
  let redis: RedisProcess;
  let h: Harness | undefined;
  beforeEach(async () => {
    redis = await RedisProcess.start();
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await redis.kill();
  });

  it('counts in each process with REDIS_DOWN_MODE=local, without hanging', async () => {
    h = await startHarness({ redisUrl: redis.url, env: { RATE_LIMIT_MAX: '2', RATE_LIMIT_INVOICE_MAX: '100', REDIS_DOWN_MODE: 'local' } });
    await redis.kill();
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await postJson(`${h.url}/pay/o${i}`, payBody())).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('refuses every pay with 503 by default (REDIS_DOWN_MODE=refuse), and reaches no iCG', async () => {
    h = await startHarness({ redisUrl: redis.url });
    expect((await postJson(`${h.url}/pay/z0`, payBody())).status).toBe(200);
    await redis.kill();
    const res = await postJson(`${h.url}/pay/z1`, payBody());
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(h.icg.stats.pays).toBe(1);
  });

  it('counts in Redis again once it returns', async () => {
    h = await startHarness({ redisUrl: redis.url, env: { RATE_LIMIT_MAX: '100', RATE_LIMIT_INVOICE_MAX: '100', REDIS_DOWN_MODE: 'local' } });
    await redis.kill();
    expect((await postJson(`${h.url}/pay/b1`, payBody())).status).toBe(200);
    await redis.restart();
    // Redis came back empty: a data loss, so pays wait out the quarantine first (PAY_DEADLINE_MS).
    await waitForRedisBack(h.url);
    const res = await postJson(`${h.url}/pay/b2`, payBody());
    expect(res.headers.get('ratelimit')).toMatch(/r=99;/);
  });
});
