import pino from 'pino';
import { Conflict, InvoiceHeld, ServiceUnavailable } from '../../src/errors';
import { createMetrics } from '../../src/metrics';
import { InvoiceGuard } from '../../src/pay/invoice-guard';
import { parseInvoiceId } from '../../src/pay/invoice-id';
import { DataLossGuard } from '../../src/state/data-loss';
import { LandingWrites } from '../../src/state/landing-writes';
import { MemoryState } from '../../src/state/memory-state';
import { BoundedMemoryStore } from '../../src/state/rate-limit-store';
import { RedisTrouble } from '../../src/state/redis-trouble';
import { EPOCH_KEY } from '../../src/state/epoch-keys';
import { flakyState } from '../support/flaky-state';

const logger = pino({ level: 'silent' });

beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

function guard(options: { downMode?: 'refuse' | 'local'; localCap?: number; holdMs?: number } = {}) {
  const metrics = createMetrics();
  const flaky = flakyState();
  const invoices = new InvoiceGuard({
    shared: flaky.state,
    local: new MemoryState(Date.now, options.localCap ?? 1000),
    downMode: options.downMode ?? 'refuse',
    lockTtlMs: 10_000,
    holdMs: options.holdMs ?? 60_000,
    dataLoss: null,
    landing: new LandingWrites(logger),
    trouble: new RedisTrouble(metrics, logger),
    metrics,
    logger,
  });
  return { invoices, setDown: flaky.setDown };
}

describe('the invoice guard', () => {
  it('lets one pay of an invoice run at a time, whatever its spelling', async () => {
    const { invoices } = guard();
    const pay = await invoices.begin(parseInvoiceId('962'), 'p1', 'r1');
    await expect(invoices.begin(parseInvoiceId('00962'), 'p2', 'r2')).rejects.toThrow(Conflict);
    await pay.settle('known');
    await expect(invoices.begin(parseInvoiceId('0962'), 'p3', 'r3')).resolves.toBeDefined();
  });

  it('holds the invoice after an unknown outcome for the hold time, then lets it go', async () => {
    const { invoices } = guard({ holdMs: 60_000 });
    await (await invoices.begin(parseInvoiceId('5'), 'p1', 'r1')).settle('unknown');
    await expect(invoices.begin(parseInvoiceId('5'), 'p2', 'r2')).rejects.toMatchObject({ constructor: InvoiceHeld, retryAfterSeconds: 60 });
    await jest.advanceTimersByTimeAsync(60_001);
    await expect(invoices.begin(parseInvoiceId('5'), 'p3', 'r3')).resolves.toBeDefined();
  });

  it('ends a hold when an operator resolves its payment, and only its own', async () => {
    const { invoices } = guard();
    await (await invoices.begin(parseInvoiceId('6'), 'p1', 'r1')).settle('unknown');
    await invoices.endHold({ canonical: '6' }, 'another-payment');
    await expect(invoices.begin(parseInvoiceId('6'), 'p2', 'r2')).rejects.toThrow(InvoiceHeld);
    await invoices.endHold({ canonical: '6' }, 'p1');
    await expect(invoices.begin(parseInvoiceId('6'), 'p3', 'r3')).resolves.toBeDefined();
  });

  it('leaves the invoice held if the instance dies mid-pay: the pending hold outlives the lock', async () => {
    const { invoices } = guard({ holdMs: 60_000 });
    await invoices.begin(parseInvoiceId('7'), 'p1', 'r1');
    await jest.advanceTimersByTimeAsync(10_001);
    await expect(invoices.begin(parseInvoiceId('7'), 'p2', 'r2')).rejects.toThrow(InvoiceHeld);
  });

  it('refuses while Redis is down by default, or locks in this process up to a cap (REDIS_DOWN_MODE=local)', async () => {
    const refusing = guard();
    refusing.setDown(true);
    await expect(refusing.invoices.begin(parseInvoiceId('8'), 'p1', 'r1')).rejects.toThrow(ServiceUnavailable);
    const local = guard({ downMode: 'local', localCap: 4, holdMs: 0 });
    local.setDown(true);
    const pays = [];
    for (let i = 0; i < 4; i += 1) pays.push(await local.invoices.begin(parseInvoiceId(`${10 + i}`), `p${i}`, 'r'));
    await expect(local.invoices.begin(parseInvoiceId('10'), 'again', 'r')).rejects.toThrow(Conflict);
    await expect(local.invoices.begin(parseInvoiceId('99'), 'new', 'r')).rejects.toThrow(ServiceUnavailable);
    await pays[0]?.settle('known');
    await expect(local.invoices.begin(parseInvoiceId('99'), 'new', 'r')).resolves.toBeDefined();
  });
});

describe('the data-loss guard', () => {
  it('starts an epoch on first contact, and pauses pays for the deadline when it later goes missing', async () => {
    const state = new MemoryState();
    const metrics = createMetrics();
    const a = new DataLossGuard(state, 25_000, metrics, logger);
    await a.check();
    expect(a.epoch).not.toBeNull();
    expect(a.quarantineLeftMs).toBe(0);
    await state.delete(EPOCH_KEY);
    await a.check();
    expect(a.quarantineLeftMs).toBe(25_000);
    // Another instance that noticed later (or started meanwhile) follows the same quarantine.
    await jest.advanceTimersByTimeAsync(5000);
    const b = new DataLossGuard(state, 25_000, metrics, logger);
    await b.check();
    expect(b.quarantineLeftMs).toBe(20_000);
    await jest.advanceTimersByTimeAsync(20_000);
    expect(a.quarantineLeftMs).toBe(0);
  });

  it('pauses when a script finds another epoch, following the quarantine the first to notice set', async () => {
    const state = new MemoryState();
    const metrics = createMetrics();
    const first = new DataLossGuard(state, 25_000, metrics, logger);
    const second = new DataLossGuard(state, 25_000, metrics, logger);
    await first.check();
    await second.check();
    await state.delete(EPOCH_KEY);
    await first.lost(null);
    await jest.advanceTimersByTimeAsync(3000);
    await second.lost(first.epoch);
    expect(second.quarantineLeftMs).toBe(22_000);
    expect(second.epoch).toBe(first.epoch);
  });
});

describe('the in-process rate-limit store', () => {
  it('tracks at most its cap of keys, refusing new ones and never evicting one', async () => {
    const store = new BoundedMemoryStore(2);
    store.init({ windowMs: 60_000 } as never);
    await store.increment('a');
    await store.increment('b');
    await expect(store.increment('c')).rejects.toThrow(ServiceUnavailable);
    expect((await store.increment('a')).totalHits).toBe(2);
    await jest.advanceTimersByTimeAsync(60_001);
    await expect(store.increment('c')).resolves.toMatchObject({ totalHits: 1 });
    store.shutdown();
  });
});
