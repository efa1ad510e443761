import { setTimeout as sleep } from 'node:timers/promises';
import { RedisProcess } from '../support/redis-server';
import { startHarness, payBody, postJson, type Harness } from '../support/harness';

const LIMITS = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_INVOICE_MAX: '100000' };

/** The value of one sample in Prometheus text (0 when the series has none yet). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('a keyed pay whose Redis is restarted empty while it is at iCG', () => {
  let redis: RedisProcess;
  let h: Harness;
  beforeEach(async () => {
    redis = await RedisProcess.start();
    h = await startHarness({ redisUrl: redis.url, env: { ...LIMITS, ICG_TIMEOUT_MS: '5000', LOG_LEVEL: 'info' }, instances: 3 });
  });
  afterEach(async () => {
    await h.close();
    await redis.kill();
  });

  it('stores its answer anyway, so a retry after the answer never reaches iCG again (3 instances)', async () => {
    h.icg.faults.payDelayMs = 800;
    const urls = h.services.map((service) => service.url);
    const payments = 45;
    const outcome = { first: new Map<number, number>(), replays: 0, refusedWhileDown: 0 };
    const client = async (i: number): Promise<void> => {
      await sleep(i * 30);
      const key = { 'Idempotency-Key': `completion-key-${i}-${Date.now()}` };
      let attempt = 0;
      // Until the first answer from iCG arrives: 503 (Redis down) and 409 (in flight) mean "not answered yet".
      for (;;) {
        const res = await postJson(`${urls[(i + attempt) % urls.length] ?? ''}/pay/lands-${i}`, payBody(), key);
        attempt += 1;
        if (res.status !== 503 && res.status !== 409) {
          outcome.first.set(i, res.status);
          break;
        }
        if (res.status === 503) outcome.refusedWhileDown += 1;
        if (attempt > 60) throw new Error(`payment ${i} got no answer`);
        await sleep(250);
      }
      // The customer retries with the same key on the other instances after hearing the answer.
      for (let retry = 1; retry <= 2; retry += 1) {
        const res = await postJson(`${urls[(i + attempt + retry) % urls.length] ?? ''}/pay/lands-${i}`, payBody(), key);
        expect(res.headers.get('idempotent-replayed')).toBe('true');
        outcome.replays += 1;
      }
    };
    const clients = Array.from({ length: payments }, (_, i) => client(i));
    // Kill Redis while the first pays are at iCG, and bring it back empty three seconds later.
    while (h.icg.stats.pays < 5) await sleep(10);
    await redis.kill();
    await sleep(3000);
    await redis.restart();
    await Promise.all(clients);

    const perInvoice = Object.values(h.icg.stats.paysByInvoice);
    const lost = (
      await Promise.all(urls.map(async (url) => sample(await (await fetch(`${url}/metrics`)).text(), 'icg_bff_idempotency_records_lost_total')))
    ).reduce((a, b) => a + b, 0);
    process.stdout.write(
      `completion chaos: ${payments} payments, ${h.icg.stats.pays} Pay calls, ${outcome.replays} replays, ${outcome.refusedWhileDown} refused while Redis was down, ${lost} records recreated after the wipe\n`,
    );
    expect([...outcome.first.values()].every((status) => status === 200)).toBe(true);
    expect(perInvoice).toHaveLength(payments);
    expect(Math.max(...perInvoice)).toBe(1);
    expect(lost).toBeGreaterThan(0);
  });
});
