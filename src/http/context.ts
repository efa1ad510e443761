import type { Response } from 'express';
import type { InvoiceId } from '../pay/invoice-id';
import type { JournalEntry } from '../pay/journal';

/** What the middleware chain learns about one request, typed (res.locals itself is `any`). */
export interface RequestContext {
  readonly requestId: string;
  readonly startedAt: bigint;
  invoice?: InvoiceId;
  /** The journal entry of a pay that was sent: its outcome and iCG's references, for the request log. */
  payment?: JournalEntry;
  /** The Origin a refused browser request came from, for the log. */
  refusedOrigin?: string;
  /** True when the answer replays a stored one. */
  isReplay?: boolean;
  /** iCG's status (absent when it gave none: timeout, connection lost) and the time the pay took there. */
  upstream?: { readonly status?: number; readonly durationMs: number };
  /** The problem type slug of an error answer, for the request log. */
  problem?: string;
}

/** The context of this request; created by the request-id middleware, first in the chain. */
export function contextOf(res: Response): RequestContext {
  return res.locals['context'] as RequestContext;
}
