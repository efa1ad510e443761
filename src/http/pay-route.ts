import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { MethodNotAllowed } from '../errors';
import { parseIdempotencyKey } from '../pay/idempotency-key';
import { parseInvoiceId } from '../pay/invoice-id';
import { parsePayBody } from '../pay/pay-body';
import { ClientLeft, type PayInvoice } from '../pay/pay-invoice';
import { contextOf } from './context';
import { bodyBytes, jsonBody } from './json-body';
import { problemAnswerFor, sendAnswer } from './problem';

export interface PayRouteDeps {
  readonly payInvoice: PayInvoice;
  readonly originPolicy: RequestHandler;
  readonly perClientLimit: RequestHandler;
  readonly perInvoiceLimit: RequestHandler;
  readonly bodyLimitBytes: number;
}

/** The invoice id, checked against the allow-list before anything else looks at the request. */
const validateInvoiceId: RequestHandler = (req, res, next) => {
  contextOf(res).invoice = parseInvoiceId(req.params['invoiceId']);
  next();
};

/** Runs an Express middleware for this request as a promise: how the use case spends the invoice budget. */
function runMiddleware(middleware: RequestHandler, req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    void middleware(req, res, (error?: unknown) => {
      if (error === undefined) resolve();
      else reject(error instanceof Error ? error : new Error('the invoice budget check failed'));
    });
  });
}

/** Hands the parsed request to the pay use case and sends what it answers. */
function pay(deps: PayRouteDeps): RequestHandler {
  return async (req, res) => {
    const context = contextOf(res);
    const left = new AbortController();
    res.once('close', () => {
      left.abort();
    });
    try {
      const result = await deps.payInvoice.pay({
        invoice: context.invoice ?? parseInvoiceId(req.params['invoiceId']),
        body: parsePayBody(bodyBytes(req.body)),
        idempotencyKey: parseIdempotencyKey(req.get('Idempotency-Key')),
        requestId: context.requestId,
        signal: left.signal,
        spendInvoiceBudget: () => runMiddleware(deps.perInvoiceLimit, req, res),
      });
      if (result.upstream) context.upstream = result.upstream;
      if (result.payment) context.payment = result.payment;
      if (result.problem) context.problem = result.problem;
      if (result.isReplay) {
        context.isReplay = true;
        res.setHeader('Idempotent-Replayed', 'true');
      }
      sendAnswer(res, result.answer);
    } catch (error) {
      if (!(error instanceof ClientLeft)) throw error;
    }
  };
}

/** Anything but POST (and the CORS preflight) on /pay/:invoiceId. */
const methodNotAllowed: RequestHandler = (req, res) => {
  res.setHeader('Allow', 'POST, OPTIONS');
  sendAnswer(res, problemAnswerFor(new MethodNotAllowed('Use POST to pay an invoice'), req, res));
};

/** POST /pay/:invoiceId: origin → invoice id → client limit → JSON body → the pay use case. */
export function payRoutes(deps: PayRouteDeps): Router {
  const router = express.Router();
  router.options('/pay/:invoiceId', deps.originPolicy);
  router.post('/pay/:invoiceId', deps.originPolicy, validateInvoiceId, deps.perClientLimit, ...jsonBody(deps.bodyLimitBytes), pay(deps));
  router.all('/pay/:invoiceId', methodNotAllowed);
  return router;
}
