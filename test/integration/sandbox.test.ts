import { waitFor } from '../support/wait';
import { startIcgSandbox, type IcgSandbox } from '@icg-bff/icg-sandbox';

type Json = Record<string, unknown>;

const CREDENTIALS = { grant_type: 'password', username: 'sandbox-merchant', password: 'sandbox-password', client_id: 'sandbox-client' };
const CARD_PAY = { Amount: 12.5, Type: 'D', Method: { CardNumber: '4111111111111111', Cvv: '123' } };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('iCG sandbox', () => {
  let icg: IcgSandbox;
  beforeAll(async () => {
    icg = await startIcgSandbox();
  });
  afterAll(() => icg.close());
  beforeEach(() => {
    icg.reset();
  });

  async function login(fields: Record<string, string> = CREDENTIALS): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${icg.url}/Login`, { method: 'POST', headers: { Accept: 'application/json' }, body: new URLSearchParams(fields) });
    return { status: res.status, body: (await res.json()) as Json };
  }
  async function token(): Promise<string> {
    return String((await login()).body['access_token']);
  }
  async function pay(
    id: string,
    body: unknown,
    bearer: string | null,
    contentType = 'application/json',
  ): Promise<{ status: number; headers: Headers; body: Json }> {
    const headers: Record<string, string> = { 'Content-Type': contentType, ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}) };
    const res = await fetch(`${icg.url}/Invoices/${id}/Pay`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Json) : { html: text } };
  }
  async function admin(action: string, body?: unknown): Promise<{ status: number; body: Json | null }> {
    const res = await fetch(
      `${icg.url}/__sandbox/${action}`,
      body === undefined && action === 'stats' ? {} : { method: 'POST', body: JSON.stringify(body ?? {}) },
    );
    return { status: res.status, body: res.status === 204 ? null : ((await res.json()) as Json) };
  }

  it('grants a fresh HS256 JWT for the configured credentials, as iCG documents', async () => {
    const first = await login();
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ access_token: expect.stringMatching(/^ey/), token_type: 'bearer', expires_in: 86399 });
    const [header, payload] = String(first.body['access_token'])
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Json);
    expect(header).toEqual({ typ: 'JWT', alg: 'HS256' });
    expect(payload).toMatchObject({ iss: `${icg.url}/`, aud: 'sandbox-client', unique_name: 'sandbox-merchant' });
    expect(Number(payload?.['exp']) - Number(payload?.['nbf'])).toBeGreaterThanOrEqual(86399);
    expect((await login()).body['access_token']).not.toBe(first.body['access_token']);
    expect(icg.stats.logins).toBe(2);
  });

  it('refuses wrong credentials, a wrong client, missing fields and unknown grants', async () => {
    expect(await login({ ...CREDENTIALS, password: 'nope' })).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'The user name or password is incorrect.' },
    });
    expect(await login({ ...CREDENTIALS, client_id: 'other' })).toEqual({ status: 400, body: { error: 'invalid_client' } });
    expect(await login({ grant_type: 'password', username: 'sandbox-merchant' })).toEqual({ status: 400, body: { error: 'invalid_request' } });
    expect(await login({ grant_type: 'client_credentials' })).toEqual({ status: 400, body: { error: 'unsupported_grant_type' } });
    const asJson = await fetch(`${icg.url}/Login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(CREDENTIALS) });
    expect(asJson.status).toBe(400);
    icg.faults.rejectCredentials = true;
    expect((await login()).body['error']).toBe('invalid_grant');
    icg.faults.loginStatus = 503;
    expect((await login()).status).toBe(503);
    expect(icg.stats).toMatchObject({ logins: 0, loginsRejected: 3 });
  });

  it('renews tokens with the refresh_token grant until they are revoked', async () => {
    icg.faults.issueRefreshTokens = true;
    const refreshToken = String((await login()).body['refresh_token']);
    const renewed = await login({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'sandbox-client' });
    expect(renewed.body).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String) });
    expect((await pay('r1', CARD_PAY, String(renewed.body['access_token']))).status).toBe(200);
    expect((await login({ grant_type: 'refresh_token', refresh_token: 'forged', client_id: 'sandbox-client' })).body['error']).toBe('invalid_grant');
    icg.revokeAllTokens();
    expect((await login({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'sandbox-client' })).body['error']).toBe('invalid_grant');
    expect(icg.stats).toMatchObject({ logins: 1, refreshes: 1 });
  });

  it('approves a test card, masks it and marks the answer like ASP.NET', async () => {
    const res = await pay('112', { amount: 12.5, type: 'D', method: { cardNumber: '4111 1111 1111 1111' } }, await token());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      Status: 'Approved',
      StatusMessage: 'Approved',
      TransactionAmount: 12.5,
      CardDisplay: 'XXXXXXXXXXXX1111',
      CardType: 'Visa',
      ReferenceNumber: '112',
      ErrorData: null,
    });
    expect(JSON.stringify(res.body)).not.toContain('4111111111111111');
    expect(res.headers.get('set-cookie')).toBe('ARRAffinity=abc; Path=/; HttpOnly');
    expect(res.headers.get('x-powered-by')).toBe('ASP.NET');
    expect(res.headers.get('x-aspnet-version')).toBe('4.0.30319');
    expect(icg.received.at(-1)).toMatchObject({ invoiceId: '112', headers: { authorization: expect.stringMatching(/^Bearer ey/) } });
    expect(icg.stats.paysByInvoice).toEqual({ '112': 1 });
  });

  it('approves a test bank account or no method, and declines anything else with 200', async () => {
    const bearer = await token();
    const ach = await pay('113', { ...CARD_PAY, Method: { RoutingNumber: '083000056', AccountNumber: '446674336' } }, bearer);
    expect(ach.body).toMatchObject({ Status: 'Approved', CardDisplay: 'XXXXX4336' });
    expect((await pay('114', { Amount: 1, Type: 'D' }, bearer)).body['Status']).toBe('Approved');
    const declined = await pay('115', { ...CARD_PAY, Method: { CardNumber: '4000000000000002' } }, bearer);
    expect(declined.status).toBe(200);
    expect(declined.body).toMatchObject({ Status: 'Declined', StatusMessage: 'Declined by issuer', ErrorData: expect.any(Object) });
  });

  it('validates the body like ASP.NET Web API', async () => {
    const bearer = await token();
    const invalid = await pay('116', { Amount: -1 }, bearer);
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({
      Message: 'The request is invalid.',
      ModelState: { 'request.Amount': [expect.any(String)], 'request.Type': [expect.any(String)] },
    });
    expect((await pay('116', '{"Amount": 1,', bearer)).status).toBe(400);
    expect((await pay('116', CARD_PAY, bearer, 'text/plain')).status).toBe(415);
    expect((await pay('116', { ...CARD_PAY, Description: 'x'.repeat(70_000) }, bearer)).status).toBe(413);
  });

  it('rejects a pay without a token, with a forged one, or after revokeAllTokens', async () => {
    const bearer = await token();
    const denied = await pay('117', CARD_PAY, null);
    expect(denied).toMatchObject({ status: 401, body: { Message: 'Authorization has been denied for this request.' } });
    expect((await pay('117', CARD_PAY, `${bearer.slice(0, -2)}xx`)).status).toBe(401);
    icg.revokeAllTokens();
    expect((await pay('117', CARD_PAY, bearer)).status).toBe(401);
    expect(icg.stats).toMatchObject({ pays: 3, unauthorizedPays: 3 });
  });

  it('rejects a pay whose token has expired', async () => {
    icg.faults.tokenLifetimeSeconds = 1;
    const bearer = await token();
    expect((await pay('118', CARD_PAY, bearer)).status).toBe(200);
    await sleep(1100);
    expect((await pay('118', CARD_PAY, bearer)).status).toBe(401);
  });

  it('answers 401 to the next N pays with payUnauthorizedCount', async () => {
    const bearer = await token();
    icg.faults.payUnauthorizedCount = 2;
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await pay('119', CARD_PAY, bearer)).status);
    expect(statuses).toEqual([401, 401, 200]);
    expect(icg.faults.payUnauthorizedCount).toBe(0);
  });

  it('forces a pay status with internals in the body, or an HTML answer', async () => {
    const bearer = await token();
    icg.faults.payStatus = 500;
    const failed = await pay('120', CARD_PAY, bearer);
    expect(failed).toMatchObject({ status: 500, body: { Message: 'An error has occurred.', ExceptionMessage: expect.stringContaining('db01') } });
    icg.faults.payStatus = null;
    icg.faults.payNonJson = true;
    const html = await pay('120', CARD_PAY, bearer);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('hangs pays with payHang and still closes promptly', async () => {
    const hung = await startIcgSandbox();
    const bearer = String(
      ((await (await fetch(`${hung.url}/Login`, { method: 'POST', body: new URLSearchParams(CREDENTIALS) })).json()) as Json)['access_token'],
    );
    hung.faults.payHang = true;
    const answer = fetch(`${hung.url}/Invoices/121/Pay`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(CARD_PAY),
    });
    await waitFor(() => hung.stats.pays > 0, 5000, 'the pay at the sandbox');
    const started = Date.now();
    await hung.close();
    expect(Date.now() - started).toBeLessThan(500);
    await expect(answer).rejects.toThrow();
  });

  it('is controlled over HTTP by the admin endpoints', async () => {
    const bearer = await token();
    expect(await admin('faults', { payStatus: 503 })).toMatchObject({ status: 200, body: { faults: { payStatus: 503 } } });
    expect((await pay('122', CARD_PAY, bearer)).status).toBe(503);
    expect(await admin('stats')).toMatchObject({ status: 200, body: { stats: { pays: 1, paysByInvoice: { '122': 1 } }, faults: { payStatus: 503 } } });
    expect((await admin('faults', { payStaus: 500 })).status).toBe(400);
    expect((await admin('faults', { payHang: 'yes' })).status).toBe(400);
    expect((await admin('reset')).status).toBe(204);
    expect(icg.faults.payStatus).toBeNull();
    expect(icg.stats.pays).toBe(0);
    expect((await admin('revoke')).status).toBe(204);
    expect((await pay('122', CARD_PAY, bearer)).status).toBe(401);
  });

  it('answers 404 JSON for other paths and methods', async () => {
    for (const res of [await fetch(`${icg.url}/Invoices/1/Pay`), await fetch(`${icg.url}/nope`, { method: 'POST' })]) {
      expect(res.status).toBe(404);
      expect(await res.json()).toHaveProperty('Message');
    }
  });
});
