import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { AppError, InternalError, InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType } from '../errors';
import type { StoredAnswer } from '../guards/idempotency';
import { maskCardNumbers } from '../cardholder-data';
import type { Logger } from '../logger';
import { contextOf } from './context';
import { invalidInvoiceId } from './pay-request';

/** Problem types are tag URIs (RFC 4151): stable names, documented in the README's error table. */
export const TYPE_BASE = 'tag:icg-bff,2026:problem:';

/** An RFC 9457 problem for `error`, as sent and as stored for idempotent replay. */
export function problemAnswer(error: AppError, req: Request, requestId: string): StoredAnswer {
  const body: Record<string, unknown> = {
    type: `${TYPE_BASE}${error.slug}`,
    title: error.title,
    status: error.status,
    detail: error.message,
    instance: req.path,
    requestId,
  };
  if (error instanceof InvalidRequest && error.errors.length > 0) body['errors'] = error.errors;
  return {
    status: error.status,
    contentType: 'application/problem+json',
    body,
    ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
  };
}

/** Writes a stored or fresh answer: status, content type, body and Retry-After; nothing else. */
export function sendAnswer(res: Response, answer: StoredAnswer): void {
  if (answer.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(answer.retryAfterSeconds));
  if (answer.body === null) res.status(answer.status).end();
  else res.status(answer.status).type(answer.contentType).send(JSON.stringify(answer.body));
}

/** Errors raised by express.json (body-parser) carry a `type`; map them to ours. */
function fromBodyParser(error: unknown): AppError | null {
  if (typeof error !== 'object' || error === null || !('type' in error)) return null;
  switch ((error as { type: unknown }).type) {
    case 'entity.too.large':
      return new PayloadTooLarge('The request body exceeds the size limit');
    case 'entity.parse.failed':
      return new InvalidRequest('The request body is not valid JSON');
    case 'entity.verify.failed':
      return new InvalidRequest('The request body is not valid UTF-8');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new UnsupportedMediaType('Send an uncompressed UTF-8 application/json body');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new InvalidRequest('The request body could not be read');
    default:
      return null;
  }
}

/** The router could not percent-decode a path parameter (`/pay/%ZZ`; it marks those 400): the only one is the invoice id. */
function fromRouter(error: unknown): AppError | null {
  return error instanceof URIError && (error as URIError & { status?: unknown }).status === 400 ? invalidInvoiceId() : null;
}

/**
 * The one place errors become HTTP answers. Known errors keep their status and message; anything
 * else is a bug: logged with its stack (never with the request) and answered as a bare 500.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const context = contextOf(res);
    let known = error instanceof AppError ? error : (fromBodyParser(error) ?? fromRouter(error));
    if (!known) {
      const err = error instanceof Error ? { name: error.name, message: maskCardNumbers(error.message), stack: maskCardNumbers(error.stack ?? '') } : { message: 'non-error thrown' };
      logger.error({ event: 'unhandled_error', requestId: context.requestId, err }, 'unhandled error');
      known = new InternalError('Something went wrong on our side; the request id identifies it in our logs');
    }
    context.problem = known.slug;
    sendAnswer(res, problemAnswer(known, req, context.requestId));
  };
}

/** Any path no route serves. */
export function notFound(): RequestHandler {
  return (req, _res, next) => next(new NotFound(`No resource at ${req.path}`));
}
