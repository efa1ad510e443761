import { startHarness, payBody, postJson, type Harness } from '../support/harness';

/** Three stateless instances on one Redis behave as one service. */
describe('three instances on one Redis', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ instances: 3, env: { RATE_LIMIT_MAX: '30', RATE_LIMIT_INVOICE_MAX: '1000' } });
  });
  afterAll(async () => h.close());
  beforeEach(() => {
    h.icg.reset();
  });
  const url = (i: number) => h.services[i % 3]?.url ?? '';

  it('logs in once for 30 concurrent pays spread over the instances', async () => {
    const statuses = await Promise.all(Array.from({ length: 30 }, async (_, i) => (await postJson(`${url(i)}/pay/s-${i}`, payBody())).status));
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(h.icg.stats.logins).toBe(1);
  });

  it('enforces one global per-client limit (the 30 above used it up)', async () => {
    const statuses = await Promise.all([0, 1, 2].map(async (i) => (await postJson(`${url(i)}/pay/over-${i}`, payBody())).status));
    expect(statuses).toEqual([429, 429, 429]);
    expect(h.icg.stats.pays).toBe(0);
  });
});

describe('three instances: idempotency and in-flight guards', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ instances: 3, env: { RATE_LIMIT_MAX: '1000', RATE_LIMIT_INVOICE_MAX: '1000' } });
  });
  afterAll(async () => h.close());
  beforeEach(() => {
    h.icg.reset();
  });
  const url = (i: number) => h.services[i % 3]?.url ?? '';

  it('pays once for one Idempotency-Key sent to every instance at once', async () => {
    h.icg.faults.payDelayMs = 200;
    const results = await Promise.all([0, 1, 2].map((i) => postJson(`${url(i)}/pay/idem-3`, payBody(), { 'Idempotency-Key': 'three-instances-key' })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    h.icg.faults.payDelayMs = 0;
    const replays = await Promise.all([0, 1, 2].map((i) => postJson(`${url(i)}/pay/idem-3`, payBody(), { 'Idempotency-Key': 'three-instances-key' })));
    expect(replays.map((r) => r.headers.get('idempotent-replayed'))).toEqual(['true', 'true', 'true']);
    expect(h.icg.stats.pays).toBe(1);
  });

  it('lets one pay of an invoice through when all instances receive it at once', async () => {
    h.icg.faults.payDelayMs = 200;
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => postJson(`${url(i)}/pay/lock-3`, payBody())));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(5);
    expect(h.icg.stats.pays).toBe(1);
  });
});
