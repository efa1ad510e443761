import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { problemAnswer, type Answer } from '../answer';
import { maskCardNumbers } from '../cardholder-data';
import { AppError, InternalError, InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType } from '../errors';
import type { Logger } from '../logger';
import { invalidInvoiceId } from '../pay/invoice-id';
import { contextOf } from './context';

/** The problem answer for `error` on this request (its path is the problem's instance). */
export function problemAnswerFor(error: AppError, req: Request, res: Response): Answer {
  return problemAnswer(error, contextOf(res).requestId, req.path);
}

/** Writes an answer: status, content type, body and Retry-After; nothing else. */
export function sendAnswer(res: Response, answer: Answer): void {
  if (answer.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(answer.retryAfterSeconds));
  if (answer.body === null) res.status(answer.status).end();
  else res.status(answer.status).type(answer.contentType).send(JSON.stringify(answer.body));
}

/** Errors raised by express.json (body-parser) carry a `type`; map them to ours. */
function fromBodyParser(error: unknown): AppError | null {
  if (typeof error !== 'object' || error === null || !('type' in error)) return null;
  switch (error.type) {
    case 'entity.too.large':
      return new PayloadTooLarge('The request body exceeds the size limit');
    case 'entity.parse.failed':
      return new InvalidRequest('The request body is not valid JSON');
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
      const err =
        error instanceof Error
          ? { name: error.name, message: maskCardNumbers(error.message), stack: maskCardNumbers(error.stack ?? '') }
          : { message: 'non-error thrown' };
      logger.error({ event: 'unhandled_error', requestId: context.requestId, err }, 'unhandled error');
      known = new InternalError('Something went wrong on our side; the request id identifies it in our logs');
    }
    context.problem = known.slug;
    sendAnswer(res, problemAnswerFor(known, req, res));
  };
}

/** Any path no route serves. */
export function notFound(): RequestHandler {
  return (req, _res, next) => {
    next(new NotFound(`No resource at ${req.path}`));
  };
}
