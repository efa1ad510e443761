import { InvalidRequest } from '../errors';
import { canonicalInvoiceId } from './invoice-id';
import { OUTCOMES, type JournalFilter, type Outcome } from './journal';

const UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `1h`, `30m`, `2d`, `45s` (ago), or an ISO 8601 time: epoch ms. */
export function parseSince(text: string, now: number): number | null {
  const relative = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (relative) return now - Number(relative[1]) * (UNITS[relative[2] ?? 'h'] ?? 0);
  const absolute = Date.parse(text);
  return Number.isNaN(absolute) ? null : absolute;
}

/** A journal filter from query parameters or command-line options (names: outcome, since, invoice, unresolved, limit). */
export function parseJournalFilter(options: Readonly<Record<string, string | undefined>>, now: number): JournalFilter {
  const problems: { pointer: string; detail: string }[] = [];
  const { outcome, since, invoice, unresolved, limit } = options;
  if (outcome !== undefined && !(OUTCOMES as readonly string[]).includes(outcome))
    problems.push({ pointer: '/outcome', detail: `must be one of ${OUTCOMES.join(', ')}` });
  const sinceMs = since === undefined ? undefined : parseSince(since, now);
  if (sinceMs === null) problems.push({ pointer: '/since', detail: 'must be like 1h, 30m, 2d or an ISO 8601 time' });
  const limitNumber = limit === undefined ? undefined : Number(limit);
  if (limitNumber !== undefined && !(Number.isInteger(limitNumber) && limitNumber >= 1 && limitNumber <= 1000))
    problems.push({ pointer: '/limit', detail: 'must be a whole number from 1 to 1000' });
  if (unresolved !== undefined && unresolved !== 'true' && unresolved !== 'false') problems.push({ pointer: '/unresolved', detail: 'must be true or false' });
  if (problems.length > 0) throw new InvalidRequest('The journal query is invalid', problems);
  return {
    outcome: outcome as Outcome | undefined,
    since: sinceMs ?? undefined,
    invoiceId: invoice === undefined ? undefined : canonicalInvoiceId(invoice),
    unresolved: unresolved === 'true',
    limit: limitNumber,
  };
}
