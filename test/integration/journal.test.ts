import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHarness, payBody, postJson, testRedisUrl, type Harness } from '../support/harness';

const LIMITS = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_INVOICE_MAX: '100000' };
const ADMIN_TOKEN = 'admin-token-0123456789';
const CLI = path.resolve(__dirname, '../../dist/cli/payments.js');

interface Entry {
  id: string;
  outcome: string;
  invoiceId: string;
  amount: string;
  instrument?: string;
  keyHash?: string;
  transactionId?: string;
  resolutions?: { as: string; by: string; reference?: string }[];
}

async function admin(h: Harness, route: string, init: RequestInit = {}, token = ADMIN_TOKEN): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${h.services[0]?.adminUrl ?? ''}${route}`, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function payments(h: Harness, query: string): Promise<Entry[]> {
  const { status, body } = await admin(h, `/admin/payments?${query}`);
  expect(status).toBe(200);
  return body['payments'] as Entry[];
}

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('the payment journal', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ env: { ...LIMITS, ADMIN_TOKEN, ICG_TIMEOUT_MS: '400' } });
  });
  afterEach(async () => h.close());

  it('records every pay with its outcome, iCG reference and a masked instrument, never the card', async () => {
    const approved = await postJson(`${h.url}/pay/j-1`, payBody(), { 'X-Request-Id': 'journal-req-1' });
    const declined = await postJson(`${h.url}/pay/j-2`, payBody({ Method: { CardNumber: '4000000000000002' } }));
    h.icg.faults.payStatus = 404;
    await postJson(`${h.url}/pay/j-3`, payBody());
    const entries = await payments(h, 'since=1h');
    expect(entries.map((e) => [e.invoiceId, e.outcome])).toEqual([
      ['j-3', 'rejected'],
      ['j-2', 'declined'],
      ['j-1', 'approved'],
    ]);
    expect(entries[2]).toMatchObject({
      amount: '12.5',
      instrument: 'card XXXXXXXXXXXX1111',
      transactionId: approved.body['TransactionId'],
      requestId: 'journal-req-1',
    });
    expect(declined.body['Status']).toBe('Declined');
    expect(JSON.stringify(entries)).not.toContain('4111111111111111');
    // One line as each pay is forwarded (the only trace if its instance and Redis are both lost) and one at its end.
    const logged = h.logs[0]?.records().filter((r) => r['event'] === 'payment' && r['level'] === 'info') ?? [];
    expect(logged.map((r) => (r['payment'] as { outcome: string }).outcome)).toEqual(['pending', 'approved', 'pending', 'declined', 'pending', 'rejected']);
  });

  it('lists an outcome that may have charged as unknown, holds the invoice, and lets an operator resolve it as not charged: the same key then pays once', async () => {
    h.icg.faults.payHang = true;
    const key = { 'Idempotency-Key': `journal-key-${Date.now()}` };
    const timedOut = await postJson(`${h.url}/pay/j-10`, payBody(), key);
    expect(timedOut.status).toBe(504);
    expect(timedOut.body).toMatchObject({ type: expect.stringContaining('outcome-unknown') });
    h.icg.faults.payHang = false;

    // Another attempt without the key is held; the key replays the unknown outcome.
    const held = await postJson(`${h.url}/pay/j-10`, payBody());
    expect(held.status).toBe(409);
    expect(held.body).toMatchObject({ type: expect.stringContaining('invoice-held') });
    expect(Number(held.headers.get('retry-after'))).toBeGreaterThan(1);
    expect((await postJson(`${h.url}/pay/j-10`, payBody(), key)).headers.get('idempotent-replayed')).toBe('true');

    const [unknown] = await payments(h, 'outcome=unknown&unresolved=true');
    expect(unknown).toMatchObject({ invoiceId: 'j-10', outcome: 'unknown' });
    const metrics = await (await fetch(`${h.services[0]?.adminUrl ?? ''}/metrics`)).text();
    expect(sample(metrics, 'icg_bff_payments_unresolved')).toBe(1);
    expect(sample(metrics, 'icg_bff_payment_outcomes_total{outcome="unknown"}')).toBe(1);

    const resolved = await admin(h, `/admin/payments/${unknown?.id ?? ''}/resolution`, {
      method: 'POST',
      body: JSON.stringify({ resolution: 'not_charged', resolvedBy: 'alice' }),
    });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({ resolutions: [{ as: 'not_charged', by: 'alice', at: expect.any(String) }] });
    const retry = await postJson(`${h.url}/pay/j-10`, payBody(), key);
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect((await postJson(`${h.url}/pay/j-10`, payBody(), key)).headers.get('idempotent-replayed')).toBe('true');
    // Repeating the resolution (a retried script) must not free the key the new pay now holds.
    const again = await admin(h, `/admin/payments/${unknown?.id ?? ''}/resolution`, {
      method: 'POST',
      body: JSON.stringify({ resolution: 'not_charged', resolvedBy: 'alice' }),
    });
    expect(again.status).toBe(200);
    expect((await postJson(`${h.url}/pay/j-10`, payBody(), key)).headers.get('idempotent-replayed')).toBe('true');
    expect(h.icg.stats.paysByInvoice['j-10']).toBe(2);
    expect(await payments(h, 'unresolved=true')).toEqual([]);
  });

  it('resolves an unknown outcome as charged: the key then replays an answer saying so, and nothing is deleted', async () => {
    h.icg.faults.payHang = true;
    const key = { 'Idempotency-Key': `journal-key-${Date.now()}` };
    expect((await postJson(`${h.url}/pay/j-20`, payBody(), key)).status).toBe(504);
    h.icg.faults.payHang = false;
    const [unknown] = await payments(h, 'outcome=unknown');
    const missingReference = await admin(h, `/admin/payments/${unknown?.id ?? ''}/resolution`, {
      method: 'POST',
      body: JSON.stringify({ resolution: 'charged', resolvedBy: 'bob' }),
    });
    expect(missingReference.status).toBe(400);
    const resolution = { resolution: 'charged', reference: 'ICG-TX-42', resolvedBy: 'bob' };
    expect((await admin(h, `/admin/payments/${unknown?.id ?? ''}/resolution`, { method: 'POST', body: JSON.stringify(resolution) })).status).toBe(200);
    // Resolving again the same way changes nothing; another way is refused.
    expect((await admin(h, `/admin/payments/${unknown?.id ?? ''}/resolution`, { method: 'POST', body: JSON.stringify(resolution) })).status).toBe(200);
    expect(
      (
        await admin(h, `/admin/payments/${unknown?.id ?? ''}/resolution`, {
          method: 'POST',
          body: JSON.stringify({ resolution: 'not_charged', resolvedBy: 'eve' }),
        })
      ).status,
    ).toBe(409);
    const replay = await postJson(`${h.url}/pay/j-20`, payBody(), key);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ Status: 'Approved', TransactionId: 'ICG-TX-42', Reconciled: true });
    expect(h.icg.stats.paysByInvoice['j-20']).toBe(1);
    // The hold ended with the resolution: the invoice can be paid again (a new payment).
    expect((await postJson(`${h.url}/pay/j-20`, payBody())).status).toBe(200);
    const entry = await admin(h, `/admin/payments/${unknown?.id ?? ''}`);
    expect(entry.body).toMatchObject({ outcome: 'unknown', resolutions: [{ as: 'charged', reference: 'ICG-TX-42', by: 'bob' }] });
  });

  it('refuses to resolve a payment whose outcome is known', async () => {
    await postJson(`${h.url}/pay/j-30`, payBody());
    const [approved] = await payments(h, 'invoice=j-30');
    const res = await admin(h, `/admin/payments/${approved?.id ?? ''}/resolution`, {
      method: 'POST',
      body: JSON.stringify({ resolution: 'not_charged', resolvedBy: 'alice' }),
    });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ type: expect.stringContaining('payment-not-resolvable') });
  });

  it('keeps the admin API behind its own token, and answers bad queries with problems', async () => {
    expect((await admin(h, '/admin/payments', {}, 'wrong-token-0123456789')).status).toBe(401);
    expect((await fetch(`${h.services[0]?.adminUrl ?? ''}/admin/payments`)).status).toBe(401);
    expect((await admin(h, '/admin/payments?since=yesterday')).status).toBe(400);
    expect((await admin(h, '/admin/payments/no-such-payment')).status).toBe(404);
    // The public port has no admin API at all.
    expect((await fetch(`${h.url}/admin/payments`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(404);
  });

  it('lists and resolves from the command line, reading the same configuration and Redis', async () => {
    h.icg.faults.payHang = true;
    expect((await postJson(`${h.url}/pay/j-40`, payBody(), { 'Idempotency-Key': `cli-key-${Date.now()}` })).status).toBe(504);
    h.icg.faults.payHang = false;
    const env = { PATH: process.env['PATH'] ?? '', NODE_ENV: 'test', REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: h.config.redis.keyPrefix };
    const run = promisify(execFile);
    const listed = await run(process.execPath, [CLI, '--outcome', 'unknown', '--since', '1h', '--json'], { env });
    const [entry] = JSON.parse(listed.stdout) as Entry[];
    expect(entry).toMatchObject({ invoiceId: 'j-40', outcome: 'unknown' });
    const table = await run(process.execPath, [CLI, '--unresolved'], { env });
    expect(table.stdout).toContain(entry?.id ?? 'missing');
    const resolved = await run(process.execPath, [CLI, 'resolve', entry?.id ?? '', '--as', 'not_charged', '--by', 'carol'], { env });
    expect(resolved.stdout).toContain('resolved');
    expect(await payments(h, 'unresolved=true')).toEqual([]);
  });
});

describe('the admin listener without ADMIN_TOKEN', () => {
  it('serves /metrics but no admin API', async () => {
    const h = await startHarness();
    try {
      expect((await fetch(`${h.services[0]?.adminUrl ?? ''}/metrics`)).status).toBe(200);
      expect((await fetch(`${h.services[0]?.adminUrl ?? ''}/admin/payments`)).status).toBe(404);
    } finally {
      await h.close();
    }
  });
});
