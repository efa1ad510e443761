import { setTimeout as sleep } from 'node:timers/promises';
import { RedisProcess } from '../support/redis-server';
import { startHarness, payBody, postJson, type Harness } from '../support/harness';
import { waitFor } from '../support/wait';

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
    h = await startHarness({ redisUrl: redis.url, env: { ...LIMITS, LOG_LEVEL: 'info' }, instances: 3 });
  });
  afterEach(async () => {
    await h.close();
    await redis.kill();
  });

  it('stores its answer anyway, and the answers stored before are written back, so a retry after the answer never reaches iCG again (3 instances)', async () => {
    h.icg.faults.payDelayMs = 800;
    const urls = h.services.map((service) => service.url);
    const payments = 45;
    let killedAt = Infinity;
    const answeredAt = new Map<number, number>();
    const outcome = { replays: 0, refusedWhileDown: 0 };
    /** Sends until an answer that is not "not now" (503 while Redis is down, 409 while in flight), as a client retrying with its key does. */
    const send = async (i: number, key: Record<string, string>, attempt: number) => {
      for (let tries = 0; tries < 80; tries += 1) {
        const res = await postJson(`${urls[(i + attempt + tries) % urls.length] ?? ''}/pay/lands-${i}`, payBody(), key);
        if (res.status !== 503 && res.status !== 409) return res;
        if (res.status === 503) outcome.refusedWhileDown += 1;
        await sleep(250);
      }
      throw new Error(`payment ${i} got no answer`);
    };
    const client = async (i: number): Promise<void> => {
      await sleep(i * 30);
      const key = { 'Idempotency-Key': `completion-key-${i}-${Date.now()}` };
      expect((await send(i, key, 0)).status).toBe(200);
      answeredAt.set(i, Date.now());
      // The customer retries with the same key on the other instances after hearing the answer.
      for (let retry = 1; retry <= 2; retry += 1) {
        const res = await send(i, key, retry);
        if (res.headers.get('idempotent-replayed') === 'true') outcome.replays += 1;
      }
    };
    const clients = Array.from({ length: payments }, (_, i) => client(i));
    // Kill Redis once some pays were answered and others are at iCG, and bring it back empty three seconds later.
    await waitFor(() => answeredAt.size >= 3, 10_000);
    await redis.kill();
    killedAt = Date.now();
    await sleep(3000);
    await redis.restart();
    await Promise.all(clients);

    // A payment answered before the kill had its record wiped with the rest of Redis: the instance that
    // stored it writes it back once it sees the loss. The others were at iCG during the outage or later.
    const answeredBefore = [...answeredAt].filter(([, at]) => at < killedAt).length;
    const all = Array.from({ length: payments }, (_, i) => i);
    const paysOf = (i: number) => h.icg.stats.paysByInvoice[`lands-${i}`] ?? 0;
    const lost = (
      await Promise.all(urls.map(async (url) => sample(await (await fetch(`${url}/metrics`)).text(), 'icg_bff_idempotency_records_lost_total')))
    ).reduce((a, b) => a + b, 0);
    const republished = h.logs
      .flatMap((log) => log.records())
      .filter((r) => r['event'] === 'records_republished')
      .reduce((n, r) => n + Number(r['answers']), 0);
    process.stdout.write(
      `completion chaos: ${payments} payments, ${h.icg.stats.pays} Pay calls, ${outcome.replays} replays, ${outcome.refusedWhileDown} refused while Redis was down, ${answeredBefore} answered before the kill, ${republished} answers written back, ${lost} in-flight records found gone\n`,
    );
    expect(all.map(paysOf)).toEqual(all.map(() => 1));
    expect(answeredBefore).toBeGreaterThan(0);
    expect(republished).toBeGreaterThanOrEqual(answeredBefore);
  });
});
