import { connect } from 'node:net';
import { startHarness, payBody, postJson, type Harness } from '../support/harness';

/** Sends raw bytes and returns everything the server writes before it closes the connection. */
async function rawExchange(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('close', () => {
      resolve(answer);
    });
    socket.on('error', reject);
  });
}

const LIMITS = { RATE_LIMIT_MAX: '1000', RATE_LIMIT_INVOICE_MAX: '1000' };

describe('POST /pay/:invoiceId', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { ...LIMITS, ICG_TIMEOUT_MS: '500' } });
  });
  afterAll(async () => h.close());
  beforeEach(() => {
    h.icg.reset();
  });

  it('pays through iCG and relays its status and JSON body', async () => {
    const res = await postJson(`${h.url}/pay/112`, payBody());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ Status: 'Approved', ReferenceNumber: '112' });
    expect(h.icg.stats.pays).toBe(1);
  });

  it('relays no upstream Set-Cookie or internal headers', async () => {
    const res = await postJson(`${h.url}/pay/113`, payBody());
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-aspnet-version')).toBeNull();
  });

  it('forwards only our bearer token, content type, accept and the request id', async () => {
    await postJson(`${h.url}/pay/114`, payBody(), {
      Authorization: 'Bearer client-supplied',
      Cookie: 'session=abc',
      'X-Request-Id': 'req-114',
      'X-Forwarded-For': '1.2.3.4',
      'X-Custom': 'x',
    });
    const received = h.icg.received.at(-1);
    expect(received?.headers['authorization']).toMatch(/^Bearer ey/);
    expect(received?.headers['authorization']).not.toContain('client-supplied');
    expect(received?.headers['x-request-id']).toBe('req-114');
    expect(received?.headers['content-type']).toBe('application/json');
    expect(received?.headers['accept']).toBe('application/json');
    for (const header of ['cookie', 'x-forwarded-for', 'x-custom', 'origin']) expect(received?.headers[header]).toBeUndefined();
  });

  it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
    const kept = await postJson(`${h.url}/pay/115`, payBody(), { 'X-Request-Id': 'abc-123' });
    expect(kept.headers.get('x-request-id')).toBe('abc-123');
    const replaced = await postJson(`${h.url}/pay/115x`, payBody(), { 'X-Request-Id': 'bad id with spaces' });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    ['a path-traversal id', '..%2F..%2Fadmin'],
    ['an id with a semicolon', '1;2'],
    ['an over-long id', 'x'.repeat(65)],
    ['an id with spaces', 'inv%201'],
  ])('answers 400 problem+json for %s and never calls iCG', async (_name, id) => {
    const res = await postJson(`${h.url}/pay/${id}`, payBody());
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 400, title: expect.any(String), requestId: res.headers.get('x-request-id') });
    expect(h.icg.stats.pays).toBe(0);
  });

  it('answers 415 for a body that is not JSON', async () => {
    const res = await fetch(`${h.url}/pay/116`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'Amount=1' });
    expect(res.status).toBe(415);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const missing = await fetch(`${h.url}/pay/116`, { method: 'POST' });
    expect(missing.status).toBe(415);
    expect(h.icg.stats.pays).toBe(0);
  });

  it('answers 415 for JSON declared in another charset than UTF-8, and takes UTF-8 however it is spelled', async () => {
    const body = JSON.stringify(payBody());
    for (const charset of ['utf-16', 'latin1', 'ISO-8859-1', 'utf-8; charset=utf-16']) {
      const res = await fetch(`${h.url}/pay/116`, { method: 'POST', headers: { 'Content-Type': `application/json; charset=${charset}` }, body });
      expect(res.status).toBe(415);
    }
    expect(h.icg.stats.pays).toBe(0);
    for (const [i, type] of ['application/json; charset=UTF-8', 'application/json;charset="utf8"'].entries()) {
      const res = await fetch(`${h.url}/pay/116-${String(i)}`, { method: 'POST', headers: { 'Content-Type': type }, body });
      expect(res.status).toBe(200);
    }
  });

  it('masks a card number used as a field name in the pointers of a 400', async () => {
    const res = await postJson(`${h.url}/pay/117`, '{"Amount": 1, "Type": "D", "Method": {"4111111111111111": 1, "4111111111111111": 2}}');
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('XXXXXXXXXXXX1111');
    expect(JSON.stringify(res.body)).not.toContain('4111111111111111');
  });

  it('answers 400 for malformed JSON and for a non-object body', async () => {
    expect((await postJson(`${h.url}/pay/117`, '{"Amount": 1,')).status).toBe(400);
    expect((await postJson(`${h.url}/pay/117`, '[1,2]')).status).toBe(400);
    expect((await postJson(`${h.url}/pay/117`, '"text"')).status).toBe(400);
    expect(h.icg.stats.pays).toBe(0);
  });

  it('answers 413 for a body over the limit', async () => {
    const res = await postJson(`${h.url}/pay/118`, payBody({ Description: 'x'.repeat(17 * 1024) }));
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(h.icg.stats.pays).toBe(0);
  });

  it('answers 415 for a compressed body rather than inflating it', async () => {
    const res = await fetch(`${h.url}/pay/118`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, body: 'x' });
    expect(res.status).toBe(415);
  });

  it('answers 400 with field pointers for invalid fields', async () => {
    const res = await postJson(`${h.url}/pay/119`, { Amount: -5, Method: 'card' });
    expect(res.status).toBe(400);
    expect(res.body['errors']).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ pointer: '/Amount' }),
        expect.objectContaining({ pointer: '/Type' }),
        expect.objectContaining({ pointer: '/Method' }),
      ]),
    );
    expect(h.icg.stats.pays).toBe(0);
  });

  it('answers 400, not 500, for a deeply nested body with an Idempotency-Key', async () => {
    const res = await postJson(`${h.url}/pay/119b`, `{"Amount":1,"Type":"D","X":${'['.repeat(5000)}${']'.repeat(5000)}}`, {
      'Idempotency-Key': 'deep-body-key-1',
    });
    expect(res.status).toBe(400);
    expect(h.icg.stats.pays).toBe(0);
  });

  it('relays iCG 4xx answers with their status and body', async () => {
    h.icg.faults.payStatus = 404;
    const res = await postJson(`${h.url}/pay/120`, payBody());
    expect(res.status).toBe(404);
    expect(res.body).toHaveProperty('Message');
  });

  it('relays an empty iCG answer as a status without a body', async () => {
    h.icg.faults.payStatus = 204;
    const res = await fetch(`${h.url}/pay/120b`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payBody()) });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
  });

  it('relays a declined payment as iCG answers it (200)', async () => {
    const res = await postJson(`${h.url}/pay/121`, payBody({ Method: { CardNumber: '4000000000000002' } }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ Status: 'Declined' });
  });

  it('answers 502 for an iCG 5xx without relaying upstream internals', async () => {
    h.icg.faults.payStatus = 500;
    const res = await postJson(`${h.url}/pay/122`, payBody());
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const text = JSON.stringify(res.body);
    expect(text).not.toMatch(/db01|StackTrace|ExceptionMessage|127\.0\.0\.1/);
    expect(h.icg.stats.pays).toBe(1);
  });

  it('answers 502 when iCG answers something that is not JSON', async () => {
    h.icg.faults.payNonJson = true;
    expect((await postJson(`${h.url}/pay/123`, payBody())).status).toBe(502);
  });

  it('answers 504 when iCG does not answer in time, and never retries the pay', async () => {
    h.icg.faults.payHang = true;
    const started = Date.now();
    const res = await postJson(`${h.url}/pay/124`, payBody());
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(h.icg.stats.pays).toBe(1);
  });

  it('answers 400, not 500, for an invoice id that is not valid percent-encoding, and logs no error', async () => {
    for (const id of ['%ZZ', 'ab%', '%E0%A4%A', '%ZZ4111111111111111']) {
      const res = await postJson(`${h.url}/pay/${id}`, payBody());
      expect(res.status).toBe(400);
      expect(res.body['type']).toBe('tag:icg-bff,2026:problem:invalid-request');
    }
    expect(h.icg.stats.pays).toBe(0);
    expect(h.logs[0]?.records().filter((r) => r['level'] === 'error')).toEqual([]);
    expect(h.logs[0]?.text).not.toContain('4111111111111111');
  });

  it('answers 400 for a body that is not UTF-8 instead of forwarding replacement characters', async () => {
    const bytes = Buffer.concat([Buffer.from('{"Amount":12.5,"Type":"D","Description":"order '), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const res = await fetch(`${h.url}/pay/126`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: bytes });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/UTF-8/);
    expect(h.icg.stats.pays).toBe(0);
  });

  it('answers 502 for an iCG redirect instead of relaying a bare 3xx', async () => {
    h.icg.faults.payStatus = 302;
    const res = await postJson(`${h.url}/pay/127`, payBody());
    expect(res.status).toBe(502);
    expect(res.headers.get('location')).toBeNull();
  });

  it("answers 400 for an all-digit invoice id beyond iCG's int range (a card number, say) and masks it in every log line", async () => {
    const res = await postJson(`${h.url}/pay/4111111111111111`, payBody(), { 'X-Request-Id': 'pan-in-path-1' });
    expect(res.status).toBe(400);
    const lines = h.logs[0]?.records().filter((r) => r['requestId'] === 'pan-in-path-1') ?? [];
    expect(lines.find((r) => r['event'] === 'request')).toMatchObject({ path: '/pay/XXXXXXXXXXXX1111' });
    expect(JSON.stringify(lines)).not.toContain('4111111111111111');
    expect(h.icg.stats.pays).toBe(0);
  });

  it('logs an allowed invoice id as an id, even one whose digits pass the Luhn check (a timestamp)', async () => {
    // 1732630001862 passes the Luhn check; the id is an ordinary invoice id and must be findable in the logs.
    const res = await postJson(`${h.url}/pay/c1732630001862a`, payBody(), { 'X-Request-Id': 'timestamp-id-1' });
    expect(res.status).toBe(200);
    const line = h.logs[0]?.records().find((r) => r['event'] === 'request' && r['requestId'] === 'timestamp-id-1');
    expect(line).toMatchObject({ path: '/pay/c1732630001862a', invoiceId: 'c1732630001862a' });
  });

  it('answers 405 for other methods on the pay route', async () => {
    const res = await fetch(`${h.url}/pay/125`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('answers 404 problem+json for unknown paths', async () => {
    const res = await fetch(`${h.url}/nope`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('requests Node refuses before Express sees them', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.close());

  it('answer problem+json with a request id, like every other error', async () => {
    const cases: [string, number][] = [
      ['FOO /pay/1 HTTP/1.1\r\nHost: x\r\n\r\n', 400],
      [`POST /pay/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['CONNECT icg.example.com:443 HTTP/1.1\r\nHost: icg.example.com\r\n\r\n', 405],
    ];
    for (const [request, status] of cases) {
      const answer = await rawExchange(h.url, request);
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      expect(head).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
      expect(head).toMatch(/\r\nContent-Type: application\/problem\+json/);
      expect(head).toMatch(/\r\nX-Request-Id: [0-9a-f-]{36}\r\n/);
      expect(head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/);
      expect(JSON.parse(body)).toMatchObject({ status, type: expect.stringMatching(/^tag:icg-bff,2026:problem:/) });
    }
    expect(h.icg.stats.pays).toBe(0);
  });

  it('survives a CONNECT whose client resets the connection at once', async () => {
    const { hostname, port } = new URL(h.url);
    for (let i = 0; i < 5; i += 1) {
      const socket = connect(Number(port), hostname, () => {
        socket.write('CONNECT icg.example.com:443 HTTP/1.1\r\nHost: icg.example.com\r\n\r\n');
        socket.resetAndDestroy();
      });
      socket.on('error', () => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  });
});

describe('POST /pay when iCG cannot be reached', () => {
  it('answers 502 problem+json', async () => {
    const h = await startHarness();
    await h.icg.close();
    const res = await postJson(`${h.url}/pay/200`, payBody());
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ status: 502, requestId: expect.any(String) });
    await h.close();
  });
});
