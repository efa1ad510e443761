import { maskCardNumbers } from './cardholder-data';
import { InvalidRequest, type AppError } from './errors';

/** Problem types are tag URIs (RFC 4151): stable names, listed in the README's error table. */
export const PROBLEM_TYPE_BASE = 'tag:icg-bff,2026:problem:';

/** An answer as sent, and as stored for an idempotent replay: exactly what the first client received. */
export interface Answer {
  readonly status: number;
  readonly contentType: 'application/json' | 'application/problem+json';
  /** null: a status without a body. */
  readonly body: unknown;
  readonly retryAfterSeconds?: number;
}

/** The RFC 9457 problem body for `error`: the one place problem bodies are built. */
export function problemBody(error: AppError, requestId: string, instance?: string): Record<string, unknown> {
  const body: Record<string, unknown> = { type: `${PROBLEM_TYPE_BASE}${error.slug}`, title: error.title, status: error.status, detail: error.message };
  if (instance !== undefined) body['instance'] = instance;
  body['requestId'] = requestId;
  // Pointers and details name the client's own fields, which may be named anything, a card number too.
  if (error instanceof InvalidRequest && error.errors.length > 0)
    body['errors'] = error.errors.map((e) => ({ pointer: maskCardNumbers(e.pointer), detail: maskCardNumbers(e.detail) }));
  return body;
}

/** The answer for `error`: its status, problem body and Retry-After. */
export function problemAnswer(error: AppError, requestId: string, instance?: string): Answer {
  return {
    status: error.status,
    contentType: 'application/problem+json',
    body: problemBody(error, requestId, instance),
    ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
  };
}
