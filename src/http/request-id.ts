import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { mayHoldCardNumber } from '../cardholder-data';
import type { RequestContext } from './context';

/** A caller's X-Request-Id is kept when it is this shape (no spaces, quotes or control characters to smuggle into logs). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The caller's X-Request-Id when it is well formed and cannot carry a card number (no Luhn-valid
 * 13-19-digit run, grouped or not); otherwise a generated one. A refused id is never logged or
 * forwarded: it may be a card number a careless client put there.
 */
export function acceptableRequestId(offered: string | undefined): string {
  return offered !== undefined && REQUEST_ID_PATTERN.test(offered) && !mayHoldCardNumber(offered) ? offered : randomUUID();
}

/**
 * Accepts a well-formed X-Request-Id or makes one, echoes it on every response (errors included)
 * and starts the request's context. It is forwarded to iCG and written on every log line.
 */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const id = acceptableRequestId(req.get('X-Request-Id'));
    const context: RequestContext = { requestId: id, startedAt: process.hrtime.bigint() };
    res.locals['context'] = context;
    res.setHeader('X-Request-Id', id);
    next();
  };
}
