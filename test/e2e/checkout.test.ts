import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { withOverrides } from '../../src/config';
import { startService } from '../../src/service';
import { LogCapture, startHarness, type Harness } from '../support/harness';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  DECLINED_CARD,
  TEST_CARD,
  WAIT_MS,
  expectNoCardDataStored,
  fillForm,
  idempotencyKeys,
  openCheckout,
  originRejectedCount,
  pressPay,
  startForeignSite,
  unexpectedConsoleErrors,
  type CheckoutSession,
} from './checkout-page';

const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts');
/** An origin that IS allow-listed, so the page on another origin is refused for not being on a real list. */
const LISTED_ORIGIN = 'https://shop.example.com';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** The problem types of a pay that reached iCG and may have charged (older builds used the last two). */
const OUTCOME_UNKNOWN = /^tag:icg-bff,2026:problem:(outcome-unknown|upstream-timeout|upstream-unavailable)$/;

/** The environment of a service that serves the page, allows one foreign origin and two attempts per invoice. */
const PAGE_ENV = {
  CHECKOUT_PAGE: 'true',
  CORS_ORIGINS: LISTED_ORIGIN,
  RATE_LIMIT_MAX: '1000',
  RATE_LIMIT_WINDOW_MS: '60000',
  RATE_LIMIT_INVOICE_MAX: '2',
  RATE_LIMIT_INVOICE_WINDOW_MS: '60000',
};

describe('checkout page in Chromium', () => {
  let browser: Browser;
  const sessions: CheckoutSession[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser.close();
  });

  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((session) => session.context.close()));
  });

  async function open(baseUrl: string): Promise<CheckoutSession> {
    const session = await openCheckout(browser, baseUrl);
    sessions.push(session);
    return session;
  }

  describe('when iCG answers', () => {
    let h: Harness;

    beforeAll(async () => {
      h = await startHarness({ env: PAGE_ENV });
    });

    afterAll(async () => {
      await h.close();
    });

    it('pays an invoice once, with an Idempotency-Key, and says it was approved', async () => {
      const session = await open(h.url);
      const { page } = session;
      const paysBefore = h.icg.stats.pays;
      await fillForm(page, '1001', '12.50');

      // A double click: the button is disabled while the pay is in flight, so only one request leaves.
      const outcome = await pressPay(page, { double: true });

      expect(outcome.state).toBe('success');
      expect(outcome.text).toBe(`Payment approved — transaction ${String(outcome.body['TransactionId'])}`);
      expect(outcome.body['TransactionId']).toBeTruthy();
      expect(outcome.reference).toBe(outcome.headers['x-request-id']);
      expect(h.icg.stats.pays - paysBefore).toBe(1);
      expect(session.payRequests).toHaveLength(1);
      const [request] = session.payRequests;
      if (!request) throw new Error('no /pay request was seen');
      const headers = await request.allHeaders();
      expect(headers['idempotency-key']).toMatch(UUID);
      expect(headers['x-request-id']).toMatch(UUID);
      expect(headers['content-type']).toBe('application/json');
      expect(request.postDataJSON()).toEqual({ Amount: 12.5, Type: 'D', Method: { CardNumber: '4111111111111111', Expiration: '1229', Cvv: '123' } });
      expect(new URL(request.url()).pathname).toBe('/pay/1001');
      await expect(page.getByRole('button', { name: 'Paid', exact: true }).isDisabled()).resolves.toBe(true);

      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'checkout-success.png'), fullPage: true });

      const [stored, ...others] = await expectNoCardDataStored(page, TEST_CARD);
      expect(others).toEqual([]);
      expect(stored).toEqual({
        identity: ['1001', '12.50', 'D', '1111'],
        attempt: { idempotencyKey: headers['idempotency-key'], state: 'approved', reference: outcome.reference, at: expect.any(Number) },
      });
      expect(session.cspViolations).toEqual([]);
      expect(session.pageErrors).toEqual([]);
      expect(session.consoleErrors).toEqual([]);
    });

    it('never pays an approved invoice again: the form stays disabled, also after a reload', async () => {
      const session = await open(h.url);
      const { page } = session;
      await fillForm(page, '1002', '15.00');
      const outcome = await pressPay(page);
      expect(outcome.state).toBe('success');

      // Pressing again is impossible: the button and every field are disabled …
      const paid = page.getByRole('button', { name: 'Paid', exact: true });
      await expect(paid.isDisabled()).resolves.toBe(true);
      await expect(page.getByLabel('Card number').isDisabled()).resolves.toBe(true);
      await expect(page.getByLabel('Invoice number').isDisabled()).resolves.toBe(true);
      // … and a submit that bypasses the button (a script, a stray Enter key) is ignored by the page.
      await page.evaluate(() => {
        document.querySelector('form')?.requestSubmit();
      });

      // A reload still knows the invoice is paid (this tab's sessionStorage).
      const reloaded = await page.reload();
      expect(reloaded?.headers()['cache-control']).toBe('no-store');
      await page.locator('#result[data-state="success"]').waitFor({ state: 'attached' });
      await expect(page.locator('#result-message').textContent()).resolves.toBe('Invoice 1002 is paid.');
      await expect(page.locator('#result-reference').textContent()).resolves.toBe(`Reference: ${outcome.reference}`);
      await expect(page.getByLabel('Invoice number').inputValue()).resolves.toBe('1002');
      await expect(paid.isDisabled()).resolves.toBe(true);

      // "Pay another invoice" frees the form, but this invoice is still refused, without a request.
      await page.getByRole('button', { name: 'Pay another invoice', exact: true }).click();
      await fillForm(page, '1002', '15.00', { number: '5454 5454 5454 5454', expiry: '10/30', cvv: '456' });
      await page.getByRole('button', { name: 'Pay', exact: true }).click();
      await page.locator('#result[data-state="success"]').waitFor({ state: 'attached' });
      await expect(page.locator('#result-message').textContent()).resolves.toBe('Invoice 1002 is already paid, and it won’t be charged again.');
      await expect(paid.isDisabled()).resolves.toBe(true);

      expect(session.payRequests).toHaveLength(1);
      expect(h.icg.stats.paysByInvoice['1002']).toBe(1);
      await expectNoCardDataStored(page, TEST_CARD);
      expect(session.cspViolations).toEqual([]);
      expect(session.pageErrors).toEqual([]);
      expect(session.consoleErrors).toEqual([]);
    });

    it('tries a declined card again with a new key, and keeps the key while the invoice has had too many attempts', async () => {
      const session = await open(h.url);
      const { page } = session;
      const paysBefore = h.icg.stats.pays;
      await fillForm(page, '2002', '20.00', DECLINED_CARD);

      // A decline ends its attempt (nothing was charged): pressing Pay again is a new attempt.
      const first = await pressPay(page);
      const second = await pressPay(page);
      // RATE_LIMIT_INVOICE_MAX=2: two attempts reach iCG, the third is refused before it.
      const third = await pressPay(page);
      expect([first.state, second.state, third.state]).toEqual(['declined', 'declined', 'rate-limited']);
      expect(first.text).toBe('Payment declined: Declined by issuer. Your card was not charged. You can try again, with another card if you like.');
      expect(third.text).toMatch(/^Too many attempts — try again in \d+ seconds?\.$/);

      // Nothing was charged by the refused attempt; trying it again sends the same key.
      const fourth = await pressPay(page, { label: 'Try again' });
      expect(fourth.state).toBe('rate-limited');

      expect(h.icg.stats.pays - paysBefore).toBe(2);
      const keys = await idempotencyKeys(session);
      expect(keys).toHaveLength(4);
      expect(new Set(keys.slice(0, 3)).size).toBe(3);
      expect(keys[3]).toBe(keys[2]);
      const stored = await expectNoCardDataStored(page, DECLINED_CARD);
      expect(stored.map((entry) => entry.attempt['state'])).toEqual(['pending']);
      expect(session.cspViolations).toEqual([]);
      expect(session.pageErrors).toEqual([]);
      expect(unexpectedConsoleErrors(session)).toEqual([]);
    });

    it('lists no test cards when iCG is real, and lists them in sandbox mode', async () => {
      const real = await open(h.url);
      const realMode = await fetch(`${h.url}/checkout/mode.json`);
      expect(realMode.headers.get('cache-control')).toBe('no-store');
      await expect(realMode.json()).resolves.toEqual({ sandbox: false });
      expect((await real.modeAnswer)?.status()).toBe(200);
      await expect(real.page.locator('#sandbox').isHidden()).resolves.toBe(true);

      // The same service in sandbox mode (the harness names iCG's URLs, so it is not in sandbox mode by itself).
      const sandboxed = await startService(withOverrides(h.config, { sandbox: true }), { logDestination: new LogCapture() });
      try {
        const sandboxMode = await fetch(`${sandboxed.url}/checkout/mode.json`);
        expect(sandboxMode.headers.get('cache-control')).toBe('no-store');
        await expect(sandboxMode.json()).resolves.toEqual({ sandbox: true });

        const session = await open(sandboxed.url);
        const { page } = session;
        await page.locator('#sandbox').waitFor({ state: 'visible' });
        await expect(page.locator('#test-cards li').allTextContents()).resolves.toEqual([
          'Visa 4111 1111 1111 1111 Use',
          'Mastercard 5454 5454 5454 5454 Use',
          'AmEx 3782 8224 6310 005 Use',
          'Discover 6011 0009 9013 9424 Use',
        ]);
        await mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: path.join(ARTIFACTS, 'checkout-sandbox.png'), fullPage: true });
        await page.getByRole('button', { name: 'Use the Mastercard test card' }).click();
        await expect(page.getByLabel('Card number').inputValue()).resolves.toBe('5454 5454 5454 5454');
        expect(session.cspViolations).toEqual([]);
        expect(session.pageErrors).toEqual([]);
        expect(session.consoleErrors).toEqual([]);
      } finally {
        await sandboxed.shutdown();
      }
    });

    it('refuses a page on an origin that is not allow-listed, before anything reaches iCG', async () => {
      const foreign = await startForeignSite(h.url);
      const context = await browser.newContext();
      context.setDefaultTimeout(WAIT_MS);
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

  describe('when iCG does not answer in time', () => {
    /** The service gives up on iCG after ICG_TIMEOUT_MS; the sandbox answers well after that. */
    const ICG_TIMEOUT_MS = 500;
    const SLOW_PAY_MS = 4 * ICG_TIMEOUT_MS;
    let h: Harness;

    beforeAll(async () => {
      h = await startHarness({ env: { ...PAGE_ENV, ICG_TIMEOUT_MS: String(ICG_TIMEOUT_MS), RATE_LIMIT_INVOICE_MAX: '10' } });
    });

    afterAll(async () => {
      await h.close();
    });

    afterEach(() => {
      h.icg.faults.payDelayMs = 0;
    });

    /** Pays with iCG too slow to answer in time: the page must call the outcome unknown, with a reference. */
    async function payIntoTimeout(session: CheckoutSession, invoiceId: string, amount: string) {
      h.icg.faults.payDelayMs = SLOW_PAY_MS;
      await fillForm(session.page, invoiceId, amount);
      const outcome = await pressPay(session.page);
      expect(outcome.status).toBe(504);
      expect(outcome.body['type']).toMatch(OUTCOME_UNKNOWN);
      expect(outcome.state).toBe('unknown');
      expect(outcome.text).toContain('we don’t know yet whether this payment went through');
      expect(outcome.text).toContain('Your card may have been charged, so please don’t pay again.');
      expect(outcome.reference).toMatch(UUID);
      expect(outcome.reference).toBe(outcome.body['requestId']);
      expect(h.icg.stats.paysByInvoice[invoiceId]).toBe(1);
      // From now on iCG answers at once: a second pay WOULD be charged, so only the same key keeps it to one.
      h.icg.faults.payDelayMs = 0;
      return outcome;
    }

    it('shows the outcome as unknown with its reference, and "Check again" sends the same key: one charge', async () => {
      const session = await open(h.url);
      const { page } = session;
      const first = await payIntoTimeout(session, '3001', '30.00');

      const again = await pressPay(page, { label: 'Check again' });

      const keys = await idempotencyKeys(session);
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(UUID);
      expect(keys[1]).toBe(keys[0]);
      expect(h.icg.stats.paysByInvoice['3001']).toBe(1);
      // The stored unknown outcome, replayed: still unknown, still the first attempt's reference.
      expect(again.status).toBe(504);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.state).toBe('unknown');
      expect(again.reference).toBe(first.reference);

      const stored = await expectNoCardDataStored(page, TEST_CARD);
      expect(stored).toEqual([
        {
          identity: ['3001', '30.00', 'D', '1111'],
          attempt: { idempotencyKey: keys[0], state: 'unknown', reference: first.reference, at: expect.any(Number) },
        },
      ]);
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'checkout-outcome-unknown.png'), fullPage: true });
      expect(session.cspViolations).toEqual([]);
      expect(session.pageErrors).toEqual([]);
      expect(unexpectedConsoleErrors(session)).toEqual([]);
    });

    it('sends another card as a new payment, which the service holds while the first outcome is unknown: one charge', async () => {
      const session = await open(h.url);
      const { page } = session;
      const first = await payIntoTimeout(session, '3003', '32.00');

      // Another card is another payment (a new key); the service refuses it while the invoice is held.
      await fillForm(page, '3003', '32.00', { number: '5454 5454 5454 5454', expiry: '10/30', cvv: '456' });
      const other = await pressPay(page, { label: 'Pay' });
      expect(other.status).toBe(409);
      expect(other.body['type']).toBe('tag:icg-bff,2026:problem:invoice-held');
      expect(other.state).toBe('held');
      expect(other.text).toContain('Please don’t pay again');

      // The first card again: its attempt, its key, its stored answer.
      await fillForm(page, '3003', '32.00');
      const again = await pressPay(page, { label: 'Check again' });
      expect(again.state).toBe('unknown');
      expect(again.reference).toBe(first.reference);

      const keys = await idempotencyKeys(session);
      expect(keys).toHaveLength(3);
      expect(keys[1]).not.toBe(keys[0]);
      expect(keys[2]).toBe(keys[0]);
      expect(h.icg.stats.paysByInvoice['3003']).toBe(1);
      expect(session.cspViolations).toEqual([]);
      expect(session.pageErrors).toEqual([]);
      expect(unexpectedConsoleErrors(session)).toEqual([]);
    });

    it('keeps the key across a reload: the same payment entered again is the same attempt, one charge', async () => {
      const session = await open(h.url);
      const { page } = session;
      const first = await payIntoTimeout(session, '3002', '31.00');

      await page.reload();
      // The page remembers the attempt (not the card): unknown, with its reference.
      await page.locator('#result[data-state="unknown"]').waitFor({ state: 'attached' });
      await expect(page.locator('#result-message').textContent()).resolves.toMatch(
        /^Your earlier payment of invoice 3002 \(31\.00, card ending 1111\) has an unknown outcome/,
      );
      await expect(page.locator('#result-reference').textContent()).resolves.toBe(`Reference: ${first.reference}`);
      await expect(page.getByLabel('Invoice number').inputValue()).resolves.toBe('3002');
      await expect(page.getByRole('button', { name: 'Check again', exact: true }).isEnabled()).resolves.toBe(true);
      await expectNoCardDataStored(page, TEST_CARD);

      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'checkout-unknown-after-reload.png'), fullPage: true });
      await fillForm(page, '3002', '31.00');
      const again = await pressPay(page, { label: 'Check again' });

      const keys = await idempotencyKeys(session);
      expect(keys).toHaveLength(2);
      expect(keys[1]).toBe(keys[0]);
      expect(h.icg.stats.paysByInvoice['3002']).toBe(1);
      expect(again.state).toBe('unknown');
      expect(again.reference).toBe(first.reference);
      await expectNoCardDataStored(page, TEST_CARD);
      expect(session.cspViolations).toEqual([]);
      expect(session.pageErrors).toEqual([]);
      expect(unexpectedConsoleErrors(session)).toEqual([]);
    });
  });
});
