import type { Response } from 'express';

/** What the middleware chain learns about one request, typed (res.locals itself is `any`). */
export interface RequestContext {
  readonly requestId: string;
  readonly startedAt: bigint;
  invoiceId?: string;
  /** iCG's status (absent when it gave none: timeout, connection lost) and the time the pay took there. */
  upstream?: { readonly status?: number; readonly durationMs: number };
  /** The problem type slug of an error answer, for the request log. */
  problem?: string;
}

/** The context of this request; created by the request-id middleware, first in the chain. */
export function contextOf(res: Response): RequestContext {
  return res.locals['context'] as RequestContext;
}
