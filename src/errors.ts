/**
 * The errors this service answers with. Each knows its HTTP status and RFC 9457 problem type, so
 * one error handler (http/problem.ts) maps them all and no route invents its own error shape.
 * Messages are written for the merchant's developers and never carry a secret or upstream internals.
 */
export abstract class AppError extends Error {
  abstract readonly status: number;
  /** The last segment of the problem type URI, e.g. "rate-limited". */
  abstract readonly slug: string;
  abstract readonly title: string;
  /** Seconds after which a retry may succeed; sent as Retry-After. */
  readonly retryAfterSeconds: number | undefined;

  constructor(detail: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** A field-level complaint about the request, pointing at what to fix (RFC 6901 pointer). */
export interface FieldError {
  readonly pointer: string;
  readonly detail: string;
}

export class InvalidRequest extends AppError {
  readonly status = 400;
  readonly slug = 'invalid-request';
  readonly title = 'The request is invalid';
  constructor(
    detail: string,
    readonly errors: readonly FieldError[] = [],
  ) {
    super(detail);
  }
}

export class UnsupportedMediaType extends AppError {
  readonly status = 415;
  readonly slug = 'unsupported-media-type';
  readonly title = 'Send the body as application/json';
}

export class PayloadTooLarge extends AppError {
  readonly status = 413;
  readonly slug = 'payload-too-large';
  readonly title = 'The request body is too large';
}

/** The request did not finish arriving in time (answered before Express sees it). */
export class RequestTimeout extends AppError {
  readonly status = 408;
  readonly slug = 'request-timeout';
  readonly title = 'The request did not arrive in time';
}

/** The request headers are over Node's limit (answered before Express sees it). */
export class HeadersTooLarge extends AppError {
  readonly status = 431;
  readonly slug = 'headers-too-large';
  readonly title = 'The request headers are too large';
}

export class NotFound extends AppError {
  readonly status = 404;
  readonly slug = 'not-found';
  readonly title = 'No such resource';
}

export class MethodNotAllowed extends AppError {
  readonly status = 405;
  readonly slug = 'method-not-allowed';
  readonly title = 'Method not allowed';
}

export class Unauthorized extends AppError {
  readonly status = 401;
  readonly slug = 'unauthorized';
  readonly title = 'Credentials are required';
}

export class OriginRejected extends AppError {
  readonly status = 403;
  readonly slug = 'origin-rejected';
  readonly title = 'Cross-origin requests from this site are not allowed';
}

/** Another pay for the same invoice or with the same Idempotency-Key is still in flight. */
export class Conflict extends AppError {
  readonly status = 409;
  readonly slug = 'in-flight-conflict';
  readonly title = 'A payment for this request is already in progress';
}

/** The Idempotency-Key was used before with a different invoice or body. */
export class IdempotencyKeyReused extends AppError {
  readonly status = 422;
  readonly slug = 'idempotency-key-reused';
  readonly title = 'This Idempotency-Key belongs to a different request';
}

export class RateLimited extends AppError {
  readonly status = 429;
  readonly slug = 'rate-limited';
  readonly title = 'Too many requests';
}

/** Something this service depends on (Redis, a credentials backoff) says "not now". */
export class ServiceUnavailable extends AppError {
  readonly status = 503;
  readonly slug = 'service-unavailable';
  readonly title = 'The service cannot take this request right now';
}

/** iCG rejected the merchant's credentials or our token: a merchant-side incident, not the caller's. */
export class UpstreamRejected extends AppError {
  readonly status = 503;
  readonly slug = 'upstream-rejected';
  readonly title = "The payment gateway rejected this service's credentials";
}

/**
 * iCG failed to give an answer we can relay. `mayHaveCharged` says whether a pay could have been
 * processed: the idempotency layer stores such outcomes so a retry never charges twice, and frees
 * the key for the others.
 */
export abstract class UpstreamFailure extends AppError {
  /** iCG's HTTP status when it answered at all (for logs, never for the client). */
  readonly upstreamStatus: number | undefined;

  constructor(
    detail: string,
    readonly mayHaveCharged: boolean,
    options: { retryAfterSeconds?: number; cause?: unknown; upstreamStatus?: number } = {},
  ) {
    super(detail, options);
    this.upstreamStatus = options.upstreamStatus;
  }
}

/** iCG answered 5xx or something unreadable, or could not be reached. */
export class UpstreamUnavailable extends UpstreamFailure {
  readonly status = 502;
  readonly slug = 'upstream-unavailable';
  readonly title = 'The payment gateway is unavailable';
}

/** iCG did not answer in time: a pay's outcome is unknown; a login's is not a charge. */
export class UpstreamTimeout extends UpstreamFailure {
  readonly status = 504;
  readonly slug = 'upstream-timeout';
  readonly title = 'The payment gateway did not answer in time';
}

/** A bug or an unforeseen failure: answered as a bare 500, logged with its stack. */
export class InternalError extends AppError {
  readonly status = 500;
  readonly slug = 'internal-error';
  readonly title = 'Internal error';
}
