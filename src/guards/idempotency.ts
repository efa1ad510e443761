import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { SharedState } from '../state/shared-state';

/** A final answer as stored for replay: exactly what the first request's client received. */
export interface StoredAnswer {
  readonly status: number;
  readonly contentType: 'application/json' | 'application/problem+json';
  readonly body: unknown;
  readonly retryAfterSeconds?: number;
}

interface InFlightRecord {
  readonly state: 'in_flight';
  readonly fingerprint: string;
  readonly owner: string;
}

interface DoneRecord {
  readonly state: 'done';
  readonly fingerprint: string;
  readonly answer: StoredAnswer;
}

/** The first request with a key holds this until it has a final answer. */
export interface Reservation {
  /** Stores the final answer for replays (and ends the in-flight state). */
  complete(answer: StoredAnswer): Promise<void>;
  /** Forgets the key: the request ended without touching iCG, so a retry may run it afresh. */
  abandon(): Promise<void>;
  readonly isSettled: boolean;
}

export type Admission =
  | { readonly kind: 'new'; readonly reservation: Reservation }
  | { readonly kind: 'replay'; readonly answer: StoredAnswer }
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
  constructor(
    private readonly state: SharedState,
    private readonly ttlSeconds: number,
    private readonly inFlightTtlMs: number,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** Reserves the key or says why not, in one atomic round trip. Throws StateUnavailable when Redis is down. */
  async admit(key: string, fingerprint: string): Promise<Admission> {
    const storeKey = `idempotency:${createHash('sha256').update(key).digest('hex')}`;
    const inFlight: InFlightRecord = { state: 'in_flight', fingerprint, owner: randomUUID() };
    const inFlightRaw = JSON.stringify(inFlight);
    let existingRaw: string | null;
    try {
      existingRaw = await this.state.setIfAbsentOrGet(storeKey, inFlightRaw, this.inFlightTtlMs);
    } catch (error) {
      // A Redis that stalls rather than dies may still run the reservation after we gave up on it; the
      // key would then answer 409 until the record expired. Take it back: on the same connection this
      // runs after the reservation, and it only deletes our own record.
      void this.state.deleteIfEquals(storeKey, inFlightRaw).catch(() => undefined);
      throw error;
    }
    if (existingRaw === null) return { kind: 'new', reservation: this.#reservation(storeKey, inFlightRaw) };
    const existing = JSON.parse(existingRaw) as InFlightRecord | DoneRecord;
    if (existing.fingerprint !== fingerprint) return { kind: 'mismatch' };
    if (existing.state === 'in_flight') return { kind: 'in_flight' };
    return { kind: 'replay', answer: existing.answer };
  }

  #reservation(storeKey: string, inFlightRaw: string): Reservation {
    const { fingerprint } = JSON.parse(inFlightRaw) as InFlightRecord;
    let isSettled = false;
    return {
      get isSettled() {
        return isSettled;
      },
      complete: async (answer) => {
        if (isSettled) return;
        isSettled = true;
        const done: DoneRecord = { state: 'done', fingerprint, answer };
        try {
          await this.state.replaceIfEquals(storeKey, inFlightRaw, JSON.stringify(done), this.ttlSeconds * 1000);
        } catch {
          // The answer could not be kept: the in-flight record still blocks retries until it expires.
          this.metrics.degradedOperations.inc({ operation: 'idempotency_store' });
          this.logger.error({ event: 'idempotency_store_failed' }, 'could not store an idempotent answer; retries with this key get 409 until the in-flight record expires');
        }
      },
      abandon: async () => {
        if (isSettled) return;
        isSettled = true;
        await this.state.deleteIfEquals(storeKey, inFlightRaw).catch(() => undefined);
      },
    };
  }
}
