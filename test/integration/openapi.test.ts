import { connect } from 'node:net';
import Ajv2020 from 'ajv/dist/2020';
import { PROBLEM_TYPE_BASE } from '../../src/answer';
import { PROBLEMS } from '../../src/errors';
import { DOCUMENTED_ANSWER_FIELDS } from '../../src/icg/answer-filter';
import { openApiDocument } from '../../src/http/openapi';
import { MAX_NUMERIC_INVOICE_ID, parseInvoiceId } from '../../src/pay/invoice-id';
import { parsePayBody } from '../../src/pay/pay-body';
import { startHarness, payBody, type Harness } from '../support/harness';

type Json = Record<string, unknown>;
const doc: Json = openApiDocument;
const ajv = new Ajv2020({ strict: false, validateFormats: false });
ajv.addSchema({ ...doc, $id: 'openapi' });

/** Follows a local `$ref` inside the document. */
function resolve(node: unknown): Json {
  let current = node as Json;
  while (typeof current['$ref'] === 'string') {
    current = current['$ref']
      .slice(2)
      .split('/')
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<Json>((at, key) => at[key] as Json, doc);
  }
  return current;
}

/** Every response object of the document (paths and components), resolved. */
function allResponses(): Json[] {
  const paths = Object.values(doc['paths'] as Record<string, Json>);
  const operations = paths.flatMap((item) =>
    Object.values(item).filter((value): value is Json => typeof value === 'object' && value !== null && 'responses' in value),
  );
  return operations.flatMap((operation) => Object.values(operation['responses'] as Record<string, unknown>).map(resolve));
}

/** The headers the document names anywhere, lower case: an answer carrying one must document it on that response. */
const API_HEADERS = new Set(
  allResponses().flatMap((response) => Object.keys((response['headers'] as Json | undefined) ?? {}).map((name) => name.toLowerCase())),
);

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Sends raw bytes (what fetch refuses to send) and parses the answer Node writes to the socket. */
function rawCall(url: string, request: string): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), hostname, () => socket.write(request));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = Buffer.concat(chunks).toString('utf8').split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = new Headers();
      for (const line of lines) headers.append(line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim());
      resolvePromise({ status: Number(statusLine.split(' ')[1]), headers, text: rest.join('\r\n\r\n') });
    });
  });
}

/**
 * The answer's status, content type and body schema are those documented; every header documented
 * as always sent is there; and every header the document knows that the answer carries is documented
 * on this response.
 */
function expectDocumented(method: string, template: string, answer: Answer): void {
  const paths = doc['paths'] as Record<string, Json>;
  const operation = paths[template]?.[method] as Json | undefined;
  expect({ method, template, defined: operation !== undefined }).toEqual({ method, template, defined: true });
  const responses = operation?.['responses'] as Record<string, Json>;
  const documented = responses[String(answer.status)] ?? responses['default'];
  expect({ template, status: answer.status, documented: documented !== undefined }).toEqual({ template, status: answer.status, documented: true });
  const response = resolve(documented);
  const documentedHeaders = (response['headers'] as Record<string, unknown> | undefined) ?? {};
  for (const [name, header] of Object.entries(documentedHeaders)) {
    const value = answer.headers.get(name);
    if (value !== null) {
      // Header schemas describe the value as read: a number for an integer header.
      const schema = resolve(header)['schema'] as Json;
      const validate = ajv.compile(schema);
      const read = schema['type'] === 'integer' ? Number(value) : value;
      expect({ header: name, value, valid: validate(read) }).toEqual({ header: name, value, valid: true });
    }
    if (resolve(header)['required'] === true)
      expect({ status: answer.status, header: name, present: answer.headers.has(name) }).toEqual({ status: answer.status, header: name, present: true });
  }
  const names = new Set(Object.keys(documentedHeaders).map((name) => name.toLowerCase()));
  for (const [name] of answer.headers) {
    if (API_HEADERS.has(name))
      expect({ template, status: answer.status, header: name, documented: names.has(name) }).toEqual({
        template,
        status: answer.status,
        header: name,
        documented: true,
      });
  }
  const content = response['content'] as Record<string, Json> | undefined;
  const type = (answer.headers.get('content-type') ?? '').split(';')[0] ?? '';
  if (!content || answer.text === '') {
    expect({ status: answer.status, body: answer.text }).toEqual({ status: answer.status, body: '' });
    return;
  }
  expect({ status: answer.status, types: Object.keys(content) }).toEqual({ status: answer.status, types: expect.arrayContaining([type]) });
  if (!type.endsWith('json')) return;
  const schema = content[type]?.['schema'] as Json;
  const validate = ajv.compile(typeof schema['$ref'] === 'string' ? { $ref: `openapi${schema['$ref']}` } : schema);
  const body: unknown = JSON.parse(answer.text);
  expect({ status: answer.status, valid: validate(body), errors: validate.errors ?? null }).toEqual({ status: answer.status, valid: true, errors: null });
}

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

const ADMIN_TOKEN = 'openapi-admin-token-1';

describe('the OpenAPI document', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      env: { CORS_ORIGINS: 'https://shop.example.com', RATE_LIMIT_MAX: '200', RATE_LIMIT_INVOICE_MAX: '3', ICG_TIMEOUT_MS: '300', ADMIN_TOKEN },
    });
  });
  afterAll(async () => h.close());
  beforeEach(() => {
    h.icg.reset();
  });

  it('is OpenAPI 3.1, every $ref in it resolves, and it is what GET /openapi.json serves', async () => {
    expect(doc['openapi']).toBe('3.1.0');
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(resolve({ $ref: ref.slice(8, -1) })).toBeDefined();
    const served = await call(`${h.url}/openapi.json`);
    expectDocumented('get', '/openapi.json', served);
    expect(JSON.parse(served.text)).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it('states the facts the code holds: problem types, answer fields, invoice ids, body bounds', () => {
    const schemas = (doc['components'] as Json)['schemas'] as Record<string, Json>;
    const problemType = (schemas['Problem']?.['properties'] as Record<string, Json>)['type'];
    expect(new Set(problemType?.['enum'] as string[])).toEqual(new Set(PROBLEMS.map((problem) => `${PROBLEM_TYPE_BASE}${problem.slug}`)));
    expect(Object.keys(schemas['PayResponse']?.['properties'] as Json)).toEqual(expect.arrayContaining([...DOCUMENTED_ANSWER_FIELDS]));

    const invoiceId = ((doc['components'] as Json)['parameters'] as Record<string, Json>)['InvoiceId'];
    expect(invoiceId?.['description']).toContain(String(MAX_NUMERIC_INVOICE_ID));
    expect(parseInvoiceId(String(MAX_NUMERIC_INVOICE_ID)).canonical).toBe(String(MAX_NUMERIC_INVOICE_ID));
    expect(() => parseInvoiceId(String(MAX_NUMERIC_INVOICE_ID + 1))).toThrow();

    // Every bound the document states for a body field is the one the parser enforces.
    const accepts = (fields: Json): boolean => {
      try {
        parsePayBody(Buffer.from(JSON.stringify({ Amount: 1, Type: 'D', ...fields })));
        return true;
      } catch {
        return false;
      }
    };
    const properties = schemas['PayRequest']?.['properties'] as Record<string, Json>;
    let checked = 0;
    for (const [field, schema] of Object.entries(properties)) {
      const { maxLength, minLength, maximum, minimum, exclusiveMinimum } = schema as Record<string, number | undefined>;
      const bounds: [boolean, Json][] = [];
      if (maxLength !== undefined) bounds.push([true, { [field]: 'x'.repeat(maxLength) }], [false, { [field]: 'x'.repeat(maxLength + 1) }]);
      if (minLength !== undefined) bounds.push([true, { [field]: 'x'.repeat(minLength) }], [false, { [field]: 'x'.repeat(Math.max(0, minLength - 1)) }]);
      if (maximum !== undefined) bounds.push([true, { [field]: maximum }], [false, { [field]: maximum + 0.01 }]);
      if (minimum !== undefined) bounds.push([true, { [field]: minimum }], [false, { [field]: minimum - 0.01 }]);
      if (exclusiveMinimum !== undefined) bounds.push([false, { [field]: exclusiveMinimum }], [true, { [field]: exclusiveMinimum + 0.01 }]);
      for (const [accepted, fields] of bounds) expect({ fields, accepted: accepts(fields) }).toEqual({ fields, accepted });
      checked += bounds.length;
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('documents the admin API on its own listener', async () => {
    const adminUrl = h.services[0]?.adminUrl ?? '';
    const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const admin = (route: string, init: RequestInit = {}, headers: Record<string, string> = bearer) =>
      call(`${adminUrl}${route}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) } });
    h.icg.faults.payHang = true;
    await call(`${h.url}/pay/30`, json(payBody()));
    h.icg.faults.payHang = false;
    await call(`${h.url}/pay/31`, json(payBody()));

    const list = await admin('/admin/payments');
    expectDocumented('get', '/admin/payments', list);
    const payments = (JSON.parse(list.text) as { payments: { id: string; invoiceId: string; outcome: string }[] }).payments;
    const unknown = payments.find((entry) => entry.invoiceId === '30');
    const approved = payments.find((entry) => entry.invoiceId === '31');
    expect([unknown?.outcome, approved?.outcome]).toEqual(['unknown', 'approved']);
    expectDocumented('get', '/admin/payments', await admin('/admin/payments?outcome=unknown&unresolved=true&since=1h&limit=10&invoice=030'));
    expectDocumented('get', '/admin/payments', await admin('/admin/payments?since=yesterday'));
    expectDocumented('get', '/admin/payments', await admin('/admin/payments', {}, {}));
    expectDocumented('get', '/admin/payments/{id}', await admin(`/admin/payments/${approved?.id ?? ''}`));
    expectDocumented('get', '/admin/payments/{id}', await admin('/admin/payments/no-such-payment'));
    const resolve = (id: string, body: unknown) =>
      admin(`/admin/payments/${id}/resolution`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const resolved = await resolve(unknown?.id ?? '', { resolution: 'not_charged', resolvedBy: 'openapi test' });
    expect(resolved.status).toBe(200);
    expectDocumented('post', '/admin/payments/{id}/resolution', resolved);
    expectDocumented('post', '/admin/payments/{id}/resolution', await resolve(approved?.id ?? '', { resolution: 'not_charged', resolvedBy: 'openapi test' }));
    expectDocumented('post', '/admin/payments/{id}/resolution', await resolve(approved?.id ?? '', { resolution: 'charged', resolvedBy: 'openapi test' }));
    expectDocumented(
      'post',
      '/admin/payments/{id}/resolution',
      await resolve(approved?.id ?? '', { resolution: 'x'.repeat(5000), resolvedBy: 'openapi test' }),
    );
  });

  it('documents every answer of POST /pay/{invoiceId}, with its headers', async () => {
    const pay = (id: string, init: RequestInit) => call(`${h.url}/pay/${id}`, init);
    const answers: Answer[] = [
      await pay('1', json(payBody())),
      await pay('2', json(payBody({ Method: { CardNumber: '4000000000000002' } }))),
      await pay('1b', json(payBody({ Method: { RoutingNumber: '083000056', AccountNumber: '446674336' } }))),
      await pay('1c', json(payBody(), { Origin: 'https://shop.example.com' })),
      await pay('bad!', json(payBody())),
      await pay('3', json({ Amount: -1 })),
      await pay('3', json(payBody({ Description: 'x'.repeat(20000) }))),
      await pay('3', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' }),
      await pay('3', json(payBody(), { Origin: 'https://evil.example' })),
      await pay('4', json(payBody(), { 'Idempotency-Key': 'openapi-key-1' })),
      await pay('4', json(payBody(), { 'Idempotency-Key': 'openapi-key-1' })),
      await pay('4', json(payBody({ Amount: 2 }), { 'Idempotency-Key': 'openapi-key-1' })),
      await call(`${h.url}/pay/5`),
    ];
    // Requests Node's parser refuses, answered before any route (so before any budget).
    const refused = [
      await rawCall(h.url, `POST /pay/5 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
      await rawCall(h.url, 'POST /pay/5 HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n'),
    ];
    answers.push(...refused);
    for (let i = 0; i < 4; i += 1) answers.push(await pay('6', json(payBody())));
    h.icg.faults.payDelayMs = 200;
    answers.push(...(await Promise.all([pay('7', json(payBody())), pay('7', json(payBody()))])));
    h.icg.faults.payDelayMs = 0;
    // iCG fails after the pay was sent: outcome unknown (502, 504), replayed to a retry with the same key; the invoice is held.
    h.icg.faults.payStatus = 500;
    answers.push(await pay('8', json(payBody(), { 'Idempotency-Key': 'openapi-key-8' })));
    answers.push(await pay('8', json(payBody(), { 'Idempotency-Key': 'openapi-key-8' })));
    h.icg.faults.payStatus = 404;
    answers.push(await pay('9', json(payBody(), { 'Idempotency-Key': 'openapi-key-9' })));
    answers.push(await pay('9', json(payBody(), { 'Idempotency-Key': 'openapi-key-9' })));
    h.icg.faults.payStatus = 409;
    answers.push(await pay('9b', json(payBody(), { Origin: 'https://shop.example.com' })));
    h.icg.faults.payStatus = 204;
    answers.push(await pay('10', json(payBody())));
    h.icg.faults.payStatus = null;
    h.icg.faults.payHang = true;
    answers.push(await pay('11', json(payBody(), { 'Idempotency-Key': 'openapi-key-11' })));
    h.icg.faults.payHang = false;
    answers.push(await pay('11', json(payBody(), { 'Idempotency-Key': 'openapi-key-11' })));
    answers.push(await pay('011', json(payBody())));
    h.icg.revokeAllTokens();
    h.icg.faults.rejectCredentials = true;
    answers.push(await pay('12', json(payBody())));

    expect(answers.map((a) => `${String(a.status)}${a.headers.get('idempotent-replayed') === 'true' ? ' replayed' : ''}`).sort()).toEqual(
      [
        ...['200', '200', '200', '200', '200', '200', '200', '200', '200', '200 replayed', '204'],
        ...['400', '400', '400', '403', '404', '404 replayed', '405', '409', '409', '409', '413', '415', '422', '429', '431'],
        ...['502', '502 replayed', '503', '504', '504 replayed'],
      ].sort(),
    );
    for (const answer of answers) expectDocumented('post', '/pay/{invoiceId}', answer);
    // express-rate-limit sets them once the per-client budget is spent: on every answer past that check.
    const limited = answers.filter(
      (a) => !refused.includes(a) && ![403, 405].includes(a.status) && !(a.status === 400 && a.text.includes('/invoiceId')) && a.status !== 503,
    );
    for (const answer of limited) expect({ status: answer.status, limited: answer.headers.has('RateLimit') }).toEqual({ status: answer.status, limited: true });
    const held = answers.find((a) => a.text.includes(`${PROBLEM_TYPE_BASE}invoice-held`));
    expect(held?.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('documents the preflight, health, readiness and metrics answers', async () => {
    expectDocumented(
      'options',
      '/pay/{invoiceId}',
      await call(`${h.url}/pay/1`, { method: 'OPTIONS', headers: { Origin: 'https://shop.example.com', 'Access-Control-Request-Method': 'POST' } }),
    );
    expectDocumented('options', '/pay/{invoiceId}', await call(`${h.url}/pay/1`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } }));
    expectDocumented('get', '/healthz', await call(`${h.url}/healthz`));
    expectDocumented('get', '/healthz', await rawCall(h.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expectDocumented('get', '/readyz', await call(`${h.url}/readyz`));
    expectDocumented('get', '/metrics', await call(`${h.url}/metrics`));
    h.icg.revokeAllTokens();
    h.icg.faults.rejectCredentials = true;
    const other = await startHarness({ icg: h.icg, env: { METRICS_TOKEN: 'openapi-metrics-token-1' } });
    try {
      expectDocumented('get', '/readyz', await call(`${other.url}/readyz`));
      expectDocumented('get', '/metrics', await call(`${other.url}/metrics`));
      expectDocumented('get', '/metrics', await call(`${other.services[0]?.adminUrl ?? ''}/metrics`));
    } finally {
      await other.close();
    }
    const production = await startHarness({
      icg: h.icg,
      env: {
        ...{ NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', ADMIN_PORT: '0', SHUTDOWN_DELAY_MS: '0', LOG_LEVEL: 'silent' },
        FINGERPRINT_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
      },
    });
    try {
      expectDocumented('get', '/metrics', await call(`${production.url}/metrics`));
    } finally {
      await production.close();
    }
  });
});
