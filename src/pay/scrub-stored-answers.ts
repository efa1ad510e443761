import { SensitiveValues } from '../cardholder-data';
import type { AnswerFilter } from '../icg/answer-filter';
import type { Logger } from '../logger';
import type { SharedState } from '../state/shared-state';

interface StoredRecord {
  readonly state?: unknown;
  readonly v?: unknown;
  readonly answer?: { readonly contentType?: unknown; readonly body?: unknown };
}

/** The record with its iCG answer filtered, or null when there is nothing to change. */
function scrubbed(raw: string, filter: AnswerFilter): string | null {
  let record: StoredRecord;
  try {
    record = JSON.parse(raw) as StoredRecord;
  } catch {
    return null;
  }
  const answer = record.answer;
  // Records this version wrote (v 2) were filtered before they were stored.
  if (record.state !== 'done' || record.v !== undefined || !answer || answer.contentType !== 'application/json') return null;
  const next = JSON.stringify({ ...record, answer: { ...answer, body: filter.filter(answer.body, SensitiveValues.none()) } });
  return next === raw ? null : next;
}

/**
 * Scrubs the Idempotency-Key records an earlier version stored with iCG's whole answer (which could
 * echo a card number and CVV): each is rewritten in place with the filtered answer, keeping its
 * lifetime. The request behind such a record is unknown, so `filter` should keep top-level fields only.
 * Never deleted: a deleted record would free its key to pay again. Returns how many records were
 * scanned and rewritten.
 */
export async function scrubStoredAnswers(state: SharedState, filter: AnswerFilter): Promise<{ scanned: number; scrubbed: number }> {
  let scanned = 0;
  let changed = 0;
  for await (const keys of state.scan('idempotency:')) {
    const values = await state.getMany(keys);
    for (const [index, key] of keys.entries()) {
      const raw = values[index];
      if (raw === null || raw === undefined) continue;
      scanned += 1;
      const next = scrubbed(raw, filter);
      if (next !== null && (await state.replaceIfEqualsKeepingTtl(key, raw, next))) changed += 1;
    }
  }
  return { scanned, scrubbed: changed };
}

/** How often, and for how long after start-up, the scrub runs again (old instances may still write during a rolling deploy). */
const REPEAT_EVERY_MS = 10 * 60_000;
const REPEAT_FOR_MS = 60 * 60_000;

/** Runs the scrub now and again every ten minutes for an hour, logging what it did. Returns a stop function. */
export function scheduleAnswerScrub(state: SharedState, filter: AnswerFilter, logger: Logger): () => void {
  const run = (): void => {
    scrubStoredAnswers(state, filter).then(
      (result) => {
        if (result.scrubbed > 0)
          logger.warn({ event: 'idempotency_records_scrubbed', ...result }, 'rewrote stored answers that held fields outside the allow-list');
        else logger.debug({ event: 'idempotency_records_scrubbed', ...result }, 'stored answers checked');
      },
      (error: unknown) => {
        logger.warn(
          { event: 'idempotency_scrub_failed', err: { message: error instanceof Error ? error.message : 'unknown' } },
          'could not scrub stored answers; will try again',
        );
      },
    );
  };
  run();
  const timer = setInterval(run, REPEAT_EVERY_MS);
  timer.unref();
  const stopTimer = setTimeout(() => {
    clearInterval(timer);
  }, REPEAT_FOR_MS);
  stopTimer.unref();
  return () => {
    clearInterval(timer);
    clearTimeout(stopTimer);
  };
}
