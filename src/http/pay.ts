import { isUtf8 } from 'node:buffer';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { Conflict, IdempotencyKeyReused, InvalidRequest, MethodNotAllowed, ServiceUnavailable, UnsupportedMediaType, UpstreamFailure } from '../errors';
import { requestFingerprint } from '../guards/fingerprint';
import type { IdempotencyStore } from '../guards/idempotency';
import type { InFlightPays } from '../guards/in-flight-pays';
import type { InvoiceLocks } from '../guards/invoice-lock';
import type { AnswerFilter } from '../icg/answer-filter';
import type { IcgClient } from '../icg/client';
import { payInvoice } from '../icg/pay-invoice';
import type { TokenManager } from '../icg/token-manager';
import { maskCardNumbers, SensitiveValues } from '../cardholder-data';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { StateUnavailable } from '../state/shared-state';
import { contextOf } from './context';
import { IDEMPOTENCY_KEY_PATTERN, parseInvoiceId, parsePayBody } from './pay-request';
import { problemAnswer, sendAnswer } from './problem';
import type { RateLimiters } from './rate-limit';

export interface PayRouteDeps {
  readonly icg: IcgClient;
  readonly answerFilter: AnswerFilter;
  readonly tokens: TokenManager;
  readonly locks: InvoiceLocks;
  readonly inFlight: InFlightPays;
  readonly idempotency: IdempotencyStore;
  readonly limiters: RateLimiters;
  readonly originPolicy: RequestHandler;
  readonly bodyLimitBytes: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** The invoice id, checked against the allow-list before anything else looks at the request. */
const validateInvoiceId: RequestHandler = (req, res, next) => {
  contextOf(res).invoiceId = parseInvoiceId(req.params['invoiceId']);
  next();
};

/** JSON object bodies only: 415 for another type, 413 past the limit, 400 for malformed or non-object JSON. */
function jsonBody(limitBytes: number): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    next(req.is('application/json') ? undefined : new UnsupportedMediaType('Send the payment as Content-Type: application/json'));
  };
  // inflate: false refuses compressed bodies (a small gzip can expand past any limit); bytes that are
  // not UTF-8 are refused rather than forwarded with replacement characters.
  const parse = express.json({
    limit: limitBytes,
    strict: false,
    inflate: false,
    type: () => true,
    verify: (_req, _res, bytes) => {
      if (!isUtf8(bytes)) throw new Error('body is not UTF-8');
    },
  });
  const validate: RequestHandler = (req, res, next) => {
    contextOf(res).body = parsePayBody(req.body);
    next();
  };
  return [requireJson, parse, validate];
}

/**
 * Idempotency-Key handling: replay a stored answer, refuse a reused or in-flight key, or reserve it
 * for this request. A reservation the request leaves unsettled before forwarding (a 429 below, a
 * client that went away early) is abandoned when the response closes, so the key can be retried.
 */
function idempotency(store: IdempotencyStore, metrics: Metrics): RequestHandler {
  return async (req, res, next) => {
    const key = req.get('Idempotency-Key');
    if (key === undefined) {
      next();
      return;
    }
    if (!IDEMPOTENCY_KEY_PATTERN.test(key)) throw new InvalidRequest('Idempotency-Key must be 8-128 letters, digits or . _ : -', [{ pointer: '/headers/Idempotency-Key', detail: 'must match ^[A-Za-z0-9._:-]{8,128}$' }]);
    const context = contextOf(res);
    let admission;
    try {
      admission = await store.admit(key, requestFingerprint(context.invoiceId ?? '', context.body));
    } catch (error) {
      if (!(error instanceof StateUnavailable)) throw error;
      // Without Redis no instance can promise "at most once" for a key: refuse rather than risk it.
      throw new ServiceUnavailable('Requests with an Idempotency-Key cannot be accepted while our shared store is unavailable; retry with the same key shortly', { retryAfterSeconds: 2 });
    }
    switch (admission.kind) {
      case 'replay':
        metrics.idempotentReplays.inc();
        res.setHeader('Idempotent-Replayed', 'true');
        sendAnswer(res, admission.answer);
        return;
      case 'in_flight':
        metrics.inFlightConflicts.inc({ guard: 'idempotency_key' });
        throw new Conflict('A request with this Idempotency-Key is still in progress; retry when it has finished', { retryAfterSeconds: 1 });
      case 'mismatch':
        throw new IdempotencyKeyReused('This Idempotency-Key was used for a different invoice or body; use a new key for a new payment');
      case 'new': {
        const { reservation } = admission;
        context.idempotency = reservation;
        // A client that hangs up while its pay is at iCG must not free the key: the pay may still charge.
        res.once('close', () => {
          if (!reservation.isSettled && !context.isForwarding) void reservation.abandon();
        });
        next();
      }
    }
  };
}

/**
 * Forwards the pay under the per-invoice lock and relays iCG's answer: status and JSON body only.
 * An outcome that may have charged (timeout, 5xx, unreadable answer) is stored under the
 * Idempotency-Key like any final answer, so a retry replays it instead of paying again; an outcome
 * that cannot have reached iCG frees the key.
 */
function forward(deps: PayRouteDeps): RequestHandler {
  return async (req, res) => {
    // The client left while its request waited on a limit or on the key: nobody would hear the answer
    // (and its key, if any, was already freed for a retry), so nothing is sent to iCG.
    if (res.closed) {
      await contextOf(res).idempotency?.abandon();
      return;
    }
    // In flight until the work below has ended and the answer has gone out (or the client left).
    const done = deps.inFlight.begin();
    try {
      await forwardPay(deps, req, res);
    } finally {
      if (res.closed) done();
      else res.once('close', done);
    }
  };
}

async function forwardPay(deps: PayRouteDeps, req: Request, res: Response): Promise<void> {
  const context = contextOf(res);
  const invoiceId = context.invoiceId ?? '';
  const reservation = context.idempotency;
  // Claimed before the lock is awaited: a hang-up from here on must not free the key (see idempotency()).
  context.isForwarding = true;
  const release = await deps.locks.acquire(invoiceId).catch(async (error: unknown) => {
    await reservation?.abandon();
    throw error;
  });
  if (!release) {
    deps.metrics.inFlightConflicts.inc({ guard: 'invoice' });
    await reservation?.abandon();
    throw new Conflict('Another payment for this invoice is in progress; wait for its result before trying again', { retryAfterSeconds: 1 });
  }
  const started = process.hrtime.bigint();
  try {
    const answer = await payInvoice(deps.icg, deps.tokens, invoiceId, context.body, context.requestId);
    context.upstream = { status: answer.status, durationMs: Number(process.hrtime.bigint() - started) / 1e6 };
    deps.logger.debug({ event: 'icg_pay', requestId: context.requestId, invoiceId: maskCardNumbers(invoiceId), upstreamStatus: answer.status, isKeyed: reservation !== undefined }, 'iCG answered the pay');
    // Only iCG's documented fields, scrubbed of cardholder data, are relayed, stored and logged.
    const stored = { status: answer.status, contentType: 'application/json', body: deps.answerFilter.filter(answer.body, SensitiveValues.of(context.body)) } as const;
    // Both are sent before answering, so a client that pays again at once meets neither the lock nor an
    // in-flight key (its commands queue behind these). The stored answer is awaited; the release is not:
    // one that fails leaves a lock that expires by itself. Issued in the same tick, they share a round trip.
    const released = release();
    await reservation?.complete(stored);
    sendAnswer(res, stored);
    await released;
  } catch (error) {
    // A failure of the pay itself (it reached iCG) has an upstream status and duration to log, and its
    // answer is kept under the key; any other failure frees the key.
    const payFailure = error instanceof UpstreamFailure && error.mayHaveCharged ? error : null;
    if (payFailure) {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      context.upstream = payFailure.upstreamStatus === undefined ? { durationMs } : { status: payFailure.upstreamStatus, durationMs };
      await reservation?.complete(problemAnswer(payFailure, req, context.requestId));
    } else {
      await reservation?.abandon();
    }
    throw error;
  } finally {
    await release();
  }
}

/** Anything but POST (and the CORS preflight) on /pay/:invoiceId. */
const methodNotAllowed: RequestHandler = (req, res) => {
  res.setHeader('Allow', 'POST, OPTIONS');
  sendAnswer(res, problemAnswer(new MethodNotAllowed('Use POST to pay an invoice'), req, contextOf(res).requestId));
};

/** POST /pay/:invoiceId: origin → invoice id → client limit → body → idempotency → invoice limit → lock → iCG. */
export function payRoutes(deps: PayRouteDeps): Router {
  const router = express.Router();
  router.options('/pay/:invoiceId', deps.originPolicy);
  router.post(
    '/pay/:invoiceId',
    deps.originPolicy,
    validateInvoiceId,
    deps.limiters.perClient,
    ...jsonBody(deps.bodyLimitBytes),
    idempotency(deps.idempotency, deps.metrics),
    deps.limiters.perInvoice,
    forward(deps),
  );
  router.all('/pay/:invoiceId', methodNotAllowed);
  return router;
}
