import { createHash, randomUUID } from 'node:crypto';
import type { Answer } from '../answer';
import { systemClock, type Clock } from '../clock';
import { ServiceUnavailable } from '../errors';
import type { KeyedDigest } from '../keyring';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { dataLossRefusal, type DataLossGuard } from '../state/data-loss';
import type { LandingWrites } from '../state/landing-writes';
import type { RedisTrouble } from '../state/redis-trouble';
import type { SharedState } from '../state/shared-state';
import { withinMs } from '../within';
import { RecentWrites, RETRY_WINDOW_MS } from './recent-writes';

interface InFlightRecord {
  readonly state: 'in_flight';
  readonly v: 2;
  readonly fingerprint: KeyedDigest;
  readonly owner: string;
  /** The journal entry of the pay holding the key. */
  readonly payment: string;
  /** Epoch ms after which the pay cannot still be running: its instance stopped mid-pay. */
  readonly deadline: number;
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
  /** The pay holding the key outlived its deadline: its instance stopped mid-pay, so its outcome is unknown. */
  | { readonly kind: 'abandoned'; readonly payment: string; readonly reservedAt: number }
  | { readonly kind: 'mismatch' };

/** The hex SHA-256 an Idempotency-Key is stored under (journal entries refer to the key by it). */
export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** How long a failed pay's answer waits for its key's release before the re-sending goes on behind it. */
const RELEASE_WAIT_MS = 500;

function recordKey(hash: string): string {
  return `idempotency:${hash}`;
}

/**
 * Idempotency-Key semantics (IETF httpapi draft, Stripe): the first request with a key runs and its
 * final answer is kept for `ttlSeconds`, bound to a keyed fingerprint of invoice and body bytes; the
 * same key again replays it, on any instance; a different request under the same key is refused; while
 * the first is running the key answers "in flight". A pay that outlives `payDeadlineMs` (its instance
 * died) leaves its key answering "outcome unknown" rather than free: it may have charged. The
 * reservation checks the deployment epoch, and the answers stored lately are written again after Redis
 * lost data.
 */
export class IdempotencyStore {
  readonly #recent: RecentWrites;

  constructor(
    private readonly state: SharedState,
    private readonly ttlSeconds: number,
    /** The longest a pay can be in flight (its deadline, with a margin). */
    private readonly payDeadlineMs: number,
    private readonly dataLoss: DataLossGuard | null,
    private readonly landing: LandingWrites,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly trouble: RedisTrouble,
    private readonly clock: Clock = systemClock,
  ) {
    this.#recent = new RecentWrites(clock, RETRY_WINDOW_MS);
  }

  /**
   * Reserves the key for payment `payment` or says why not, in one atomic round trip. Without Redis no
   * instance can promise "at most once" for a key, so the request is refused (503) rather than risked.
   */
  async admit(key: string, fingerprint: KeyedDigest, isSameRequest: (stored: unknown) => boolean, payment: string): Promise<Admission> {
    const storeKey = recordKey(keyHash(key));
    const deadline = this.clock.now() + this.payDeadlineMs;
    const inFlightRaw = JSON.stringify({ state: 'in_flight', v: 2, fingerprint, owner: randomUUID(), payment, deadline } satisfies InFlightRecord);
    const reserved = await this.trouble.refuse(
      'idempotency',
      () =>
        // The in-flight record lives as long as an answer would: if its instance dies, the key must not free itself.
        this.state.reserve(storeKey, inFlightRaw, this.ttlSeconds * 1000, this.dataLoss?.epoch ?? null).catch((error: unknown) => {
          // A Redis that stalls rather than dies may still run the reservation after we gave up on it;
          // the key would then answer 409, and "outcome unknown" after the deadline. Take it back: on
          // the same connection this runs after the reservation, and it only deletes our own record.
          void this.#release(storeKey, inFlightRaw);
          throw error;
        }),
      () =>
        new ServiceUnavailable('Requests with an Idempotency-Key cannot be accepted while our shared store is unavailable; retry with the same key shortly', {
          retryAfterSeconds: 2,
        }),
    );
    if (reserved.kind === 'epoch_lost') {
      await this.dataLoss?.lost(reserved.epoch);
      throw dataLossRefusal(this.dataLoss);
    }
    if (reserved.kind === 'created') return { kind: 'new', reservation: this.#reservation(storeKey, inFlightRaw, fingerprint, payment) };
    const existing = JSON.parse(reserved.value) as InFlightRecord | DoneRecord;
    if (!isSameRequest(existing.fingerprint)) return { kind: 'mismatch' };
    if (existing.state === 'done') return { kind: 'replay', answer: existing.answer, isFiltered: existing.v === 2 };
    if (this.clock.now() <= existing.deadline) return { kind: 'in_flight' };
    return { kind: 'abandoned', payment: existing.payment, reservedAt: existing.deadline - this.payDeadlineMs };
  }

  /**
   * An operator's reconciliation of an unknown outcome: `answer` replaces what the key replays (a
   * payment confirmed charged), or, with null, the key is freed so a retry with it pays (confirmed not
   * charged). A key still in flight past its deadline (its instance died) is resolved the same way.
   * Only a record of payment `payment` is touched: once a freed key has paid again, repeating the
   * resolution must not free it a second time. Returns false when the key holds nothing to resolve
   * (expired, another payment's, or a pay still running).
   */
  async resolve(hash: string, payment: string, answer: Answer | null): Promise<boolean> {
    const storeKey = recordKey(hash);
    const raw = await this.state.get(storeKey);
    if (raw === null) return false;
    const record = JSON.parse(raw) as InFlightRecord | DoneRecord;
    if (record.payment !== payment) return false;
    if (record.state === 'in_flight' && this.clock.now() <= record.deadline) return false;
    if (answer === null) return this.state.deleteIfEquals(storeKey, raw);
    const done: DoneRecord = { state: 'done', v: 2, fingerprint: record.fingerprint, answer, payment };
    return this.state.replaceIfEqualsKeepingTtl(storeKey, raw, JSON.stringify(done));
  }

  /**
   * Writes the answers this instance stored lately back where Redis no longer has them (it lost data):
   * a retry after the quarantine then replays them instead of paying again.
   */
  async republish(): Promise<number> {
    return this.#recent.republish((key, value, ttlMs) => this.state.setIfAbsent(key, value, ttlMs));
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
        // or once the pay's deadline has passed; re-sending goes on in the background.
        const waitMs = Math.max(0, reservedAt + this.payDeadlineMs - this.clock.now());
        await withinMs(waitMs, landing).catch(() => undefined);
      },
      abandon: async () => {
        if (isSettled) return;
        isSettled = true;
        // Re-sent until Redis takes it: a key left in flight would answer "outcome unknown" after the
        // deadline for a pay that was never sent. Waited for briefly (a retry then finds the key free);
        // the re-sending goes on behind the answer.
        await withinMs(RELEASE_WAIT_MS, this.#release(storeKey, inFlightRaw)).catch(() => undefined);
      },
    };
  }

  /** Deletes our in-flight record (nothing was sent), re-sent until Redis takes it or the record would have expired. */
  async #release(storeKey: string, inFlightRaw: string): Promise<void> {
    await this.landing.land(
      () => this.state.deleteIfEquals(storeKey, inFlightRaw),
      this.ttlSeconds * 1000,
      () => {
        this.logger.error(
          { event: 'idempotency_release_lost' },
          'could not release the Idempotency-Key of a pay that was never sent: it will answer outcome-unknown',
        );
      },
    );
  }

  /**
   * Writes the done record until Redis takes it or the record's lifetime has passed. It is written
   * even when the in-flight record has vanished (Redis restarted empty, or the record expired):
   * without it a retry with the same key would pay again.
   */
  async #land(storeKey: string, inFlightRaw: string, done: string): Promise<void> {
    const lifetimeMs = this.ttlSeconds * 1000;
    this.#recent.remember(storeKey, done, lifetimeMs);
    const landed = await this.landing.land(
      () => this.state.replaceIfEqualsOrAbsent(storeKey, inFlightRaw, done, lifetimeMs),
      lifetimeMs,
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
