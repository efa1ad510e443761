import { setTimeout as sleep } from 'node:timers/promises';
import { payBody, postJson, startHarness, type Harness } from '../support/harness';
import { PayLoad } from '../support/pay-load';
import { ClusterTopology } from '../support/redis-topology';
import { failoverUnderLoad } from './failover';

const LIMITS = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_INVOICE_MAX: '100000' };

describe('Redis Cluster: three masters, three replicas', () => {
  let topology: ClusterTopology;
  let h: Harness | null = null;
  beforeAll(async () => {
    topology = await ClusterTopology.start();
  });
  afterEach(async () => {
    await h?.close();
    h = null;
  });
  afterAll(async () => {
    await topology.stop();
  });

  it('scales out: one login for a burst and one at expiry, one Pay per key across instances, one shared limit', async () => {
    const harness = await startHarness({
      redisUrl: topology.url,
      instances: 3,
      env: { RATE_LIMIT_MAX: '44', RATE_LIMIT_INVOICE_MAX: '1000', TOKEN_REFRESH_MARGIN_RATIO: '0.5' },
      sandbox: { tokenLifetimeSeconds: 30 },
    });
    h = harness;
    const url = (i: number) => harness.services[i % 3]?.url ?? '';
    const burst = await Promise.all(Array.from({ length: 30 }, async (_, i) => (await postJson(`${url(i)}/pay/c-${String(i)}`, payBody())).status));
    expect(burst.filter((s) => s !== 200)).toEqual([]);
    expect(harness.icg.stats.logins).toBe(1);
    // Half the token's life later it is renewed: once, for a burst on every instance.
    await sleep(15_500);
    const atExpiry = await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await postJson(`${url(i)}/pay/e-${String(i)}`, payBody())).status));
    expect(atExpiry.filter((s) => s !== 200)).toEqual([]);
    expect(harness.icg.stats.logins + harness.icg.stats.refreshes).toBe(2);
    harness.icg.faults.payDelayMs = 200;
    const key = { 'Idempotency-Key': `cluster-key-${String(Date.now())}` };
    const once = await Promise.all([0, 1, 2].map((i) => postJson(`${url(i)}/pay/c-idem`, payBody(), key)));
    expect(once.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    const replays = await Promise.all([0, 1, 2].map((i) => postJson(`${url(i)}/pay/c-idem`, payBody(), key)));
    expect(replays.map((r) => r.headers.get('idempotent-replayed'))).toEqual(['true', 'true', 'true']);
    expect(harness.icg.stats.paysByInvoice['c-idem']).toBe(1);
    // 30 + 5 + 3 + 3 of the 44 allowed per client (replays count too) are spent: of 5 more, on any instance, 3 pass.
    const over = await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await postJson(`${url(i)}/pay/c-over-${String(i)}`, payBody())).status));
    expect(over.filter((s) => s === 200)).toHaveLength(3);
    expect(over.filter((s) => s === 429)).toHaveLength(2);
  });

  it('reshards slots under load with no 5xx answer and no Pay twice', async () => {
    const harness = await startHarness({ redisUrl: topology.url, instances: 3, env: LIMITS });
    h = harness;
    harness.icg.faults.payDelayMs = 50;
    const load = new PayLoad(
      harness.services.map((s) => s.url),
      `reshard-${String(Date.now())}`,
    );
    load.startUnkeyed(20);
    const keyed = load.keyedClients(200, 25);
    const [from, to] = await topology.masters();
    if (!from || !to) throw new Error('expected three masters');
    const started = Date.now();
    await topology.reshard(from.id, to.id, 1000);
    const reshardMs = Date.now() - started;
    await load.stop();
    await keyed;
    await topology.waitUntilHealthy();
    const statuses = load.answers.map((a) => a.status);
    process.stdout.write(
      `cluster reshard: 1000 slots in ${String(reshardMs)} ms under ${String(load.answers.length)} pays: ${String(statuses.filter((s) => s === 200).length)} paid, ${String(statuses.filter((s) => s >= 500).length)} 5xx, ${String(load.refusals)} 503s retried\n`,
    );
    expect(load.answers.filter((a) => a.status >= 500).map((a) => `${String(a.status)} ${a.problem ?? ''}`)).toEqual([]);
    expect(load.refusals).toBe(0);
    expect(Math.max(...load.answers.map((a) => harness.icg.stats.paysByInvoice[a.invoice] ?? 0))).toBe(1);
  });

  it('fails a master over with pays in flight: the loss is noticed, unkeyed pays resume within 10 s, at most one login, at most one Pay per key and invoice', async () => {
    const harness = await startHarness({ redisUrl: topology.url, instances: 3, env: { ...LIMITS, LOG_LEVEL: 'info' } });
    h = harness;
    const [victim] = await topology.masters();
    if (!victim) throw new Error('expected a master');
    const numbers = await failoverUnderLoad(harness, `cluster-${String(Date.now())}`, {
      lag: () => topology.lagReplicaOf(victim.id, 5000),
      kill: () => topology.kill(victim.node),
      isPromoted: () => topology.isHealthy(),
    });
    process.stdout.write(`cluster failover: ${JSON.stringify(numbers)}\n`);
    expect(numbers.lossNoticed).toBeGreaterThanOrEqual(1);
    expect(numbers.resumedAfterPromotionMs).toBeLessThan(10_000);
    expect(numbers.logins).toBeLessThanOrEqual(1);
    expect(numbers.maxPaysPerInvoice).toBe(1);
  });
});
