import { createHash, randomUUID } from 'node:crypto';
import type { Answer } from '../answer';
import { systemClock, type Clock } from '../clock';
import { RedisDataLost, ServiceUnavailable } from '../errors';
import type { KeyedDigest } from '../keyring';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { DataLossGuard } from '../state/data-loss';
import type { RedisTrouble } from '../state/redis-trouble';
import type { LandingWrites } from '../state/landing-writes';
import type { SharedState } from '../state/shared-state';
import { withinMs } from '../within';

interface InFlightRecord {
  readonly state: 'in_flight';
  readonly v: 2;
  readonly fingerprint: KeyedDigest;
  readonly owner: string;
  /** The journal entry of the pay holding the key. */
  readonly payment: string;
}

interface DoneRecord {
  readonly state: 'done';
  /** 2: written by this version (answer filtered, fingerprint keyed). Records without it come from an earlier version. */
  readonly v?: 2;
  /** A keyed digest, or the plain SHA-256 an earlier version stored. */
  readonly fingerprint: KeyedDigest | string;
  readonly answer: Answer;
  readonly payment?: string;
}

/** The first request with a key holds this until it has a final answer. */
export interface Reservation {
  /** Stores the final answer for replays (and ends the in-flight state). */
  complete(answer: Answer): Promise<void>;
  /** Forgets the key: the request ended without touching iCG, so a retry may run it afresh. */
  abandon(): Promise<void>;
}

export type Admission =
  | { readonly kind: 'new'; readonly reservation: Reservation }
  /** `isFiltered`: stored by this version, whose answers were filtered before they were stored. */
  | { readonly kind: 'replay'; readonly answer: Answer; readonly isFiltered: boolean }
  | { readonly kind: 'in_flight' }
  | { readonly kind: 'mismatch' };

/** The hex SHA-256 an Idempotency-Key is stored under (journal entries refer to the key by it). */
export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function recordKey(hash: string): string {
  return `idempotency:${hash}`;
}

/**
 * Idempotency-Key semantics (IETF httpapi draft, Stripe): the first request with a key runs and its
 * final answer is kept for `ttlSeconds`, bound to a keyed fingerprint of invoice and body bytes; the
 * same key again replays it, on any instance; a different request under the same key is refused; while
 * the first is running the key answers "in flight". The in-flight record lives `inFlightTtlMs`, past
 * the longest a pay can take, so a crashed instance's key frees itself. The reservation checks the
 * deployment epoch: a Redis that lost data admits nothing until the quarantine is over.
 */
export class IdempotencyStore {
  constructor(
    private readonly state: SharedState,
    private readonly ttlSeconds: number,
    private readonly inFlightTtlMs: number,
    private readonly dataLoss: DataLossGuard | null,
    private readonly landing: LandingWrites,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly trouble: RedisTrouble,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Reserves the key for payment `payment` or says why not, in one atomic round trip. Without Redis no
   * instance can promise "at most once" for a key, so the request is refused (503) rather than risked.
   */
  async admit(key: string, fingerprint: KeyedDigest, isSameRequest: (stored: unknown) => boolean, payment: string): Promise<Admission> {
    const storeKey = recordKey(keyHash(key));
    const inFlightRaw = JSON.stringify({ state: 'in_flight', v: 2, fingerprint, owner: randomUUID(), payment } satisfies InFlightRecord);
    const reserved = await this.trouble.refuse(
      'idempotency',
      () =>
        this.state.reserve(storeKey, inFlightRaw, this.inFlightTtlMs, this.dataLoss?.epoch ?? null).catch((error: unknown) => {
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
    if (reserved.kind === 'epoch_lost') {
      await this.dataLoss?.lost(reserved.epoch);
      throw new RedisDataLost(
        'Our shared store lost recent payment records; payments are paused briefly so none is charged twice. Retry with the same Idempotency-Key',
        {
          retryAfterSeconds: Math.max(1, Math.ceil((this.dataLoss?.quarantineLeftMs ?? 1000) / 1000)),
        },
      );
    }
    if (reserved.kind === 'created') return { kind: 'new', reservation: this.#reservation(storeKey, inFlightRaw, fingerprint, payment) };
    const existing = JSON.parse(reserved.value) as InFlightRecord | DoneRecord;
    if (!isSameRequest(existing.fingerprint)) return { kind: 'mismatch' };
    if (existing.state === 'in_flight') return { kind: 'in_flight' };
    return { kind: 'replay', answer: existing.answer, isFiltered: existing.v === 2 };
  }

  /**
   * An operator's reconciliation of an unknown outcome: `answer` replaces what the key replays (a
   * payment confirmed charged), or, with null, the key is freed so a retry with it pays (confirmed not
   * charged). Returns false when the key has no finished record (expired, or still in flight).
   */
  async resolve(hash: string, answer: Answer | null): Promise<boolean> {
    const storeKey = recordKey(hash);
    const raw = await this.state.get(storeKey);
    if (raw === null || (JSON.parse(raw) as InFlightRecord | DoneRecord).state !== 'done') return false;
    if (answer === null) return this.state.deleteIfEquals(storeKey, raw);
    const record = JSON.parse(raw) as DoneRecord;
    return this.state.replaceIfEqualsKeepingTtl(storeKey, raw, JSON.stringify({ ...record, answer } satisfies DoneRecord));
  }

  #reservation(storeKey: string, inFlightRaw: string, fingerprint: KeyedDigest, payment: string): Reservation {
    const reservedAt = this.clock.now();
    let isSettled = false;
    return {
      complete: async (answer) => {
        if (isSettled) return;
        isSettled = true;
        const done = JSON.stringify({ state: 'done', v: 2, fingerprint, answer, payment } satisfies DoneRecord);
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

  /**
   * Writes the done record until Redis takes it or the record's lifetime has passed. It is written
   * even when the in-flight record has vanished (Redis restarted empty, or the record expired):
   * without it a retry with the same key would pay again.
   */
  async #land(storeKey: string, inFlightRaw: string, done: string): Promise<void> {
    const landed = await this.landing.land(
      () => this.state.replaceIfEqualsOrAbsent(storeKey, inFlightRaw, done, this.ttlSeconds * 1000),
      this.ttlSeconds * 1000,
      () => {
        this.metrics.idempotencyWritesLost.inc();
        this.logger.error(
          { event: 'idempotency_write_lost' },
          'could not store an idempotent answer before its lifetime ended or shutdown: a retry with its key may run again',
        );
      },
    );
    if (landed) this.#reportLanding(landed.result, landed.attempts);
  }

  #reportLanding(result: 'replaced' | 'created' | 'unchanged' | 'other', attempts: number): void {
    if (attempts > 1) this.logger.warn({ event: 'idempotency_write_landed', attempts }, 'an idempotent answer was stored after its first write failed');
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
}
