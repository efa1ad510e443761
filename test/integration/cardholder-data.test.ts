import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { legacyFingerprint } from '../../src/pay/fingerprint';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomAccountNumber, randomCardNumber, randomCvv, leaksOf, TEST_ACCOUNTS, TEST_CARDS } from '../support/cardholder-data';
import { dumpRedis } from '../support/redis-dump';
import { startHarness, payBody, postJson, testRedisUrl, type Harness } from '../support/harness';

const LIMITS = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_INVOICE_MAX: '100000' };

describe('cardholder data', () => {
  let h: Harness;
  afterEach(async () => h.close());

  it('is never relayed, stored or logged in full, even when iCG echoes the whole request', async () => {
    h = await startHarness({ env: { ...LIMITS, LOG_LEVEL: 'trace' } });
    h.icg.faults.payEcho = true;
    const numbers: string[] = [];
    const cvvs: string[] = [];
    const bodies: Record<string, unknown>[] = [];
    for (const card of TEST_CARDS) {
      const cvv = randomCvv();
      cvvs.push(cvv);
      numbers.push(card);
      bodies.push(payBody({ Method: { CardNumber: card, Cvv: cvv, Expiration: '1229' } }));
    }
    for (const { routing, account } of TEST_ACCOUNTS) {
      numbers.push(account);
      bodies.push(payBody({ Method: { RoutingNumber: routing, AccountNumber: account } }));
    }
    for (let i = 0; i < 6; i += 1) {
      const [card, account, cvv] = [randomCardNumber(), randomAccountNumber(), randomCvv()];
      numbers.push(card, account);
      cvvs.push(cvv);
      bodies.push(
        payBody({
          Method: { Token: 'tok', Nested: { Deeper: [{ Pan: card, CVC2: cvv }] } },
          Customer: {
            Profile: { Wallets: [{ Bank: { AcctNo: account } }], Note: `card ${card.slice(0, 4)} ${card.slice(4, 8)} ${card.slice(8, 12)} ${card.slice(12)}` },
          },
          Invoices: [{ Id: 7, Memo: { AccountNumber: account } }],
          Description: `customer typed ${card} by mistake`,
        }),
      );
    }
    // Odd field names, odd groupings and free text, as a careless client or gateway writes them.
    for (let i = 0; i < 3; i += 1) {
      const [card, account, cvv] = [randomCardNumber(), randomAccountNumber(), randomCvv()];
      numbers.push(card, account);
      cvvs.push(cvv);
      const dotted = card.replace(/(\d{4})(?=\d)/g, '$1.');
      bodies.push(
        payBody({
          Method: { cardNUMBER: dotted, CVVNumber: cvv },
          Customer: { Bank: { acctNbr: account, Kontonummer: account }, Notes: [`CVV ${cvv} given by phone`, `acct ${account}`] },
          Metadata: `pay with ${card.slice(0, 4)}_${card.slice(4, 8)}_${card.slice(8, 12)}_${card.slice(12)}`,
        }),
      );
    }
    const answers = [];
    const cards = numbers.filter((n) => n.length >= 15);
    for (const [i, body] of bodies.entries()) {
      const card = cards[i % cards.length] ?? '';
      const separator = ['-', '.', '_', ':'][i % 4] ?? '-';
      const requestId =
        i % 2 === 0 ? card : `req${separator}${card.slice(0, 4)}${separator}${card.slice(4, 8)}${separator}${card.slice(8, 12)}${separator}${card.slice(12)}`;
      answers.push(await postJson(`${h.url}/pay/ch-${i}`, body, { 'Idempotency-Key': `cardholder-key-${Date.now()}-${i}`, 'X-Request-Id': requestId }));
    }
    expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 200));
    // The echo reached us (so the filter had something to do) and came back masked.
    expect(JSON.stringify(answers[0]?.body)).toContain('XXXXXXXXXXXX1111');
    for (const received of h.icg.received) expect(String(received.headers['x-request-id'])).toMatch(/^[0-9a-f-]{36}$/);
    // A replay serves the stored record: it must be as clean as the first answer.
    answers.push(await postJson(`${h.url}/pay/ch-0`, bodies[0], { 'Idempotency-Key': 'replayed-cardholder-key' }));

    const outputs = {
      answers: answers.map((a) => JSON.stringify(a.body) + JSON.stringify([...a.headers])).join('\n'),
      logs: h.logs[0]?.text ?? '',
      redis: await dumpRedis(testRedisUrl(), h.config.redis.keyPrefix),
    };
    expect(outputs.logs).toContain('"level":"debug"');
    expect(outputs.redis).toContain('idempotency:');
    for (const [where, text] of Object.entries(outputs)) expect({ where, leaks: leaksOf(text, { numbers, cvvs }) }).toEqual({ where, leaks: [] });
  });

  it('filters a record an earlier version stored unfiltered when it is replayed (a rolling deploy)', async () => {
    h = await startHarness({ env: LIMITS });
    const body = { Amount: 5, Type: 'D', Method: { CardNumber: '4111111111111111', Cvv: '123' } };
    const key = 'rolling-deploy-key-1';
    const redis = new Redis(testRedisUrl());
    try {
      // What the previous version wrote: its fingerprint (SHA-256 of invoice id and sorted JSON) and iCG's whole answer.
      const fingerprint = legacyFingerprint('R1', body);
      const storeKey = `${h.config.redis.keyPrefix}idempotency:${createHash('sha256').update(key).digest('hex')}`;
      const answer = {
        status: 200,
        contentType: 'application/json',
        body: { Status: 'Approved', RawRequest: JSON.stringify(body), Pan: '4111111111111111', ExtraData: { Echo: body } },
      };
      await redis.set(storeKey, JSON.stringify({ state: 'done', fingerprint, answer }), 'PX', 60_000);
      const replay = await postJson(`${h.url}/pay/R1`, body, { 'Idempotency-Key': key });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.body).toEqual({ Status: 'Approved', ExtraData: { Echo: { Amount: 5, Type: 'D', Method: { CardNumber: 'XXXXXXXXXXXX1111' } } } });
    } finally {
      await redis.quit();
    }
  });

  it('scrubs records stored by the previous version in place at start-up, keeping their lifetime', async () => {
    const prefix = `test:scrub-${Date.now()}:`;
    const redis = new Redis(testRedisUrl());
    const key = `${prefix}idempotency:${'a'.repeat(64)}`;
    const old = {
      state: 'done',
      fingerprint: 'f',
      answer: {
        status: 200,
        contentType: 'application/json',
        body: { Status: 'Approved', RawRequest: '{"CardNumber":"4111111111111111","Cvv":"123"}', ExtraData: { CardNumber: '5454545454545454', Cvv: '987' } },
      },
    };
    await redis.set(key, JSON.stringify(old), 'PX', 3_600_000);
    try {
      h = await startHarness({ env: { ...LIMITS, REDIS_KEY_PREFIX: prefix } });
      let raw: string | null = null;
      for (let i = 0; i < 50 && (raw === null || raw.includes('RawRequest')); i += 1) {
        await sleep(50);
        raw = await redis.get(key);
      }
      expect(JSON.parse(raw ?? '{}')).toEqual({
        ...old,
        // The request behind an old record is unknown: only its top-level fields are kept.
        answer: { ...old.answer, body: { Status: 'Approved' } },
      });
      expect(await redis.pttl(key)).toBeGreaterThan(3_500_000);
    } finally {
      await redis.del(key);
      await redis.quit();
    }
  });
});
