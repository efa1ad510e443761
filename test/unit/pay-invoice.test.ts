import pino from 'pino';
import { systemClock } from '../../src/clock';
import {
  Conflict,
  IdempotencyKeyReused,
  InvoiceHeld,
  OutcomeUnknown,
  RedisDataLost,
  ServiceUnavailable,
  TokenRefused,
  UpstreamTimeout,
} from '../../src/errors';
import { AccessToken } from '../../src/icg/access-token';
import { AnswerFilter } from '../../src/icg/answer-filter';
import type { PayReply } from '../../src/icg/client';
import type { HeldToken } from '../../src/icg/token-manager';
import { toRecord } from '../../src/icg/token-record';
import { Keyring } from '../../src/keyring';
import { createMetrics } from '../../src/metrics';
import { requestFingerprint } from '../../src/pay/fingerprint';
import { IdempotencyStore, keyHash } from '../../src/pay/idempotency';
import { InFlightPays } from '../../src/pay/in-flight-pays';
import { InvoiceGuard } from '../../src/pay/invoice-guard';
import { parseInvoiceId } from '../../src/pay/invoice-id';
import { Journal } from '../../src/pay/journal';
import { parsePayBody } from '../../src/pay/pay-body';
import { ClientLeft, PayInvoice, type PayRequest } from '../../src/pay/pay-invoice';
import { chargedAnswer } from '../../src/pay/reconcile';
import { MemoryJournalStore } from '../../src/state/journal-store';
import { DataLossGuard } from '../../src/state/data-loss';
import { LandingWrites } from '../../src/state/landing-writes';
import { MemoryState } from '../../src/state/memory-state';
import { RedisTrouble } from '../../src/state/redis-trouble';
import { flakyState } from '../support/flaky-state';

const logger = pino({ level: 'silent' });
const TIMEOUT_MS = 1000;
const DEADLINE_MS = 5000;

function held(name: string): HeldToken {
  const record = toRecord({
    accessToken: name,
    expiresAt: Date.now() + 3_600_000,
    refreshAt: Date.now() + 3_000_000,
    refreshToken: null,
    issuedAt: Date.now(),
  });
  return { token: new AccessToken(name), record, expiresAt: record.token.expiresAt, refreshAt: record.token.refreshAt, issuedAt: record.token.issuedAt };
}

/** iCG's Pay as a test double: answers from a script, records what it was sent. */
class FakeIcg {
  readonly calls: { invoiceId: string; token: string; body: string }[] = [];
  replies: (PayReply | Error | (() => Promise<PayReply>))[] = [];

  async payInvoice(invoiceId: string, body: Buffer, token: AccessToken): Promise<PayReply> {
    this.calls.push({ invoiceId, token: token.reveal(), body: body.toString() });
    const next = this.replies.shift() ?? { status: 200, body: { TransactionId: `t-${this.calls.length}`, Status: 'Approved' } };
    if (next instanceof Error) throw next;
    return typeof next === 'function' ? next() : next;
  }
}

/** `onToken`: runs while the pay gets its token, with the data-loss guard (none unless given). */
function setup(options: { tokenDelayMs?: number; onToken?: (dataLoss: DataLossGuard) => Promise<void> } = {}) {
  const metrics = createMetrics();
  const trouble = new RedisTrouble(metrics, logger);
  const landing = new LandingWrites(logger);
  const flaky = flakyState();
  const guard = options.onToken ? new DataLossGuard(flaky.state, DEADLINE_MS, metrics, logger) : null;
  const journal = new Journal(new MemoryJournalStore({ maxEntries: 1000, maxAgeMs: 1e9 }), trouble, logger, metrics, DEADLINE_MS + 5000);
  const icg = new FakeIcg();
  let replacements = 0;
  const tokens = {
    getToken: async () => {
      if (options.tokenDelayMs) await systemClock.sleep(options.tokenDelayMs);
      if (guard) await options.onToken?.(guard);
      return held('first');
    },
    replaceRefused: () => {
      replacements += 1;
      return Promise.resolve(held(`replacement-${replacements}`));
    },
  };
  const idempotency = new IdempotencyStore(flaky.state, 86_400, DEADLINE_MS + 5000, guard, landing, metrics, logger, trouble);
  const invoices = new InvoiceGuard({
    shared: flaky.state,
    local: new MemoryState(),
    downMode: 'refuse',
    lockTtlMs: DEADLINE_MS + 5000,
    holdMs: 60_000,
    dataLoss: guard,
    landing,
    trouble,
    metrics,
    logger,
  });
  const pay = new PayInvoice({
    icg,
    tokens,
    answerFilter: new AnswerFilter(),
    keyring: Keyring.development(),
    idempotency,
    invoices,
    journal,
    dataLoss: guard,
    inFlight: new InFlightPays(),
    statuses: { approved: ['approved'], declined: ['declined'] },
    deadlineMs: DEADLINE_MS,
    callTimeoutMs: TIMEOUT_MS,
    metrics,
    logger,
  });
  const wipe = async () => {
    for await (const keys of flaky.state.scan('')) for (const key of keys) await flaky.state.delete(key);
  };
  const republish = async () => ({ answers: await idempotency.republish(), holds: await invoices.republish() });
  return { pay, icg, journal, idempotency, dataLoss: guard, setDown: flaky.setDown, wipe, republish };
}

function request(invoice: string, options: { key?: string; body?: string; signal?: AbortSignal } = {}): PayRequest {
  return {
    invoice: parseInvoiceId(invoice),
    body: parsePayBody(Buffer.from(options.body ?? '{"Amount": 12.50, "Type": "D", "Method": {"CardNumber": "4111111111111111"}}')),
    idempotencyKey: options.key,
    requestId: 'req-1',
    signal: options.signal ?? new AbortController().signal,
    spendInvoiceBudget: () => Promise.resolve(),
  };
}

beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

describe('paying an invoice', () => {
  it('pays once, journals it, and replays the stored answer for the same key without calling iCG', async () => {
    const { pay, icg, journal } = setup();
    const first = await pay.pay(request('962', { key: 'key-00000001' }));
    expect(first).toMatchObject({
      isReplay: false,
      answer: { status: 200, body: { Status: 'Approved' } },
      payment: { outcome: 'approved', instrument: 'card XXXXXXXXXXXX1111' },
    });
    const again = await pay.pay(request('0962', { key: 'key-00000001' }));
    expect(again).toMatchObject({ isReplay: true, answer: first.answer });
    expect(icg.calls).toHaveLength(1);
    expect(icg.calls[0]?.invoiceId).toBe('962');
    expect(await journal.list({})).toHaveLength(1);
  });

  it('refuses a key in flight (409) and a key reused for another body (422)', async () => {
    const { pay, icg } = setup();
    let answer: (reply: PayReply) => void = () => undefined;
    icg.replies.push(() => new Promise((resolve) => (answer = resolve)));
    const first = pay.pay(request('1', { key: 'key-00000002' }));
    await jest.advanceTimersByTimeAsync(0);
    await expect(pay.pay(request('1', { key: 'key-00000002' }))).rejects.toThrow(Conflict);
    answer({ status: 200, body: { Status: 'Approved' } });
    await first;
    await expect(pay.pay(request('1', { key: 'key-00000002', body: '{"Amount": 13, "Type": "D"}' }))).rejects.toThrow(IdempotencyKeyReused);
  });

  it('sends the pay once more with a replacement token after a 401, and fails alone after a second one, freeing the key and the invoice', async () => {
    const { pay, icg } = setup();
    icg.replies.push({ status: 401, body: null });
    await expect(pay.pay(request('2'))).resolves.toMatchObject({ answer: { status: 200 } });
    expect(icg.calls.map((c) => c.token)).toEqual(['first', 'replacement-1']);
    icg.replies.push({ status: 401, body: null }, { status: 401, body: null });
    await expect(pay.pay(request('3', { key: 'key-00000003' }))).rejects.toThrow(TokenRefused);
    // Nothing was charged: the key and the invoice are free for a retry.
    await expect(pay.pay(request('3', { key: 'key-00000003' }))).resolves.toMatchObject({ isReplay: false, answer: { status: 200 } });
  });

  it('stores an outcome that may have charged under the key, holds the invoice and journals it as unknown', async () => {
    const { pay, icg, journal } = setup();
    icg.replies.push(new OutcomeUnknown(504, 'iCG did not answer the pay within 1000 ms'));
    const result = await pay.pay(request('4', { key: 'key-00000004' }));
    expect(result).toMatchObject({
      problem: 'outcome-unknown',
      answer: { status: 504, contentType: 'application/problem+json' },
      payment: { outcome: 'unknown' },
    });
    await expect(pay.pay(request('4', { key: 'key-00000004' }))).resolves.toMatchObject({ isReplay: true, answer: { status: 504 } });
    await expect(pay.pay(request('4'))).rejects.toThrow(InvoiceHeld);
    await expect(pay.pay(request('4', { key: 'key-00000005' }))).rejects.toThrow(InvoiceHeld);
    expect(icg.calls).toHaveLength(1);
    expect(await journal.countUnresolved()).toBe(1);
  });

  it('sends nothing for a client that left before its pay was forwarded, and frees its key', async () => {
    const { pay, icg } = setup();
    const left = new AbortController();
    left.abort();
    await expect(pay.pay(request('5', { key: 'key-00000006', signal: left.signal }))).rejects.toThrow(ClientLeft);
    expect(icg.calls).toHaveLength(0);
    await expect(pay.pay(request('5', { key: 'key-00000006' }))).resolves.toMatchObject({ isReplay: false });
  });

  it('starts no call to iCG that could not finish before the deadline', async () => {
    const { pay, icg } = setup({ tokenDelayMs: DEADLINE_MS - TIMEOUT_MS + 1 });
    const paying = expect(pay.pay(request('6'))).rejects.toThrow(UpstreamTimeout);
    await jest.advanceTimersByTimeAsync(DEADLINE_MS);
    await paying;
    expect(icg.calls).toHaveLength(0);
  });

  it('refuses while Redis is unreachable (REDIS_DOWN_MODE=refuse): keyed and unkeyed', async () => {
    const { pay, icg, setDown } = setup();
    setDown(true);
    await expect(pay.pay(request('7', { key: 'key-00000007' }))).rejects.toThrow(ServiceUnavailable);
    await expect(pay.pay(request('7'))).rejects.toThrow(ServiceUnavailable);
    expect(icg.calls).toHaveLength(0);
  });
});

describe('the Idempotency-Key store', () => {
  it('re-sends a completion until Redis takes it, and answers the client once it has', async () => {
    const metrics = createMetrics();
    const trouble = new RedisTrouble(metrics, logger);
    const flaky = flakyState();
    const store = new IdempotencyStore(flaky.state, 86_400, 30_000, null, new LandingWrites(logger), metrics, logger, trouble);
    const keyring = Keyring.development();
    const fingerprint = keyring.sign('pay', 'x');
    const admission = await store.admit('key-00000010', fingerprint, () => true, 'payment-1');
    if (admission.kind !== 'new') throw new Error('expected a reservation');
    flaky.setDown(true);
    let answered = false;
    const completing = admission.reservation
      .complete({ status: 200, contentType: 'application/json', body: { Status: 'Approved' } })
      .then(() => (answered = true));
    await jest.advanceTimersByTimeAsync(5000);
    expect(answered).toBe(false);
    flaky.setDown(false);
    await jest.advanceTimersByTimeAsync(2000);
    await completing;
    expect(answered).toBe(true);
    await expect(store.admit('key-00000010', fingerprint, () => true, 'payment-2')).resolves.toMatchObject({ kind: 'replay' });
  });

  it('writes the answer even when the in-flight record vanished (Redis restarted empty), and counts it', async () => {
    const metrics = createMetrics();
    const trouble = new RedisTrouble(metrics, logger);
    const memory = new MemoryState();
    const store = new IdempotencyStore(memory, 86_400, 30_000, null, new LandingWrites(logger), metrics, logger, trouble);
    const fingerprint = Keyring.development().sign('pay', 'y');
    const admission = await store.admit('key-00000011', fingerprint, () => true, 'payment-1');
    if (admission.kind !== 'new') throw new Error('expected a reservation');
    for await (const keys of memory.scan('')) for (const key of keys) await memory.delete(key);
    await admission.reservation.complete({ status: 200, contentType: 'application/json', body: {} });
    await expect(store.admit('key-00000011', fingerprint, () => true, 'payment-2')).resolves.toMatchObject({ kind: 'replay' });
    expect((await metrics.idempotencyRecordsLost.get()).values[0]?.value).toBe(1);
  });
});

describe('a pay whose instance stopped mid-pay', () => {
  function store(memory: MemoryState) {
    const metrics = createMetrics();
    return new IdempotencyStore(memory, 86_400, 30_000, null, new LandingWrites(logger), metrics, logger, new RedisTrouble(metrics, logger));
  }

  it('leaves its key answering "outcome unknown" past its deadline, not free, until an operator resolves it', async () => {
    const memory = new MemoryState();
    const fingerprint = Keyring.development().sign('pay', 'z');
    const first = await store(memory).admit('key-00000020', fingerprint, () => true, 'payment-1');
    expect(first.kind).toBe('new');
    // The instance holding it dies: its reservation is never completed.
    const survivor = store(memory);
    await expect(survivor.admit('key-00000020', fingerprint, () => true, 'payment-2')).resolves.toEqual({ kind: 'in_flight' });
    await expect(survivor.resolve(keyHash('key-00000020'), 'payment-1', null)).resolves.toBe(false);
    jest.advanceTimersByTime(30_001);
    await expect(survivor.admit('key-00000020', fingerprint, () => true, 'payment-2')).resolves.toEqual({
      kind: 'abandoned',
      payment: 'payment-1',
      reservedAt: Date.now() - 30_001,
    });
    await expect(survivor.resolve(keyHash('key-00000020'), 'payment-2', chargedAnswer('T-1'))).resolves.toBe(false);
    await expect(survivor.resolve(keyHash('key-00000020'), 'payment-1', chargedAnswer('T-1'))).resolves.toBe(true);
    await expect(survivor.admit('key-00000020', fingerprint, () => true, 'payment-2')).resolves.toMatchObject({
      kind: 'replay',
      answer: { body: { TransactionId: 'T-1' } },
    });
  });

  it('is answered 504 outcome-unknown to a retry with its key, and nothing is sent', async () => {
    const { pay, icg } = setup();
    icg.replies.push(() => new Promise(() => undefined));
    void pay.pay(request('21', { key: 'key-00000021' }));
    await jest.advanceTimersByTimeAsync(DEADLINE_MS + 5001);
    const retry = await pay.pay(request('21', { key: 'key-00000021' }));
    expect(retry).toMatchObject({ isReplay: true, problem: 'outcome-unknown', answer: { status: 504 } });
    expect(icg.calls).toHaveLength(1);
  });

  it('is journalled when its instance stopped before journalling it, so an operator can resolve it', async () => {
    const { pay, icg, journal, idempotency } = setup();
    const body = parsePayBody(Buffer.from('{"Amount": 12.50, "Type": "D", "Method": {"CardNumber": "4111111111111111"}}'));
    const keyring = Keyring.development();
    const invoice = parseInvoiceId('23');
    await idempotency.admit('key-00000023', requestFingerprint(keyring, invoice, body), () => true, 'payment-23');
    await jest.advanceTimersByTimeAsync(DEADLINE_MS + 5001);
    await expect(pay.pay(request('23', { key: 'key-00000023' }))).resolves.toMatchObject({ problem: 'outcome-unknown' });
    await jest.advanceTimersByTimeAsync(0);
    expect(await journal.list({ unresolved: true })).toEqual([
      expect.objectContaining({ id: 'payment-23', invoiceId: '23', outcome: 'unknown', abandoned: true, instrument: 'card XXXXXXXXXXXX1111' }),
    ]);
    expect(icg.calls).toHaveLength(0);
  });

  it('frees the key of a pay that was never sent even when Redis fails as it is released', async () => {
    const metrics = createMetrics();
    const flaky = flakyState();
    const store = new IdempotencyStore(flaky.state, 86_400, 30_000, null, new LandingWrites(logger), metrics, logger, new RedisTrouble(metrics, logger));
    const fingerprint = Keyring.development().sign('pay', 'w');
    const first = await store.admit('key-00000024', fingerprint, () => true, 'payment-1');
    if (first.kind !== 'new') throw new Error('expected a reservation');
    flaky.setDown(true);
    const abandoning = first.reservation.abandon();
    await jest.advanceTimersByTimeAsync(3000);
    await abandoning;
    flaky.setDown(false);
    await jest.advanceTimersByTimeAsync(2000);
    await expect(store.admit('key-00000024', fingerprint, () => true, 'payment-2')).resolves.toMatchObject({ kind: 'new' });
  });

  it('is listed, counted and resolvable as an unknown outcome once past its deadline', async () => {
    const metrics = createMetrics();
    const journal = new Journal(new MemoryJournalStore({ maxEntries: 10, maxAgeMs: 1e9 }), new RedisTrouble(metrics, logger), logger, metrics, 10_000);
    const entry = journal.begin({ id: 'p-1', requestId: 'r-1', invoiceId: '22', amount: '1' });
    expect(await journal.countUnresolved()).toBe(0);
    await expect(journal.resolve(entry.id, { as: 'not_charged', by: 'ops' })).rejects.toThrow(/still in flight/);
    jest.advanceTimersByTime(10_001);
    expect(await journal.countUnresolved()).toBe(1);
    expect(await journal.list({ unresolved: true })).toEqual([expect.objectContaining({ id: 'p-1', outcome: 'unknown', abandoned: true })]);
    expect(await journal.list({ outcome: 'unknown' })).toHaveLength(1);
    await journal.resolve(entry.id, { as: 'not_charged', by: 'ops' });
    expect(await journal.countUnresolved()).toBe(0);
  });
});

describe('after Redis lost data', () => {
  it('writes back the answers and holds this instance stored lately, so a retry replays instead of paying again', async () => {
    const { pay, icg, wipe, republish } = setup();
    await pay.pay(request('30', { key: 'key-00000030' }));
    icg.replies.push(new OutcomeUnknown(504, 'iCG did not answer the pay within 1000 ms'));
    await pay.pay(request('31', { key: 'key-00000031' }));
    await wipe();
    await expect(republish()).resolves.toEqual({ answers: 2, holds: 1 });
    await expect(pay.pay(request('30', { key: 'key-00000030' }))).resolves.toMatchObject({ isReplay: true, answer: { status: 200 } });
    await expect(pay.pay(request('31', { key: 'key-00000031' }))).resolves.toMatchObject({ isReplay: true, answer: { status: 504 } });
    await expect(pay.pay(request('31'))).rejects.toThrow(InvoiceHeld);
    expect(icg.calls).toHaveLength(2);
    // What Redis still has is left alone.
    await expect(republish()).resolves.toEqual({ answers: 0, holds: 0 });
  });

  it.each([
    ['with a key', 'key-00000032'],
    ['without a key', undefined],
  ])('sends nothing when a loss is noticed while the pay is being admitted (%s): the pause is looked at again before iCG', async (_name, key) => {
    const { pay, icg, dataLoss } = setup({ onToken: (guard) => guard.lost(null) });
    await expect(pay.pay(request('32', key === undefined ? {} : { key }))).rejects.toThrow(RedisDataLost);
    expect(icg.calls).toHaveLength(0);
    dataLoss?.close();
  });
});

describe('shutting down', () => {
  it('refuses new pays once closed (503, nothing sent)', async () => {
    const { pay, icg } = setup();
    pay.close();
    await expect(pay.pay(request('40', { key: 'key-00000040' }))).rejects.toThrow(ServiceUnavailable);
    expect(icg.calls).toHaveLength(0);
  });
});
