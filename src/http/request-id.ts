import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { RequestContext } from './context';

/** A caller's X-Request-Id is kept when it is this shape (no spaces, quotes or control characters to smuggle into logs). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Accepts a well-formed X-Request-Id or makes one, echoes it on every response (errors included)
 * and starts the request's context. It is forwarded to iCG and written on every log line.
 */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const offered = req.get('X-Request-Id');
    const id = offered !== undefined && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    const context: RequestContext = { requestId: id, startedAt: process.hrtime.bigint() };
    res.locals['context'] = context;
    res.setHeader('X-Request-Id', id);
    next();
  };
}
