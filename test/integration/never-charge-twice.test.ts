import Redis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisProcess } from '../support/redis-server';
import { LogCapture, startHarness, payBody, postJson, testRedisUrl, type Harness } from '../support/harness';
import { startService } from '../../src/service';
import { waitFor, waitForRedisBack } from '../support/wait';

const LIMITS = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_INVOICE_MAX: '100000' };

/** A client that pays with a key and retries on other instances until it hears a final answer; it may hang up on its first try. */
async function payUntilAnswered(
  urls: readonly string[],
  invoice: string,
  key: string,
  options: { hangUpFirstAfterMs?: number } = {},
): Promise<{ status: number; problem: string; attempts: number; refusals: number }> {
  let refusals = 0;
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const url = `${urls[attempt % urls.length] ?? ''}/pay/${invoice}`;
    const init = { method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key }, body: JSON.stringify(payBody()) };
    if (attempt === 0 && options.hangUpFirstAfterMs !== undefined) {
      // The client misses the answer: it gives up and retries, possibly while the first attempt is still at iCG.
      await fetch(url, { ...init, signal: AbortSignal.timeout(options.hangUpFirstAfterMs) }).catch(() => undefined);
      continue;
    }
    const res = await fetch(url, init).catch(() => null);
    const status = res?.status ?? 0;
    if (res && status !== 503 && status !== 409) {
      const problem = status === 200 ? '' : JSON.stringify(await res.json().catch(() => null));
      return { status, problem, attempts: attempt + 1, refusals };
    }
    if (status === 503) refusals += 1;
    await sleep(150);
  }
  throw new Error(`${invoice} got no final answer`);
}

describe('at most one charge per key and per invoice', () => {
  let redis: RedisProcess;
  let h: Harness;
  beforeEach(async () => {
    redis = await RedisProcess.start();
    h = await startHarness({ redisUrl: redis.url, env: { ...LIMITS, LOG_LEVEL: 'info' }, instances: 3 });
  });
  afterEach(async () => {
    await h.close();
    await redis.kill();
  });

  it.each([
    [
      'killed and restarted empty',
      async (r: RedisProcess) => {
        await r.kill();
        await sleep(1500);
        await r.restart();
      },
    ],
    [
      'paused',
      async (r: RedisProcess) => {
        r.pause();
        await sleep(2000);
        r.resume();
      },
    ],
  ])('holds while Redis is %s under many clients that miss answers and retry on other instances', async (_name, fault) => {
    h.icg.faults.payDelayMs = 600;
    const urls = h.services.map((service) => service.url);
    const payments = 60;
    const started = Date.now();
    const clients = Array.from({ length: payments }, async (_, i) => {
      await sleep(i * 25);
      return payUntilAnswered(
        urls.slice(i % 3).concat(urls.slice(0, i % 3)),
        `chaos-${i}`,
        `chaos-key-${started}-${i}`,
        i % 3 === 0 ? { hangUpFirstAfterMs: 200 } : {},
      );
    });
    await waitFor(() => h.icg.stats.pays >= 8, 10_000, 'pays at iCG');
    await fault(redis);
    const answers = await Promise.all(clients);
    const perInvoice = Array.from({ length: payments }, (_, i) => h.icg.stats.paysByInvoice[`chaos-${i}`] ?? 0);
    const dataLossRefusals = h.logs.flatMap((log) => log.records()).filter((r) => r['event'] === 'request' && r['problem'] === 'redis-data-lost').length;
    process.stdout.write(
      `chaos (${_name}): ${payments} keyed payments, ${h.icg.stats.pays} Pay calls, ${answers.reduce((n, a) => n + a.refusals, 0)} refusals (503) while Redis was away or recovering, ${dataLossRefusals} of them for its data loss, max ${Math.max(...perInvoice)} Pay per invoice\n`,
    );
    expect(Math.max(...perInvoice)).toBeLessThanOrEqual(1);
    expect(answers.filter((a) => a.status !== 200).map((a) => `${String(a.status)} ${a.problem}`)).toEqual([]);
  });

  it('refuses every pay for the pay deadline once Redis lost data, even a retry whose first attempt is still at iCG', async () => {
    h.icg.faults.payDelayMs = 1500;
    const key = { 'Idempotency-Key': `data-loss-key-${Date.now()}` };
    const first = postJson(`${h.services[0]?.url ?? ''}/pay/lost-1`, payBody(), key);
    await waitFor(() => h.icg.stats.pays === 1, 5000, 'the first attempt at iCG');
    await redis.kill();
    await redis.restart();
    await waitFor(
      async () =>
        (await fetch(`${h.services[1]?.url ?? ''}/readyz`).then((r) => r.json() as Promise<{ checks: Record<string, unknown> }>)).checks['dataLoss'] !==
        undefined,
      5000,
      'the loss noticed',
    );
    const retry = await postJson(`${h.services[1]?.url ?? ''}/pay/lost-1`, payBody(), key);
    expect(retry.status).toBe(503);
    expect(retry.body).toMatchObject({ type: expect.stringContaining('redis-data-lost') });
    expect(Number(retry.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await first).status).toBe(200);
    await waitForRedisBack(h.services[1]?.url ?? '');
    const later = await postJson(`${h.services[1]?.url ?? ''}/pay/lost-1`, payBody(), key);
    expect(later.headers.get('idempotent-replayed')).toBe('true');
    expect(h.icg.stats.paysByInvoice['lost-1']).toBe(1);
    const lossLines = h.logs.flatMap((log) => log.records()).filter((r) => r['event'] === 'redis_data_lost');
    expect(lossLines.length).toBeGreaterThanOrEqual(1);
    expect(lossLines.length).toBeLessThanOrEqual(3);
  });

  it('keeps answers and holds stored before Redis restarted empty: the instances write them back, so retries replay', async () => {
    const urls = h.services.map((service) => service.url);
    const approvedKey = { 'Idempotency-Key': `kept-approved-${Date.now()}` };
    const unknownKey = { 'Idempotency-Key': `kept-unknown-${Date.now()}` };
    expect((await postJson(`${urls[0] ?? ''}/pay/kept-1`, payBody(), approvedKey)).status).toBe(200);
    h.icg.faults.payStatus = 500;
    expect((await postJson(`${urls[1] ?? ''}/pay/kept-2`, payBody(), unknownKey)).status).toBe(502);
    h.icg.faults.payStatus = null;
    await redis.kill();
    await redis.restart();
    // Clients retry while told 503 (an instance may notice the loss only at this pay).
    const retried = async (invoice: string, key: Record<string, string>) => {
      for (;;) {
        const res = await postJson(`${urls[2] ?? ''}/pay/${invoice}`, payBody(), key);
        if (res.status !== 503) return res;
        await sleep(200);
      }
    };
    await waitForRedisBack(urls[2] ?? '');
    const replayed = await retried('kept-1', approvedKey);
    expect(replayed.status).toBe(200);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    const unknown = await retried('kept-2', unknownKey);
    expect(unknown.status).toBe(502);
    expect(unknown.headers.get('idempotent-replayed')).toBe('true');
    // A new key for the invoice whose outcome is unknown still meets its hold.
    expect((await retried('kept-2', { 'Idempotency-Key': `kept-new-${Date.now()}` })).status).toBe(409);
    expect(h.icg.stats.paysByInvoice['kept-1']).toBe(1);
    expect(h.icg.stats.paysByInvoice['kept-2']).toBe(1);
  });
});

describe('a FLUSHALL', () => {
  let redis: RedisProcess;
  let h: Harness;
  beforeEach(async () => {
    redis = await RedisProcess.start();
    // A pay may outlast the shortest quarantine: every instance must count its pays in flight in.
    h = await startHarness({ redisUrl: redis.url, env: { ...LIMITS, ICG_TIMEOUT_MS: '5000', PAY_DEADLINE_MS: '11000' }, instances: 3 });
  });
  afterEach(async () => {
    await h.close();
    await redis.kill();
  });

  it('notices a FLUSHALL on an instance that gets no pay: its pay at iCG is paid once, its stored answers are replayed', async () => {
    const urls = h.services.map((service) => service.url);
    const storedKey = { 'Idempotency-Key': `flushed-stored-${Date.now()}` };
    const inFlightKey = { 'Idempotency-Key': `flushed-in-flight-${Date.now()}` };
    expect((await postJson(`${urls[0] ?? ''}/pay/flushed-1`, payBody(), storedKey)).status).toBe(200);
    h.icg.faults.payDelayMs = 4500;
    const first = postJson(`${urls[0] ?? ''}/pay/flushed-2`, payBody(), inFlightKey);
    await waitFor(() => h.icg.stats.pays === 2, 5000, 'the second pay at iCG');
    const client = new Redis(redis.url);
    await client.flushall(); // the run id stays the same: only the epoch tells
    await client.quit();
    // The other instances retry both keys until they hear a final answer; the first instance sees no pay.
    const retried = async (invoice: string, key: Record<string, string>) => {
      for (let attempt = 0; attempt < 200; attempt += 1) {
        const res = await postJson(`${urls[1 + (attempt % 2)] ?? ''}/pay/${invoice}`, payBody(), key);
        if (res.status !== 503 && res.status !== 409) return res;
        await sleep(150);
      }
      throw new Error(`${invoice} got no final answer`);
    };
    const [inFlight, stored] = await Promise.all([retried('flushed-2', inFlightKey), retried('flushed-1', storedKey)]);
    expect((await first).status).toBe(200);
    expect([inFlight.status, inFlight.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    expect([stored.status, stored.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    expect([h.icg.stats.paysByInvoice['flushed-1'], h.icg.stats.paysByInvoice['flushed-2']]).toEqual([1, 1]);
  });

  it('pauses an instance that starts on the flushed Redis before the running ones noticed: an invoice held there is not paid again', async () => {
    h.icg.faults.payStatus = 500;
    expect((await postJson(`${h.url}/pay/flushed-held`, payBody())).status).toBe(502);
    h.icg.faults.payStatus = null;
    const client = new Redis(redis.url);
    await client.flushall();
    await client.quit();
    const started = await startService(h.config, { logDestination: new LogCapture() });
    try {
      const statuses: number[] = [];
      for (const until = Date.now() + 6000; Date.now() < until;) {
        statuses.push((await postJson(`${started.url}/pay/flushed-held`, payBody())).status);
        await sleep(100);
      }
      expect(statuses.filter((status) => status !== 503 && status !== 409)).toEqual([]);
      expect(statuses.at(-1)).toBe(409);
      expect(h.icg.stats.paysByInvoice['flushed-held']).toBe(1);
    } finally {
      await started.shutdown();
    }
  });
});

describe('one invoice, however it is written', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { ...LIMITS, RATE_LIMIT_INVOICE_MAX: '3' }, instances: 3 });
  });
  afterAll(async () => h.close());
  beforeEach(() => {
    h.icg.reset();
  });

  it('lets one of 962, 0962 and 00962 reach iCG when they race on three instances, and forwards the id as sent', async () => {
    h.icg.faults.payDelayMs = 300;
    const results = await Promise.all(['962', '0962', '00962'].map((id, i) => postJson(`${h.services[i]?.url ?? ''}/pay/${id}`, payBody())));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    expect(h.icg.stats.pays).toBe(1);
    const winner = ['962', '0962', '00962'][results.findIndex((r) => r.status === 200)];
    expect(h.icg.received[0]?.invoiceId).toBe(winner);
  });

  it('spends one attempt budget across spellings, and treats GUIDs case-insensitively', async () => {
    const spellings = [
      '9F1C2A3B-0000-4C1D-8E2F-123456789ABC',
      '9f1c2a3b00004c1d8e2f123456789abc',
      '9f1c2a3b-0000-4c1d-8e2f-123456789abc',
      '9F1C2A3B00004C1D8E2F123456789ABC',
    ];
    const statuses = [];
    for (const id of spellings) statuses.push((await postJson(`${h.url}/pay/${id}`, payBody())).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("answers 400 for an all-digit id beyond iCG's int range, and sends nothing", async () => {
    for (const id of ['2147483648', '4111111111111111']) expect((await postJson(`${h.url}/pay/${id}`, payBody())).status).toBe(400);
    expect((await postJson(`${h.url}/pay/2147483647`, payBody())).status).toBe(200);
    expect(h.icg.stats.pays).toBe(1);
  });
});

describe('the body', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: LIMITS });
  });
  afterAll(async () => h.close());
  beforeEach(() => {
    h.icg.reset();
  });

  it('reaches iCG byte for byte as the client sent it: no rounding, no re-serialising', async () => {
    const text = '{"Amount": 12.50, "Type": "D",\n "Invoices": [{"Id": 9007199254740993, "Big": 1e400, "Note": "caf\\u00e9"}]}';
    const res = await fetch(`${h.url}/pay/bytes-1`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: text });
    expect(res.status).toBe(200);
    expect(h.icg.received.at(-1)?.raw).toBe(text);
  });

  it.each([
    ['an Amount with more than two decimals', '{"Amount": 12.500000000000001, "Type": "D"}'],
    ['an Amount in exponent form', '{"Amount": 1e2, "Type": "D"}'],
    [
      'a key repeated deep inside, in another letter case',
      '{"Amount": 1, "Type": "D", "Method": {"CardNumber": "4111111111111111", "cardnumber": "5454545454545454"}}',
    ],
  ])('refuses %s with 400 and sends nothing', async (_name, text) => {
    const res = await fetch(`${h.url}/pay/bytes-2`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: text });
    expect(res.status).toBe(400);
    expect(h.icg.stats.pays).toBe(0);
  });
});

describe('an outcome that may have charged', () => {
  it('holds the invoice for UNKNOWN_OUTCOME_HOLD_MS, then lets it be paid again', async () => {
    const h = await startHarness({ env: { ...LIMITS, ICG_TIMEOUT_MS: '300', UNKNOWN_OUTCOME_HOLD_MS: '1500' } });
    try {
      h.icg.faults.payStatus = 502;
      expect((await postJson(`${h.url}/pay/hold-1`, payBody())).status).toBe(502);
      h.icg.faults.payStatus = null;
      const held = await postJson(`${h.url}/pay/hold-1`, payBody(), { 'Idempotency-Key': `hold-key-${Date.now()}` });
      expect(held.status).toBe(409);
      expect(held.body).toMatchObject({ type: expect.stringContaining('invoice-held') });
      await sleep(1600);
      expect((await postJson(`${h.url}/pay/hold-1`, payBody())).status).toBe(200);
      expect(h.icg.stats.paysByInvoice['hold-1']).toBe(2);
    } finally {
      await h.close();
    }
  });

  it('holds nothing with UNKNOWN_OUTCOME_HOLD_MS=0', async () => {
    const h = await startHarness({ env: { ...LIMITS, UNKNOWN_OUTCOME_HOLD_MS: '0' } });
    try {
      h.icg.faults.payStatus = 500;
      expect((await postJson(`${h.url}/pay/nohold-1`, payBody())).status).toBe(502);
      h.icg.faults.payStatus = null;
      expect((await postJson(`${h.url}/pay/nohold-1`, payBody())).status).toBe(200);
    } finally {
      await h.close();
    }
  });

  it('holds the invoice when an instance died with the pay at iCG (the hold is written before forwarding)', async () => {
    const h = await startHarness({ env: { ...LIMITS, UNKNOWN_OUTCOME_HOLD_MS: '60000' } });
    const redis = new Redis(testRedisUrl());
    try {
      // What a crashed instance leaves behind: a pending hold and no lock (it expired).
      const until = Date.now() + 30_000;
      await redis.set(
        `${h.config.redis.keyPrefix}invoice-hold:{crash-1}`,
        JSON.stringify({ payment: 'p', requestId: 'r', state: 'pending', since: Date.now(), until }),
        'PX',
        30_000,
      );
      const res = await postJson(`${h.url}/pay/crash-1`, payBody());
      expect(res.status).toBe(409);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(25);
      expect(h.icg.stats.pays).toBe(0);
    } finally {
      await redis.quit();
      await h.close();
    }
  });
});

describe('bounded time and bounded memory', () => {
  it("answers within PAY_DEADLINE_MS when another instance's login hangs", async () => {
    const h = await startHarness({ env: { ...LIMITS, ICG_TIMEOUT_MS: '1000', PAY_DEADLINE_MS: '3000' }, instances: 2 });
    try {
      h.icg.faults.loginDelayMs = 10_000;
      const hanging = postJson(`${h.services[0]?.url ?? ''}/pay/slow-login-1`, payBody());
      await sleep(100);
      const started = Date.now();
      const res = await postJson(`${h.services[1]?.url ?? ''}/pay/slow-login-2`, payBody());
      expect(Date.now() - started).toBeLessThan(3000 + 500);
      expect([502, 504]).toContain(res.status);
      await hanging;
      expect(h.icg.stats.pays).toBe(0);
    } finally {
      await h.close();
    }
  });

  it('refuses new invoices at the cap of in-process state while Redis is down (REDIS_DOWN_MODE=local), never evicting one', async () => {
    const redis = await RedisProcess.start();
    const h = await startHarness({
      redisUrl: redis.url,
      env: { ...LIMITS, REDIS_DOWN_MODE: 'local', LOCAL_STATE_MAX_ENTRIES: '100', UNKNOWN_OUTCOME_HOLD_MS: '0' },
    });
    try {
      expect((await postJson(`${h.url}/pay/cap-0`, payBody())).status).toBe(200);
      await redis.kill();
      h.icg.faults.payHang = true;
      // 100 invoices in flight fill the cap; the next is refused rather than evicting one of them.
      const inFlight = Array.from({ length: 100 }, (_, i) => postJson(`${h.url}/pay/cap-${i + 1}`, payBody()));
      await waitFor(() => h.icg.stats.pays >= 101, 5000, '100 pays at iCG');
      const refused = await postJson(`${h.url}/pay/cap-next`, payBody());
      expect(refused.status).toBe(503);
      h.icg.faults.payHang = false;
      await Promise.all(inFlight);
    } finally {
      await h.close();
      await redis.kill();
    }
  });
});

describe('shutdown', () => {
  it('answers /readyz 503 at once on SIGTERM, refuses new pays after SHUTDOWN_DELAY_MS, and keeps serving the pay in flight', async () => {
    const h = await startHarness({ env: LIMITS });
    h.icg.faults.payDelayMs = 800;
    const pay = postJson(`${h.url}/pay/drain-1`, payBody());
    await waitFor(() => h.icg.stats.pays === 1, 5000, 'the pay at iCG');
    const stopping = h.services[0]?.shutdown();
    const ready = await fetch(`${h.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'draining' });
    // SHUTDOWN_DELAY_MS is 0 here: a new pay while the one in flight finishes goes elsewhere, and nothing is sent.
    const late = await postJson(`${h.url}/pay/drain-2`, payBody());
    expect(late.status).toBe(503);
    expect(late.headers.get('retry-after')).toBe('1');
    expect((await pay).status).toBe(200);
    expect(h.icg.stats.pays).toBe(1);
    await stopping;
    await h.close();
  });
});
