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

/** An operator tried to resolve a payment whose outcome is already known or resolved otherwise. */
export class NotResolvable extends AppError {
  readonly status = 409;
  readonly slug = 'payment-not-resolvable';
  readonly title = 'This payment cannot be resolved';
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

/** Something this service depends on (Redis) says "not now". Nothing reached iCG. */
export class ServiceUnavailable extends AppError {
  readonly status = 503;
  readonly slug = 'service-unavailable';
  readonly title = 'The service cannot take this request right now';
}

/**
 * Redis lost data (it restarted empty, or failed over to a replica that had not seen the last writes):
 * records of pays in flight may be gone, so every pay is refused until the longest pay has ended.
 */
export class RedisDataLost extends AppError {
  readonly status = 503;
  readonly slug = 'redis-data-lost';
  readonly title = 'Payments are paused briefly after our shared store lost data';
}

/** An earlier attempt to pay this invoice has an unknown outcome: it may have charged. */
export class InvoiceHeld extends AppError {
  readonly status = 409;
  readonly slug = 'invoice-held';
  readonly title = 'An earlier payment of this invoice has an unknown outcome';
}

/** iCG rejected the merchant's credentials at /Login: a merchant-side incident, not the caller's. */
export class UpstreamRejected extends AppError {
  readonly status = 503;
  readonly slug = 'upstream-rejected';
  readonly title = "The payment gateway rejected this service's credentials";
}

/** iCG refused the access token for this pay (and a fresh one too): this pay fails alone; nothing was charged. */
export class TokenRefused extends AppError {
  readonly status = 503;
  readonly slug = 'token-refused';
  readonly title = "The payment gateway refused this service's access token";
}

/**
 * iCG failed to give an answer we can relay. `mayHaveCharged` says whether a pay could have been
 * processed: such outcomes are stored under the Idempotency-Key (a retry replays them instead of
 * paying again), hold the invoice and are journalled as `unknown`; the others free the key.
 */
export abstract class UpstreamFailure extends AppError {
  /** iCG's HTTP status when it answered at all (for logs, never for the client). */
  readonly upstreamStatus: number | undefined;
  abstract readonly mayHaveCharged: boolean;

  constructor(detail: string, options: { retryAfterSeconds?: number; cause?: unknown; upstreamStatus?: number } = {}) {
    super(detail, options);
    this.upstreamStatus = options.upstreamStatus;
  }
}

/** iCG could not be reached, or a login failed: nothing can have been charged. */
export class UpstreamUnavailable extends UpstreamFailure {
  readonly status = 502;
  readonly slug = 'upstream-unavailable';
  readonly title = 'The payment gateway is unavailable';
  readonly mayHaveCharged = false;
}

/** A login did not answer in time, or the pay's deadline left no time to send it: nothing was charged. */
export class UpstreamTimeout extends UpstreamFailure {
  readonly status = 504;
  readonly slug = 'upstream-timeout';
  readonly title = 'The payment gateway did not answer in time';
  readonly mayHaveCharged = false;
}

/**
 * The pay reached iCG but its outcome is unknown: no answer in time (504), or a 5xx, redirect or
 * unreadable answer (502). The card may have been charged. The client must not pay again with a new
 * key; the merchant reconciles it, and a retry with the same key shows the result once it is known.
 */
export class OutcomeUnknown extends UpstreamFailure {
  readonly slug = 'outcome-unknown';
  readonly title = 'The payment outcome is unknown: it may have been charged';
  readonly mayHaveCharged = true;

  constructor(
    readonly status: 502 | 504,
    detail: string,
    options: { upstreamStatus?: number } = {},
  ) {
    super(detail, options);
  }
}

/** A bug or an unforeseen failure: answered as a bare 500, logged with its stack. */
export class InternalError extends AppError {
  readonly status = 500;
  readonly slug = 'internal-error';
  readonly title = 'Internal error';
}

/**
 * One instance of every problem this service answers with (OutcomeUnknown twice: 502 and 504). The
 * OpenAPI document's `Problem.type` enum and the README's error table are built from this list, so a
 * new error class appears in both by being added here (a unit test checks none is missing).
 */
export const PROBLEMS: readonly AppError[] = [
  new InvalidRequest(''),
  new Unauthorized(''),
  new OriginRejected(''),
  new NotFound(''),
  new MethodNotAllowed(''),
  new RequestTimeout(''),
  new Conflict(''),
  new InvoiceHeld(''),
  new NotResolvable(''),
  new PayloadTooLarge(''),
  new UnsupportedMediaType(''),
  new IdempotencyKeyReused(''),
  new RateLimited(''),
  new HeadersTooLarge(''),
  new InternalError(''),
  new UpstreamUnavailable(''),
  new OutcomeUnknown(502, ''),
  new OutcomeUnknown(504, ''),
  new UpstreamTimeout(''),
  new ServiceUnavailable(''),
  new RedisDataLost(''),
  new UpstreamRejected(''),
  new TokenRefused(''),
];
