import { waitFor } from '../support/wait';
import { startHarness, payBody, postJson, type Harness } from '../support/harness';

const LIMITS = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_INVOICE_MAX: '100000' };
let keyCounter = 0;
const newKey = () => `key-${Date.now()}-${(keyCounter += 1)}`;

describe('Idempotency-Key', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { ...LIMITS, ICG_TIMEOUT_MS: '400' }, instances: 2 });
  });
  afterAll(async () => h.close());
  beforeEach(() => {
    h.icg.reset();
  });
  const [a, b] = [() => h.services[0]?.url ?? '', () => h.services[1]?.url ?? ''];

  it('replays the stored answer for the same key on any instance without calling iCG again', async () => {
    const key = newKey();
    const first = await postJson(`${a()}/pay/900`, payBody(), { 'Idempotency-Key': key });
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await postJson(`${b()}/pay/900`, payBody(), { 'Idempotency-Key': key });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(h.icg.stats.pays).toBe(1);
  });

  it('binds the key to the bytes forwarded: the same fields in another order are another request', async () => {
    // The body is forwarded as received, so the fingerprint covers the bytes (not a re-serialised view).
    const key = newKey();
    expect((await postJson(`${a()}/pay/901`, '{"Amount":3,"Type":"D"}', { 'Idempotency-Key': key })).status).toBe(200);
    expect((await postJson(`${b()}/pay/901`, '{"Amount":3,"Type":"D"}', { 'Idempotency-Key': key })).headers.get('idempotent-replayed')).toBe('true');
    expect((await postJson(`${a()}/pay/901`, '{"Type":"D","Amount":3}', { 'Idempotency-Key': key })).status).toBe(422);
    expect(h.icg.stats.pays).toBe(1);
  });

  it('treats the spellings of one invoice (0901, 901) as one request for the key', async () => {
    const key = newKey();
    expect((await postJson(`${a()}/pay/0913`, '{"Amount":3,"Type":"D"}', { 'Idempotency-Key': key })).status).toBe(200);
    expect((await postJson(`${b()}/pay/913`, '{"Amount":3,"Type":"D"}', { 'Idempotency-Key': key })).headers.get('idempotent-replayed')).toBe('true');
    expect(h.icg.stats.pays).toBe(1);
  });

  it('answers 422 for the same key with another invoice or body', async () => {
    const key = newKey();
    expect((await postJson(`${a()}/pay/902`, payBody(), { 'Idempotency-Key': key })).status).toBe(200);
    const otherInvoice = await postJson(`${b()}/pay/903`, payBody(), { 'Idempotency-Key': key });
    expect(otherInvoice.status).toBe(422);
    expect(otherInvoice.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await postJson(`${a()}/pay/902`, payBody({ Amount: 99 }), { 'Idempotency-Key': key })).status).toBe(422);
    expect(h.icg.stats.pays).toBe(1);
  });

  it('answers 409 for the same key while the first request is in flight, on another instance', async () => {
    h.icg.faults.payDelayMs = 300;
    const key = newKey();
    const first = postJson(`${a()}/pay/904`, payBody(), { 'Idempotency-Key': key });
    await waitFor(() => h.icg.stats.pays > 0, 5000, 'the first pay at iCG');
    const second = await postJson(`${b()}/pay/904`, payBody(), { 'Idempotency-Key': key });
    expect(second.status).toBe(409);
    expect((await first).status).toBe(200);
    expect(h.icg.stats.pays).toBe(1);
  });

  it.each(['short', 'has spaces in it', 'x'.repeat(129), 'bad/slash!'])('answers 400 for the malformed key %j', async (key) => {
    const res = await postJson(`${a()}/pay/905`, payBody(), { 'Idempotency-Key': key });
    expect(res.status).toBe(400);
    expect(h.icg.stats.pays).toBe(0);
  });

  it('stores a timeout (the charge may have happened) so a retry replays it and never pays twice', async () => {
    h.icg.faults.payHang = true;
    const key = newKey();
    expect((await postJson(`${a()}/pay/906`, payBody(), { 'Idempotency-Key': key })).status).toBe(504);
    h.icg.faults.payHang = false;
    const retry = await postJson(`${b()}/pay/906`, payBody(), { 'Idempotency-Key': key });
    expect(retry.status).toBe(504);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(h.icg.stats.pays).toBe(1);
  });

  it('stores an iCG 5xx the same way', async () => {
    h.icg.faults.payStatus = 503;
    const key = newKey();
    expect((await postJson(`${a()}/pay/907`, payBody(), { 'Idempotency-Key': key })).status).toBe(502);
    h.icg.faults.payStatus = null;
    const retry = await postJson(`${a()}/pay/907`, payBody(), { 'Idempotency-Key': key });
    expect(retry.status).toBe(502);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(h.icg.stats.pays).toBe(1);
  });

  it('stores an answer it cannot read, whatever its status (a 4xx HTML page too)', async () => {
    h.icg.faults.payNonJson = true;
    h.icg.faults.payStatus = 400;
    const key = newKey();
    expect((await postJson(`${a()}/pay/912`, payBody(), { 'Idempotency-Key': key })).status).toBe(502);
    h.icg.reset();
    const retry = await postJson(`${a()}/pay/912`, payBody(), { 'Idempotency-Key': key });
    expect(retry.status).toBe(502);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(h.icg.stats.pays).toBe(0);
  });

  it('keeps the key when the client hangs up while its pay is at iCG, and replays the outcome', async () => {
    h.icg.faults.payDelayMs = 300;
    const key = newKey();
    const abort = new AbortController();
    const hungUp = fetch(`${a()}/pay/910`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: JSON.stringify(payBody()),
      signal: abort.signal,
    }).catch(() => 'aborted');
    await waitFor(() => h.icg.stats.pays > 0, 5000, 'the first pay at iCG');
    abort.abort();
    expect(await hungUp).toBe('aborted');
    const duringPay = await postJson(`${b()}/pay/910`, payBody(), { 'Idempotency-Key': key });
    expect(duringPay.status).toBe(409);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const retry = await postJson(`${b()}/pay/910`, payBody(), { 'Idempotency-Key': key });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(h.icg.stats.pays).toBe(1);
  });

  it('stores nothing for a request rejected before reaching iCG, so the key stays usable', async () => {
    const key = newKey();
    expect((await postJson(`${a()}/pay/908`, { Amount: -1, Type: 'D' }, { 'Idempotency-Key': key })).status).toBe(400);
    expect((await postJson(`${a()}/pay/908`, payBody(), { 'Idempotency-Key': key })).status).toBe(200);
  });

  it('frees the key when the login times out (the pay never left)', async () => {
    const other = await startHarness({ env: { ...LIMITS, ICG_TIMEOUT_MS: '300' } });
    try {
      other.icg.faults.loginDelayMs = 1000;
      const key = newKey();
      expect((await postJson(`${other.url}/pay/911`, payBody(), { 'Idempotency-Key': key })).status).toBe(504);
      other.icg.faults.loginDelayMs = 0;
      // Within a second the failed login is answered again (not retried); the key is free all along.
      const early = await postJson(`${other.url}/pay/911`, payBody(), { 'Idempotency-Key': key });
      expect(early.status).toBe(504);
      expect(early.headers.get('idempotent-replayed')).toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const retry = await postJson(`${other.url}/pay/911`, payBody(), { 'Idempotency-Key': key });
      expect(retry.status).toBe(200);
      expect(retry.headers.get('idempotent-replayed')).toBeNull();
      expect(other.icg.stats.pays).toBe(1);
    } finally {
      await other.close();
    }
  });

  it('frees the key when iCG rejects our credentials (nothing was charged)', async () => {
    const other = await startHarness({ env: { ...LIMITS, ICG_LOGIN_BACKOFF_MS: '100', ICG_LOGIN_BACKOFF_MAX_MS: '100' } });
    try {
      other.icg.faults.rejectCredentials = true;
      const key = newKey();
      expect((await postJson(`${other.url}/pay/909`, payBody(), { 'Idempotency-Key': key })).status).toBe(503);
      other.icg.faults.rejectCredentials = false;
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect((await postJson(`${other.url}/pay/909`, payBody(), { 'Idempotency-Key': key })).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('per-invoice in-flight guard', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: LIMITS, instances: 2 });
  });
  afterAll(async () => h.close());
  beforeEach(() => {
    h.icg.reset();
  });

  it('lets only one of two concurrent pays of an invoice reach iCG; the other gets 409', async () => {
    h.icg.faults.payDelayMs = 300;
    const results = await Promise.all([postJson(`${h.services[0]?.url}/pay/777`, payBody()), postJson(`${h.services[1]?.url}/pay/777`, payBody())]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const conflict = results.find((r) => r.status === 409);
    expect(conflict?.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(h.icg.stats.pays).toBe(1);
  });

  it('lets only one of twenty concurrent pays of one invoice through', async () => {
    h.icg.faults.payDelayMs = 300;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => postJson(`${h.services[i % 2]?.url}/pay/778`, payBody())));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
    expect(h.icg.stats.pays).toBe(1);
  });

  it('releases the lock when the pay ends, so the next pay of the invoice runs', async () => {
    expect((await postJson(`${h.url}/pay/779`, payBody())).status).toBe(200);
    expect((await postJson(`${h.url}/pay/779`, payBody())).status).toBe(200);
    expect(h.icg.stats.pays).toBe(2);
  });

  it('has released the lock by the time the answer arrives, on every instance', async () => {
    for (let i = 0; i < 20; i += 1) {
      const status = (await postJson(`${h.services[i % 2]?.url}/pay/780`, payBody())).status;
      expect(status).toBe(200);
    }
    expect(h.icg.stats.pays).toBe(20);
  });
});
