import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page, Request as BrowserRequest, Response as BrowserResponse } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`); .ci/run installs it when missing. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** The longest any single wait in these tests may take (a page action, an answer, a state). */
export const WAIT_MS = 10_000;

export interface Card {
  readonly number: string;
  readonly expiry: string;
  readonly cvv: string;
}

/** A sandbox test card: approved. */
export const TEST_CARD: Card = { number: '4111 1111 1111 1111', expiry: '12/29', cvv: '123' };
/** Not a sandbox test card: declined (a 200 whose Status says so). */
export const DECLINED_CARD: Card = { number: '4000 0000 0000 0002', expiry: '11/28', cvv: '987' };

/** A checkout page with everything the browser complained about, and the pays it sent. */
export interface CheckoutSession {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  readonly cspViolations: string[];
  readonly payRequests: BrowserRequest[];
  /** The page's GET /checkout/mode.json answer (null if none came before the wait's deadline). */
  readonly modeAnswer: Promise<BrowserResponse | null>;
}

/** Opens /checkout in a fresh context, recording console errors, CSP violations and /pay requests. */
export async function openCheckout(browser: Browser, baseUrl: string): Promise<CheckoutSession> {
  const context = await browser.newContext({ viewport: { width: 720, height: 900 } });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const modeAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === '/checkout/mode.json').catch(() => null);
  const session: CheckoutSession = { context, page, consoleErrors: [], pageErrors: [], cspViolations: [], payRequests: [], modeAnswer };
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

export async function fillForm(page: Page, invoiceId: string, amount: string, card: Card = TEST_CARD): Promise<void> {
  await page.getByLabel('Invoice number').fill(invoiceId);
  await page.getByLabel('Amount').fill(amount);
  await page.getByLabel('Payment type').selectOption('D');
  await page.getByLabel('Card number').fill(card.number);
  await page.getByLabel('Expiry (MM/YY)').fill(card.expiry);
  await page.getByLabel('Security code (CVV)').fill(card.cvv);
}

export interface Outcome {
  /** The result's data-state: success, declined, unknown, rate-limited … */
  readonly state: string;
  readonly text: string;
  /** The reference line, without "Reference: " ('' when none is shown). */
  readonly reference: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Record<string, unknown>;
}

/**
 * Presses the submit button (by its label: Pay, Check again, Try again; twice when asked: a double
 * click) and waits for the page to settle on an outcome. Waiting on the /pay response first means the
 * `pending` state is already set, so the wait that follows cannot mistake the previous attempt's
 * outcome for this one's.
 */
export async function pressPay(page: Page, options: { label?: string; double?: boolean } = {}): Promise<Outcome> {
  const button = page.getByRole('button', { name: options.label ?? 'Pay', exact: true });
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname.startsWith('/pay/')),
    options.double ? button.dblclick() : button.click(),
  ]);
  const result = page.locator('#result:not([data-state="pending"])');
  await result.waitFor({ state: 'attached' });
  const referenceLine = page.locator('#result-reference');
  return {
    state: (await result.getAttribute('data-state')) ?? '',
    text: (await page.locator('#result-message').textContent()) ?? '',
    reference: (await referenceLine.isVisible()) ? ((await referenceLine.textContent()) ?? '').replace(/^Reference: /, '') : '',
    status: response.status(),
    headers: await response.allHeaders(),
    body: (await response.json()) as Record<string, unknown>,
  };
}

/** The Idempotency-Key of each /pay request the page sent, in order. */
export async function idempotencyKeys(session: CheckoutSession): Promise<string[]> {
  return Promise.all(session.payRequests.map(async (request) => (await request.allHeaders())['idempotency-key'] ?? '(none)'));
}

/** Console errors other than the browser's own note that a fetch got a 4xx/5xx (which the page handles). */
export function unexpectedConsoleErrors(session: CheckoutSession): string[] {
  return session.consoleErrors.filter((text) => !/^Failed to load resource: the server responded with a status of \d{3}/.test(text));
}

/** Everything in the page's sessionStorage, as stored. */
export async function sessionStorageEntries(page: Page): Promise<[string, string][]> {
  return page.evaluate(() => Object.keys(sessionStorage).map((name): [string, string] => [name, sessionStorage.getItem(name) ?? '']));
}

/**
 * Checks that sessionStorage holds attempts only: each named by invoice, amount, type and last four
 * digits, holding { idempotencyKey, state, reference, at }, and nothing of the card beyond those four
 * digits anywhere (not the number however grouped, not a hash of it, not the expiry or the CVV).
 * Returns the stored attempts.
 */
export async function expectNoCardDataStored(page: Page, card: Card): Promise<{ identity: string[]; attempt: Record<string, unknown> }[]> {
  const entries = await sessionStorageEntries(page);
  const digits = card.number.replace(/\D/g, '');
  const dump = JSON.stringify(entries);
  for (const forbidden of [
    digits,
    card.number,
    createHash('sha256').update(digits).digest('hex'),
    createHash('sha256').update(digits).digest('base64'),
    createHash('sha1').update(digits).digest('hex'),
  ]) {
    expect(dump).not.toContain(forbidden);
  }
  return entries.map(([name, value]) => {
    expect(name.startsWith('icg-bff.checkout.attempt:')).toBe(true);
    const identity = JSON.parse(name.slice('icg-bff.checkout.attempt:'.length)) as string[];
    expect(identity).toHaveLength(4);
    const attempt = JSON.parse(value) as Record<string, unknown>;
    expect(Object.keys(attempt).sort()).toEqual(['at', 'idempotencyKey', 'reference', 'state']);
    for (const part of [...identity, ...Object.values(attempt).map(String)]) {
      expect(part).not.toBe(card.cvv);
      expect(part).not.toBe(card.expiry.replace(/\D/g, ''));
    }
    return { identity, attempt };
  });
}

/**
 * A page on another origin (http://localhost:PORT, while the service is http://127.0.0.1:PORT) that
 * tries to pay through the service: once as a JSON fetch (which needs a CORS preflight) and once as a
 * "simple" no-cors POST (which skips the preflight, so only the server's origin check can stop it).
 */
export async function startForeignSite(serviceUrl: string): Promise<{ readonly url: string; close(): Promise<void> }> {
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

export async function originRejectedCount(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const match = /^icg_bff_origin_rejected_total (\d+)$/m.exec(text);
  if (!match?.[1]) throw new Error('icg_bff_origin_rejected_total is missing from /metrics');
  return Number(match[1]);
}
