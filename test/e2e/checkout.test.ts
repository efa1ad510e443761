import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page, type Request as BrowserRequest } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness';

/** Debian's Chromium (`apt-get install chromium`); .ci/run installs it when missing. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts');
/** An origin that IS allow-listed, so the page on another origin is refused for not being on a real list. */
const LISTED_ORIGIN = 'https://shop.example.com';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TEST_CARD = { number: '4111 1111 1111 1111', expiry: '12/29', cvv: '123' };

/** A checkout page with everything the browser complained about, and the pays it sent. */
interface CheckoutSession {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  readonly cspViolations: string[];
  readonly payRequests: BrowserRequest[];
}

/** Opens /checkout in a fresh context, recording console errors, CSP violations and /pay requests. */
async function openCheckout(browser: Browser, baseUrl: string): Promise<CheckoutSession> {
  const context = await browser.newContext({ viewport: { width: 720, height: 900 } });
  const page = await context.newPage();
  const session: CheckoutSession = { context, page, consoleErrors: [], pageErrors: [], cspViolations: [], payRequests: [] };
  page.on('console', (entry) => {
    if (entry.type() === 'error') session.consoleErrors.push(entry.text());
  });
  page.on('pageerror', (error) => session.pageErrors.push(error.message));
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.startsWith('/pay/')) session.payRequests.push(request);
  });
  await page.exposeFunction('reportCspViolation', (report: string) => session.cspViolations.push(report));
  await page.addInitScript(() => {
    const report = (window as unknown as { reportCspViolation: (text: string) => void }).reportCspViolation;
    document.addEventListener('securitypolicyviolation', (event) => {
      report(`${event.effectiveDirective} blocked ${event.blockedURI || 'inline'}`);
    });
  });
  const response = await page.goto(`${baseUrl}/checkout`);
  expect(response?.status()).toBe(200);
  expect(response?.headers()['cache-control']).toBe('no-store');
  expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
  return session;
}

async function fillForm(page: Page, invoiceId: string, amount: string): Promise<void> {
  await page.getByLabel('Invoice number').fill(invoiceId);
  await page.getByLabel('Amount').fill(amount);
  await page.getByLabel('Payment type').selectOption('D');
  await page.getByLabel('Card number').fill(TEST_CARD.number);
  await page.getByLabel('Expiry (MM/YY)').fill(TEST_CARD.expiry);
  await page.getByLabel('Security code (CVV)').fill(TEST_CARD.cvv);
}

/**
 * Presses Pay (twice, when asked: a double click) and waits for the page to settle on an outcome.
 * Waiting on the /pay response first means the `pending` state is already set, so the wait that
 * follows cannot mistake the previous attempt's outcome for this one's.
 */
async function pressPay(page: Page, options: { double?: boolean } = {}): Promise<{ state: string; text: string; body: Record<string, unknown> }> {
  const button = page.getByRole('button', { name: 'Pay' });
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname.startsWith('/pay/')),
    options.double ? button.dblclick() : button.click(),
  ]);
  const result = page.locator('#result:not([data-state="pending"])');
  await result.waitFor({ state: 'attached' });
  return {
    state: (await result.getAttribute('data-state')) ?? '',
    text: (await page.locator('#result-message').textContent()) ?? '',
    body: (await response.json()) as Record<string, unknown>,
  };
}

/** Console errors other than the browser's own note that a fetch got a 4xx/5xx (which the page handles). */
function unexpectedConsoleErrors(session: CheckoutSession): string[] {
  return session.consoleErrors.filter((text) => !/^Failed to load resource: the server responded with a status of \d{3}/.test(text));
}

async function originRejectedCount(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const match = /^icg_bff_origin_rejected_total (\d+)$/m.exec(text);
  if (!match?.[1]) throw new Error('icg_bff_origin_rejected_total is missing from /metrics');
  return Number(match[1]);
}

/**
 * A page on another origin (http://localhost:PORT, while the service is http://127.0.0.1:PORT) that
 * tries to pay through the service: once as a JSON fetch (which needs a CORS preflight) and once as a
 * "simple" no-cors POST (which skips the preflight, so only the server's origin check can stop it).
 */
async function startForeignSite(serviceUrl: string): Promise<{ readonly url: string; close(): Promise<void> }> {
  const html = [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Another site</title>',
    '<link rel="icon" href="data:,"><script src="/attack.js" defer></script></head>',
    '<body><p id="json-fetch" data-state="pending"></p><p id="simple-fetch" data-state="pending"></p></body></html>',
  ].join('');
  const script = `
    const service = ${JSON.stringify(serviceUrl)};
    const body = JSON.stringify({ Amount: 1, Type: 'D', Method: { CardNumber: '4111111111111111', Expiration: '1229', Cvv: '123' } });
    function report(id, text) {
      const element = document.getElementById(id);
      element.textContent = text;
      element.dataset.state = 'done';
    }
    fetch(service + '/pay/555', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })
      .then((response) => report('json-fetch', 'status ' + response.status), (error) => report('json-fetch', 'rejected: ' + error));
    fetch(service + '/pay/556', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body })
      .then((response) => report('simple-fetch', 'answered ' + response.type), (error) => report('simple-fetch', 'rejected: ' + error));
  `;
  const server = http.createServer((req, res) => {
    if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
    else if (req.url === '/attack.js') res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' }).end(script);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}/`,
    close: () =>
      new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      ),
  };
}

describe('checkout page in Chromium', () => {
  let h: Harness;
  let browser: Browser;
  const sessions: CheckoutSession[] = [];

  beforeAll(async () => {
    h = await startHarness({
      env: {
        CHECKOUT_PAGE: 'true',
        CORS_ORIGINS: LISTED_ORIGIN,
        RATE_LIMIT_MAX: '1000',
        RATE_LIMIT_WINDOW_MS: '60000',
        RATE_LIMIT_INVOICE_MAX: '2',
        RATE_LIMIT_INVOICE_WINDOW_MS: '60000',
      },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser.close();
    await h.close();
  });

  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((session) => session.context.close()));
  });

  it('pays an invoice once, with an Idempotency-Key, and says it was approved', async () => {
    const session = await openCheckout(browser, h.url);
    sessions.push(session);
    const { page } = session;
    const paysBefore = h.icg.stats.pays;
    await fillForm(page, '1001', '12.50');

    // A double click: the button is disabled while the pay is in flight, so only one request leaves.
    const outcome = await pressPay(page, { double: true });

    expect(outcome.state).toBe('success');
    expect(outcome.text).toBe(`Payment approved — transaction ${String(outcome.body['TransactionId'])}`);
    expect(outcome.body['TransactionId']).toBeTruthy();
    expect(h.icg.stats.pays - paysBefore).toBe(1);
    expect(session.payRequests).toHaveLength(1);
    const [request] = session.payRequests;
    if (!request) throw new Error('no /pay request was seen');
    const headers = await request.allHeaders();
    expect(headers['idempotency-key']).toMatch(UUID);
    expect(headers['content-type']).toBe('application/json');
    expect(request.postDataJSON()).toEqual({ Amount: 12.5, Type: 'D', Method: { CardNumber: '4111111111111111', Expiration: '1229', Cvv: '123' } });
    expect(new URL(request.url()).pathname).toBe('/pay/1001');
    await expect(page.getByRole('button', { name: 'Pay' }).isEnabled()).resolves.toBe(true);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'checkout-success.png'), fullPage: true });

    expect(session.cspViolations).toEqual([]);
    expect(session.pageErrors).toEqual([]);
    expect(session.consoleErrors).toEqual([]);
  });

  it('tells the customer to wait when the invoice has had too many attempts', async () => {
    const session = await openCheckout(browser, h.url);
    sessions.push(session);
    const { page } = session;
    const paysBefore = h.icg.stats.pays;
    await fillForm(page, '2002', '20.00');

    const states: string[] = [];
    let last = { state: '', text: '' };
    while (last.state !== 'rate-limited' && states.length < 5) {
      last = await pressPay(page);
      states.push(last.state);
    }

    // RATE_LIMIT_INVOICE_MAX=2: two attempts reach iCG, the third is refused before it.
    expect(states).toHaveLength(3);
    expect(states[2]).toBe('rate-limited');
    expect(last.text).toMatch(/^Too many attempts — try again in \d+ seconds?\.$/);
    expect(h.icg.stats.pays - paysBefore).toBe(2);
    const keys = await Promise.all(session.payRequests.map(async (request) => (await request.allHeaders())['idempotency-key']));
    expect(new Set(keys).size).toBe(3);
    expect(session.cspViolations).toEqual([]);
    expect(session.pageErrors).toEqual([]);
    expect(unexpectedConsoleErrors(session)).toEqual([]);
  });

  it('refuses a page on an origin that is not allow-listed, before anything reaches iCG', async () => {
    const foreign = await startForeignSite(h.url);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const paysBefore = h.icg.stats.pays;
      const rejectedBefore = await originRejectedCount(h.url);
      const foreignOrigin = new URL(foreign.url).origin;
      expect(foreignOrigin).not.toBe(new URL(h.url).origin);

      await page.goto(foreign.url);
      await page.locator('#json-fetch[data-state="done"]').waitFor({ state: 'attached' });
      await page.locator('#simple-fetch[data-state="done"]').waitFor({ state: 'attached' });

      // The preflight is refused, so the browser never sends the POST and the page learns nothing.
      expect(await page.locator('#json-fetch').textContent()).toBe('rejected: TypeError: Failed to fetch');
      // The no-cors POST did reach the service, which refused it on its Origin; its Cross-Origin-Resource-Policy
      // (same-origin) then stops the browser from handing even an opaque answer to the foreign page.
      expect(await page.locator('#simple-fetch').textContent()).toBe('rejected: TypeError: Failed to fetch');
      expect(h.icg.stats.pays).toBe(paysBefore);
      expect((await originRejectedCount(h.url)) - rejectedBefore).toBe(2);
      const requests = h.logs[0]?.records().filter((line) => line['event'] === 'request' && String(line['path']).startsWith('/pay/55')) ?? [];
      expect(requests.map((line) => `${String(line['method'])} ${String(line['path'])} ${String(line['status'])}`).sort()).toEqual([
        'OPTIONS /pay/555 403',
        'POST /pay/556 403',
      ]);

      // The same preflight, sent by hand: 403 and no CORS grant.
      const preflight = await fetch(`${h.url}/pay/555`, {
        method: 'OPTIONS',
        headers: { Origin: foreignOrigin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
      });
      expect(preflight.status).toBe(403);
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      expect(h.icg.stats.pays).toBe(paysBefore);
    } finally {
      await context.close();
      await foreign.close();
    }
  });
});
