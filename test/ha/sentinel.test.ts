import { startHarness, type Harness } from '../support/harness';
import { SentinelTopology } from '../support/redis-topology';
import { failoverUnderLoad } from './failover';

const LIMITS = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_INVOICE_MAX: '100000' };

describe('Redis Sentinel: a master, a replica, three sentinels', () => {
  let topology: SentinelTopology;
  let h: Harness;
  beforeAll(async () => {
    topology = await SentinelTopology.start();
    h = await startHarness({ redisUrl: topology.url, instances: 3, env: { ...LIMITS, LOG_LEVEL: 'info' } });
  });
  afterAll(async () => {
    await h.close();
    await topology.stop();
  });

  it('fails over with pays in flight: the loss is noticed, unkeyed pays resume within 10 s, at most one login, at most one Pay per key and invoice', async () => {
    const numbers = await failoverUnderLoad(h, `sentinel-${String(Date.now())}`, {
      lag: () => topology.lagReplica(3000),
      kill: () => topology.master.kill(),
      isPromoted: async () => (await topology.masterPort()) === topology.replica.port,
    });
    process.stdout.write(`sentinel failover: ${JSON.stringify(numbers)}\n`);
    expect(numbers.lossNoticed).toBeGreaterThanOrEqual(1);
    expect(numbers.resumedAfterPromotionMs).toBeLessThan(10_000);
    expect(numbers.logins).toBeLessThanOrEqual(1);
    expect(numbers.maxPaysPerInvoice).toBe(1);
  });
});
