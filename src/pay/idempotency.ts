import { createHash, randomUUID } from 'node:crypto';
import type { Answer } from '../answer';
import { systemClock, type Clock } from '../clock';
import { ServiceUnavailable } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { RedisTrouble } from '../state/redis-trouble';
import { StateUnavailable, type SharedState } from '../state/shared-state';
import { withinMs } from '../within';

interface InFlightRecord {
  readonly state: 'in_flight';
  readonly fingerprint: string;
  readonly owner: string;
}

interface DoneRecord {
  readonly state: 'done';
  /** 2: the answer was filtered before it was stored. Records without it come from an earlier version. */
  readonly v?: 2;
  readonly fingerprint: string;
  readonly answer: Answer;
}

/** The first request with a key holds this until it has a final answer. */
export interface Reservation {
  /** Stores the final answer for replays (and ends the in-flight state). */
  complete(answer: Answer): Promise<void>;
  /** Forgets the key: the request ended without touching iCG, so a retry may run it afresh. */
  abandon(): Promise<void>;
  readonly isSettled: boolean;
}

export type Admission =
  | { readonly kind: 'new'; readonly reservation: Reservation }
  | { readonly kind: 'replay'; readonly answer: Answer }
  | { readonly kind: 'in_flight' }
  | { readonly kind: 'mismatch' };

/**
 * Idempotency-Key semantics (IETF httpapi draft, Stripe): the first request with a key runs and
 * its final answer is kept for `ttlSeconds`, bound to a fingerprint of invoice + body; the same key
 * again replays it, on any instance; a different request under the same key is refused; while the
 * first is running the key answers "in flight". The in-flight record lives `inFlightTtlMs`, past the
 * longest a pay can take, so a crashed instance's key frees itself.
 */
export class IdempotencyStore {
  readonly #landings = new Set<Promise<void>>();
  #isClosing = false;

  constructor(
    private readonly state: SharedState,
    private readonly ttlSeconds: number,
    private readonly inFlightTtlMs: number,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly trouble: RedisTrouble,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Reserves the key or says why not, in one atomic round trip. Without Redis no instance can promise
   * "at most once" for a key, so the request is refused (503) rather than risked.
   */
  async admit(key: string, fingerprint: string): Promise<Admission> {
    const storeKey = `idempotency:${createHash('sha256').update(key).digest('hex')}`;
    const inFlight: InFlightRecord = { state: 'in_flight', fingerprint, owner: randomUUID() };
    const inFlightRaw = JSON.stringify(inFlight);
    const existingRaw = await this.trouble.refuse(
      'idempotency',
      () =>
        this.state.setIfAbsentOrGet(storeKey, inFlightRaw, this.inFlightTtlMs).catch((error: unknown) => {
          // A Redis that stalls rather than dies may still run the reservation after we gave up on it;
          // the key would then answer 409 until the record expired. Take it back: on the same
          // connection this runs after the reservation, and it only deletes our own record.
          void this.trouble.tolerate('idempotency', () => this.state.deleteIfEquals(storeKey, inFlightRaw));
          throw error;
        }),
      () =>
        new ServiceUnavailable('Requests with an Idempotency-Key cannot be accepted while our shared store is unavailable; retry with the same key shortly', {
          retryAfterSeconds: 2,
        }),
    );
    if (existingRaw === null) return { kind: 'new', reservation: this.#reservation(storeKey, inFlightRaw) };
    const existing = JSON.parse(existingRaw) as InFlightRecord | DoneRecord;
    if (existing.fingerprint !== fingerprint) return { kind: 'mismatch' };
    if (existing.state === 'in_flight') return { kind: 'in_flight' };
    return { kind: 'replay', answer: existing.answer };
  }

  #reservation(storeKey: string, inFlightRaw: string): Reservation {
    const { fingerprint } = JSON.parse(inFlightRaw) as InFlightRecord;
    const reservedAt = this.clock.now();
    let isSettled = false;
    return {
      get isSettled() {
        return isSettled;
      },
      complete: async (answer) => {
        if (isSettled) return;
        isSettled = true;
        const done = JSON.stringify({ state: 'done', v: 2, fingerprint, answer } satisfies DoneRecord);
        const landing = this.#land(storeKey, inFlightRaw, done);
        // The client hears its answer once the record is kept (so a retry after the answer replays it),
        // or once the in-flight record would have expired anyway; re-sending goes on in the background.
        const waitMs = Math.max(0, reservedAt + this.inFlightTtlMs - this.clock.now());
        await withinMs(waitMs, landing).catch(() => undefined);
      },
      abandon: async () => {
        if (isSettled) return;
        isSettled = true;
        await this.trouble.tolerate('idempotency', () => this.state.deleteIfEquals(storeKey, inFlightRaw));
      },
    };
  }

  /** Resolves when every completion still being re-sent has landed or been given up (for shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.#landings]);
  }

  /**
   * Writes the done record until Redis takes it or the record's lifetime has passed. It is written
   * even when the in-flight record has vanished (Redis restarted empty, or the record expired):
   * without it a retry with the same key would pay again.
   */
  #land(storeKey: string, inFlightRaw: string, done: string): Promise<void> {
    const giveUpAt = this.clock.now() + this.ttlSeconds * 1000;
    const landing = (async () => {
      for (let attempt = 0; ; attempt += 1) {
        try {
          const result = await this.state.replaceIfEqualsOrAbsent(storeKey, inFlightRaw, done, this.ttlSeconds * 1000);
          this.#reportLanding(result, attempt);
          return;
        } catch (error) {
          if (!(error instanceof StateUnavailable)) throw error;
          if (this.#isClosing || this.clock.now() + retryDelayMs(attempt) >= giveUpAt) break;
          await this.clock.sleep(retryDelayMs(attempt));
        }
      }
      this.metrics.idempotencyWritesLost.inc();
      this.logger.error(
        { event: 'idempotency_write_lost' },
        'could not store an idempotent answer before its lifetime ended or shutdown: a retry with its key may run again',
      );
    })();
    const tracked = landing.catch((error: unknown) => {
      this.logger.error(
        { event: 'idempotency_write_failed', err: { message: error instanceof Error ? error.message : 'unknown' } },
        'storing an idempotent answer failed',
      );
    });
    this.#landings.add(tracked);
    void tracked.finally(() => this.#landings.delete(tracked));
    return tracked;
  }

  #reportLanding(result: 'replaced' | 'created' | 'unchanged' | 'other', attempt: number): void {
    if (attempt > 0)
      this.logger.warn({ event: 'idempotency_write_landed', attempts: attempt + 1 }, 'an idempotent answer was stored after its first write failed');
    if (result === 'created') {
      this.metrics.idempotencyRecordsLost.inc();
      this.logger.warn({ event: 'idempotency_record_lost' }, 'the in-flight record of a keyed pay had vanished (Redis lost it); its answer was stored anyway');
    } else if (result === 'other') {
      this.metrics.idempotencyRecordsLost.inc();
      this.logger.error(
        { event: 'idempotency_record_lost', superseded: true },
        'the in-flight record of a keyed pay had been replaced by another attempt with the same key (Redis lost it meanwhile)',
      );
    }
  }

  /** Stops re-sending (shutdown): pending writes get one last attempt, then count as lost. */
  close(): void {
    this.#isClosing = true;
  }
}

/** Re-send delays: 100 ms doubling to 2 s, so a Redis that comes back is written to within 2 s. */
function retryDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** attempt, 2000);
}
