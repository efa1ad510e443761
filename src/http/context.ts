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
  upstream?: { status: number; durationMs: number };
}

/** The context of this request; created by the request-id middleware, first in the chain. */
export function contextOf(res: Response): RequestContext {
  return res.locals['context'] as RequestContext;
}
