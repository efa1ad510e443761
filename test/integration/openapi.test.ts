import Ajv2020 from 'ajv/dist/2020';
import { openApiDocument } from '../../src/http/openapi';
import { startHarness, payBody, type Harness } from '../support/harness';

type Json = Record<string, unknown>;
const doc = openApiDocument as unknown as Json;
const ajv = new Ajv2020({ strict: false, validateFormats: false });
ajv.addSchema({ ...doc, $id: 'openapi' });

/** Follows a local `$ref` inside the document. */
function resolve(node: unknown): Json {
  let current = node as Json;
  while (typeof current['$ref'] === 'string') {
    current = current['$ref']
      .slice(2)
      .split('/')
      .reduce<Json>((at, key) => at[key] as Json, doc);
  }
  return current;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The answer's status, content type, body schema and required headers are those documented. */
function expectDocumented(method: string, template: string, answer: Answer): void {
  const paths = doc['paths'] as Record<string, Json>;
  const operation = paths[template]?.[method] as Json | undefined;
  expect(operation).toBeDefined();
  const responses = operation?.['responses'] as Record<string, Json>;
  const documented = responses[String(answer.status)] ?? responses['default'];
  expect({ status: answer.status, documented: documented !== undefined }).toEqual({ status: answer.status, documented: true });
  const response = resolve(documented);
  for (const [name, header] of Object.entries((response['headers'] as Record<string, unknown> | undefined) ?? {})) {
    if (resolve(header)['required'] === true) expect({ header: name, present: answer.headers.has(name) }).toEqual({ header: name, present: true });
  }
  const content = response['content'] as Record<string, Json> | undefined;
  if (!content) {
    expect(answer.text).toBe('');
    return;
  }
  const type = (answer.headers.get('content-type') ?? '').split(';')[0] ?? '';
  expect(Object.keys(content)).toContain(type);
  if (!type.endsWith('json')) return;
  const schema = content[type]?.['schema'] as Json;
  const ref = typeof schema['$ref'] === 'string' ? { $ref: `openapi${schema['$ref']}` } : schema;
  const validate = ajv.compile(ref);
  const body: unknown = JSON.parse(answer.text);
  expect({ status: answer.status, valid: validate(body), errors: validate.errors ?? null }).toEqual({ status: answer.status, valid: true, errors: null });
}

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

describe('the OpenAPI document', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { CORS_ORIGINS: 'https://shop.example.com', RATE_LIMIT_INVOICE_MAX: '3', ICG_TIMEOUT_MS: '300' } });
  });
  afterAll(async () => h.close());
  beforeEach(() => {
    h.icg.reset();
  });

  it('is OpenAPI 3.1 and every $ref in it resolves', async () => {
    expect(doc['openapi']).toBe('3.1.0');
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(resolve({ $ref: ref.slice(8, -1) })).toBeDefined();
    const served = await call(`${h.url}/openapi.json`);
    expectDocumented('get', '/openapi.json', served);
    expect(JSON.parse(served.text)).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it('documents every answer of POST /pay/{invoiceId}', async () => {
    const pay = (id: string, init: RequestInit) => call(`${h.url}/pay/${id}`, init);
    const answers: Answer[] = [
      await pay('1', json(payBody())),
      await pay('2', json(payBody({ Method: { CardNumber: '4000000000000002' } }))),
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
    for (let i = 0; i < 4; i += 1) answers.push(await pay('6', json(payBody())));
    h.icg.faults.payDelayMs = 200;
    answers.push(...(await Promise.all([pay('7', json(payBody())), pay('7', json(payBody()))])));
    h.icg.faults.payDelayMs = 0;
    h.icg.faults.payStatus = 500;
    answers.push(await pay('8', json(payBody())));
    h.icg.faults.payStatus = 404;
    answers.push(await pay('9', json(payBody())));
    h.icg.faults.payStatus = 204;
    answers.push(await pay('10', json(payBody())));
    h.icg.faults.payStatus = null;
    h.icg.faults.payHang = true;
    answers.push(await pay('11', json(payBody())));
    h.icg.faults.payHang = false;
    h.icg.revokeAllTokens();
    h.icg.faults.rejectCredentials = true;
    answers.push(await pay('12', json(payBody())));
    expect(answers.map((a) => a.status).sort()).toEqual(
      [200, 200, 200, 200, 200, 200, 200, 200, 204, 400, 400, 403, 404, 405, 409, 413, 415, 422, 429, 502, 503, 504].sort(),
    );
    for (const answer of answers) expectDocumented('post', '/pay/{invoiceId}', answer);
  });

  it('documents the preflight, health, readiness and metrics answers', async () => {
    expectDocumented(
      'options',
      '/pay/{invoiceId}',
      await call(`${h.url}/pay/1`, { method: 'OPTIONS', headers: { Origin: 'https://shop.example.com', 'Access-Control-Request-Method': 'POST' } }),
    );
    expectDocumented('options', '/pay/{invoiceId}', await call(`${h.url}/pay/1`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } }));
    expectDocumented('get', '/healthz', await call(`${h.url}/healthz`));
    expectDocumented('get', '/readyz', await call(`${h.url}/readyz`));
    expectDocumented('get', '/metrics', await call(`${h.url}/metrics`));
    h.icg.revokeAllTokens();
    h.icg.faults.rejectCredentials = true;
    const other = await startHarness({ icg: h.icg, env: { METRICS_TOKEN: 'openapi-metrics-token-1' } });
    try {
      expectDocumented('get', '/readyz', await call(`${other.url}/readyz`));
      expectDocumented('get', '/metrics', await call(`${other.url}/metrics`));
    } finally {
      await other.close();
    }
  });
});
