import type { Request, RequestHandler } from 'express';
import { rateLimit, type Store } from 'express-rate-limit';
import { RateLimited } from '../errors';
import type { Metrics } from '../metrics';
import { contextOf } from './context';

export interface RateLimitSettings {
  readonly clientMax: number;
  readonly clientWindowMs: number;
  readonly invoiceMax: number;
  readonly invoiceWindowMs: number;
}

export interface RateLimiters {
  readonly perClient: RequestHandler;
  readonly perInvoice: RequestHandler;
}

/**
 * The two budgets on /pay: per client (socket address, or X-Forwarded-For only as far as TRUST_PROXY
 * trusts it) and, stricter, per invoice (card testing hammers one invoice with many cards). Both
 * answer 429 problem+json with Retry-After and the IETF RateLimit/RateLimit-Policy headers. Where the
 * counts live (Redis, this process) is the stores' business.
 */
export function createRateLimiters(settings: RateLimitSettings, stores: { readonly client: Store; readonly invoice: Store }, metrics: Metrics): RateLimiters {
  const limiter = (name: 'client' | 'invoice', limit: number, windowMs: number, store: Store, keyGenerator?: (req: Request) => string): RequestHandler =>
    rateLimit({
      windowMs,
      limit,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      identifier: `per-${name}`,
      requestPropertyName: `rateLimit_${name}`,
      store,
      ...(keyGenerator ? { keyGenerator } : {}),
      // Any client can send X-Forwarded-For; whether it counts is TRUST_PROXY's business, not a warning's.
      validate: { xForwardedForHeader: false },
      handler: (_req, res, next) => {
        metrics.rateLimited.inc({ limit: name });
        const retryAfter = Number(res.getHeader('Retry-After') ?? Math.ceil(windowMs / 1000));
        next(
          new RateLimited(
            name === 'client'
              ? 'Too many payment attempts from this client; wait before trying again'
              : 'Too many payment attempts for this invoice; wait before trying again',
            { retryAfterSeconds: retryAfter },
          ),
        );
      },
    });
  return {
    perClient: limiter('client', settings.clientMax, settings.clientWindowMs, stores.client),
    perInvoice: limiter('invoice', settings.invoiceMax, settings.invoiceWindowMs, stores.invoice, invoiceOf),
  };
}

function invoiceOf(req: Request): string {
  // The canonical id: 962, 0962 and 00962 are one invoice at iCG, so they share one budget.
  return req.res ? (contextOf(req.res).invoice?.canonical ?? 'unknown') : 'unknown';
}
