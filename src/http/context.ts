import type { Response } from 'express';
import type { Reservation } from '../guards/idempotency';

/** What the middleware chain learns about one request, typed (res.locals itself is `any`). */
export interface RequestContext {
  readonly requestId: string;
  readonly startedAt: bigint;
  invoiceId?: string;
  body?: Record<string, unknown>;
  idempotency?: Reservation;
  /** Set once the pay is on its way to iCG: from then on only the forwarder may settle the reservation. */
  isForwarding?: boolean;
  /** iCG's status (absent when it gave none: timeout, connection lost) and the time the pay took there. */
  upstream?: { status?: number; durationMs: number };
  /** The problem type slug of an error answer, for the request log. */
  problem?: string;
}

/** The context of this request; created by the request-id middleware, first in the chain. */
export function contextOf(res: Response): RequestContext {
  return res.locals['context'] as RequestContext;
}
