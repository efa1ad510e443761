import type { PayReply } from '../icg/client';
import type { Outcome } from './journal';

/** Which values of iCG's `Status` mean charged and not charged (ICG_STATUS_APPROVED / ICG_STATUS_DECLINED, lower case). */
export interface StatusMapping {
  readonly approved: readonly string[];
  readonly declined: readonly string[];
}

/**
 * The outcome of a pay iCG answered: an iCG 4xx is `rejected`; a 2xx is `approved` or `declined` by its
 * Status (a decline arrives as a 200). iCG does not document its Status values, so one on neither list
 * (or none at all) is `unknown`: it may have charged, and is reconciled like a timeout.
 */
export function outcomeOf(reply: PayReply, mapping: StatusMapping): Outcome {
  if (reply.status >= 400) return 'rejected';
  const body = reply.body;
  if (typeof body !== 'object' || body === null) return 'unknown';
  const status: unknown = Object.entries(body as Record<string, unknown>).find(([key]) => key.toLowerCase() === 'status')?.[1];
  if (typeof status !== 'string') return 'unknown';
  const value = status.trim().toLowerCase();
  if (mapping.approved.includes(value)) return 'approved';
  if (mapping.declined.includes(value)) return 'declined';
  return 'unknown';
}

/** iCG's references for a pay, when its (filtered) answer gives them (strings, or whole numbers as their digits). */
export function referencesOf(answerBody: unknown): { transactionId?: string; confirmationCode?: string } {
  const body = typeof answerBody === 'object' && answerBody !== null ? (answerBody as Record<string, unknown>) : {};
  const field = (name: string) => {
    const value = Object.entries(body).find(([key]) => key.toLowerCase() === name)?.[1];
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
    return typeof value === 'string' && value !== '' ? value.slice(0, 128) : undefined;
  };
  const transactionId = field('transactionid');
  const confirmationCode = field('confirmationcode');
  return { ...(transactionId ? { transactionId } : {}), ...(confirmationCode ? { confirmationCode } : {}) };
}
