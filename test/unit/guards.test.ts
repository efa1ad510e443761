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
  const wipe = async () => {
    for await (const keys of flaky.state.scan('')) for (const key of keys) await flaky.state.delete(key);
  };
  return { invoices, setDown: flaky.setDown, wipe };
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

  it("writes a lost hold back over the pending hold of a pay admitted meanwhile, which that pay's end then leaves in place", async () => {
    const { invoices, wipe } = guard();
    await (await invoices.begin(parseInvoiceId('9'), 'p1', 'r1')).settle('unknown');
    await wipe();
    const admitted = await invoices.begin(parseInvoiceId('9'), 'p2', 'r2');
    await expect(invoices.republish()).resolves.toBe(1);
    await admitted.settle('known');
    await expect(invoices.begin(parseInvoiceId('9'), 'p3', 'r3')).rejects.toThrow(InvoiceHeld);
  });

  it('writes back a hold for as long as it lasts, not only within the retry window of answers', async () => {
    const { invoices, wipe } = guard({ holdMs: 3_600_000 });
    await (await invoices.begin(parseInvoiceId('10'), 'p1', 'r1')).settle('unknown');
    await jest.advanceTimersByTimeAsync(20 * 60_000);
    await wipe();
    await expect(invoices.republish()).resolves.toBe(1);
    await expect(invoices.begin(parseInvoiceId('10'), 'p2', 'r2')).rejects.toThrow(InvoiceHeld);
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

/** A store that already holds a deployment's epoch (an instance meeting none pauses first: see the first test). */
async function deployed(): Promise<MemoryState> {
  const state = new MemoryState();
  await state.writeEpoch('epoch-of-the-deployment', true);
  return state;
}

describe('the data-loss guard', () => {
  /** Pays in flight on one instance, ended by hand. */
  function paysInFlight(count: number) {
    let left = count;
    let end: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (end = resolve));
    return {
      get count() {
        return left;
      },
      settled: () => (left === 0 ? Promise.resolve() : done),
      endAll: () => {
        left = 0;
        end();
      },
    };
  }

  it('starts an epoch on first contact; when it goes missing, pauses pays until every instance had time to notice (nothing was in flight)', async () => {
    const state = new MemoryState();
    const metrics = createMetrics();
    const a = new DataLossGuard(state, 25_000, metrics, logger);
    await a.check();
    expect(a.epoch).not.toBeNull();
    // No epoch at all: a new deployment, or an emptied Redis whose running instances have not noticed
    // yet. Pays wait the shortest quarantine either way.
    expect(a.quarantineLeftMs).toBe(25_000);
    await jest.advanceTimersByTimeAsync(3500);
    expect(a.quarantineLeftMs).toBe(0);
    await state.delete(EPOCH_KEY);
    await a.check();
    expect(a.quarantineLeftMs).toBe(25_000);
    // Another instance that noticed later (or started meanwhile) follows the same quarantine.
    await jest.advanceTimersByTimeAsync(1000);
    const b = new DataLossGuard(state, 25_000, metrics, logger);
    await b.check();
    expect(b.quarantineLeftMs).toBe(24_000);
    expect(b.retryAfterSeconds).toBe(2);
    await jest.advanceTimersByTimeAsync(2500);
    expect([a.quarantineLeftMs, b.quarantineLeftMs]).toEqual([0, 0]);
    a.close();
    b.close();
  });

  it('lasts until the pays in flight at the loss have ended, on whichever instance', async () => {
    const state = await deployed();
    const metrics = createMetrics();
    const pays = paysInFlight(2);
    const busy = new DataLossGuard(state, 25_000, metrics, logger, { paysInFlight: pays });
    const idle = new DataLossGuard(state, 25_000, metrics, logger, { paysInFlight: paysInFlight(0) });
    await busy.check();
    await idle.check();
    await state.delete(EPOCH_KEY);
    await idle.check();
    await jest.advanceTimersByTimeAsync(2000);
    await busy.check();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(idle.quarantineLeftMs).toBeGreaterThan(0);
    pays.endAll();
    await jest.advanceTimersByTimeAsync(500);
    expect([idle.quarantineLeftMs, busy.quarantineLeftMs]).toEqual([0, 0]);
    // A later loss starts a quarantine of its own.
    await state.delete(EPOCH_KEY);
    await idle.check();
    expect(idle.quarantineLeftMs).toBe(25_000);
    idle.close();
    busy.close();
  });

  it('lasts its whole length when an instance died with pays in flight (it never counts itself out)', async () => {
    const state = await deployed();
    const metrics = createMetrics();
    const dying = new DataLossGuard(state, 25_000, metrics, logger, { paysInFlight: paysInFlight(1) });
    const survivor = new DataLossGuard(state, 25_000, metrics, logger);
    await dying.check();
    await survivor.check();
    await state.delete(EPOCH_KEY);
    await dying.check();
    await jest.advanceTimersByTimeAsync(100);
    dying.close();
    await survivor.check();
    await jest.advanceTimersByTimeAsync(24_000);
    expect(survivor.quarantineLeftMs).toBeGreaterThan(0);
    await jest.advanceTimersByTimeAsync(1000);
    expect(survivor.quarantineLeftMs).toBe(0);
    survivor.close();
  });

  it('pauses when a script finds another epoch, following the quarantine the first to notice set', async () => {
    const state = await deployed();
    const metrics = createMetrics();
    const first = new DataLossGuard(state, 25_000, metrics, logger);
    const second = new DataLossGuard(state, 25_000, metrics, logger);
    await first.check();
    await second.check();
    await state.delete(EPOCH_KEY);
    await first.lost(null);
    await jest.advanceTimersByTimeAsync(1000);
    await second.lost(first.epoch);
    expect(second.quarantineLeftMs).toBe(24_000);
    expect(second.epoch).toBe(first.epoch);
    first.close();
    second.close();
  });
});

describe('the data-loss guard between pays', () => {
  it('notices a flushed Redis by its periodic check alone, and writes back what it stored lately', async () => {
    const state = await deployed();
    const metrics = createMetrics();
    const guard = new DataLossGuard(state, 25_000, metrics, logger);
    let writtenBack = 0;
    guard.onLoss(() => {
      writtenBack += 1;
      return Promise.resolve();
    });
    await guard.check();
    await guard.recheck();
    expect(guard.quarantineLeftMs).toBe(0);
    await state.delete(EPOCH_KEY); // FLUSHALL: the run id stays the same
    await guard.recheck();
    expect(guard.quarantineLeftMs).toBe(25_000);
    expect(writtenBack).toBe(1);
    guard.close();
  });

  it('follows a quarantine another instance started, counting its own pays in flight in and writing back, though the epoch it sees is the new one', async () => {
    const state = await deployed();
    const metrics = createMetrics();
    const pays = { count: 1, settled: () => new Promise<void>(() => undefined) };
    const busy = new DataLossGuard(state, 25_000, metrics, logger, { paysInFlight: pays });
    const other = new DataLossGuard(state, 25_000, metrics, logger);
    let writtenBack = 0;
    busy.onLoss(() => {
      writtenBack += 1;
      return Promise.resolve();
    });
    await busy.check();
    await other.check();
    await state.delete(EPOCH_KEY);
    await other.lost(null); // the other instance noticed first and wrote a new epoch
    await busy.recheck();
    expect(busy.quarantineLeftMs).toBe(25_000);
    expect(writtenBack).toBe(1);
    // Its pay never ends: the quarantine outlasts the floor on every instance.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(other.quarantineLeftMs).toBeGreaterThan(0);
    // Later checks notice nothing new.
    await busy.recheck();
    expect(writtenBack).toBe(1);
    busy.close();
    other.close();
  });
  it('pauses an instance that starts on an emptied Redis before the running ones noticed; they follow its quarantine', async () => {
    const state = await deployed();
    const metrics = createMetrics();
    const running = new DataLossGuard(state, 25_000, metrics, logger, { paysInFlight: { count: 1, settled: () => new Promise<void>(() => undefined) } });
    let writtenBack = 0;
    running.onLoss(() => {
      writtenBack += 1;
      return Promise.resolve();
    });
    await running.check();
    await state.delete(EPOCH_KEY); // FLUSHALL
    const started = new DataLossGuard(state, 25_000, metrics, logger);
    await started.check();
    expect(started.quarantineLeftMs).toBe(25_000);
    await running.recheck();
    expect([running.quarantineLeftMs, writtenBack]).toEqual([25_000, 1]);
    // The running instance's pay at the loss never ends: the new instance stays paused past the floor.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(started.quarantineLeftMs).toBeGreaterThan(0);
    running.close();
    started.close();
  });

  it('follows a quarantine for a failover another instance saw first, though the epoch is unchanged', async () => {
    const state = await deployed();
    const metrics = createMetrics();
    let master = 'run-id-1';
    const watcher = new DataLossGuard(state, 25_000, metrics, logger, { mastersOf: () => Promise.resolve(master) });
    const pays = { count: 1, settled: () => new Promise<void>(() => undefined) };
    const busy = new DataLossGuard(state, 25_000, metrics, logger, { paysInFlight: pays });
    let writtenBack = 0;
    busy.onLoss(() => {
      writtenBack += 1;
      return Promise.resolve();
    });
    await watcher.check();
    await busy.check();
    master = 'run-id-2';
    await watcher.recheck();
    expect(watcher.quarantineLeftMs).toBe(25_000);
    await busy.recheck();
    expect([busy.quarantineLeftMs, writtenBack]).toEqual([25_000, 1]);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(watcher.quarantineLeftMs).toBeGreaterThan(0);
    watcher.close();
    busy.close();
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
