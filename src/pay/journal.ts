import { systemClock, type Clock } from '../clock';
import { InvalidRequest, NotFound, NotResolvable } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { EntryState, JournalStore } from '../state/journal-store';
import type { RedisTrouble } from '../state/redis-trouble';
import { RecentWrites } from './recent-writes';

/**
 * What became of a pay. `pending` until it ends; `approved` / `declined` from iCG's Status (through the
 * configured mapping); `rejected` for an iCG 4xx; `unknown` when it may have charged (timeout, 5xx,
 * unreadable answer, or a Status on neither list); `not_sent` when it ended before reaching iCG.
 */
export const OUTCOMES = ['pending', 'approved', 'declined', 'rejected', 'unknown', 'not_sent'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** An operator's finding about an unknown outcome; appended, never rewritten. */
export interface Resolution {
  readonly as: 'charged' | 'not_charged';
  readonly by: string;
  readonly at: string;
  /** iCG's reference for a charge (TransactionId or ConfirmationCode), as the operator found it. */
  readonly reference?: string;
}

/** One payment as journalled: never a full card or account number, never a CVV. */
export interface JournalEntry {
  readonly id: string;
  readonly startedAt: string;
  readonly requestId: string;
  /** The canonical invoice id. */
  readonly invoiceId: string;
  /** SHA-256 of the Idempotency-Key: what its record is stored under. */
  readonly keyHash?: string;
  /** As the client wrote it. */
  readonly amount: string;
  /** `card XXXXXXXXXXXX1111` or `account XXXXX4336`. */
  readonly instrument?: string;
  readonly outcome: Outcome;
  readonly upstreamStatus?: number;
  readonly transactionId?: string;
  readonly confirmationCode?: string;
  readonly durationMs?: number;
  /** Still pending long past its deadline: its instance stopped before iCG answered, so it is shown as `unknown`. */
  readonly abandoned?: true;
  readonly resolutions?: readonly Resolution[];
}

export interface JournalFilter {
  readonly outcome?: Outcome | undefined;
  readonly since?: number | undefined;
  readonly invoiceId?: string | undefined;
  readonly unresolved?: boolean | undefined;
  readonly limit?: number | undefined;
}

/** How far back a listing scans at most, in entries (a filter then keeps what matches). */
const LIST_SCAN_LIMIT = 5000;

function storeState(entry: JournalEntry): EntryState {
  if (entry.outcome === 'pending') return 'pending';
  return entry.outcome === 'unknown' && (entry.resolutions?.length ?? 0) === 0 ? 'unresolved' : 'settled';
}

/**
 * The payment journal: every pay recorded before it is forwarded and updated with its outcome, in the
 * journal store (bounded by age and size; unresolved unknown outcomes are never trimmed) and as one log
 * line per change, so losing Redis does not lose it. Operators list it and resolve unknown outcomes. A
 * pay still pending `stalePendingMs` after it started lost its instance mid-pay: it is shown, counted
 * and resolved as an unknown outcome.
 */
export class Journal {
  /** The unresolved entries this instance wrote lately, to write again if Redis loses them. */
  readonly #recentUnresolved: RecentWrites;

  constructor(
    private readonly store: JournalStore,
    private readonly trouble: RedisTrouble,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly stalePendingMs: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.#recentUnresolved = new RecentWrites(clock, Number.POSITIVE_INFINITY);
  }

  /**
   * Records a pay about to be forwarded. Its log line is at info too: if the instance dies mid-pay and
   * Redis loses the entry, that line is the only trace of a pay that may have charged. The write is
   * sent, not waited for: the pay's later writes follow it on the same connection (one slot), and a
   * failed write is counted like any journal write, never stopping the pay.
   */
  begin(entry: Omit<JournalEntry, 'outcome' | 'startedAt'>): JournalEntry {
    const started: JournalEntry = { ...entry, startedAt: new Date(this.clock.now()).toISOString(), outcome: 'pending' };
    this.logger.info({ event: 'payment', payment: started }, 'payment pending');
    void this.#write(started);
    return started;
  }

  /**
   * Records, unless the journal has it, a pay whose Idempotency-Key is still in flight past its deadline:
   * its instance stopped, perhaps before it could journal the pay. Listed and resolved as unknown.
   */
  recordAbandoned(entry: Omit<JournalEntry, 'outcome' | 'startedAt' | 'abandoned'>, startedAt: number): void {
    const abandoned: JournalEntry = { ...entry, startedAt: new Date(startedAt).toISOString(), outcome: 'unknown', abandoned: true };
    const raw = JSON.stringify(abandoned);
    void this.trouble.tolerate('journal', async () => {
      if (await this.store.write(abandoned.id, startedAt, raw, 'unresolved', true)) {
        this.#recentUnresolved.remember(abandoned.id, raw, Number.MAX_SAFE_INTEGER);
        this.logger.warn({ event: 'payment', payment: abandoned }, 'payment unknown: its instance stopped before journalling it');
      }
    });
  }

  /** Records how a pay ended. */
  async finish(
    entry: JournalEntry,
    outcome: Outcome,
    details: Pick<JournalEntry, 'upstreamStatus' | 'transactionId' | 'confirmationCode' | 'durationMs'> = {},
  ): Promise<JournalEntry> {
    const finished: JournalEntry = { ...entry, ...definedOnly(details), outcome };
    this.metrics.paymentOutcomes.inc({ outcome });
    // One log line per payment, at its end, so a Redis loss does not lose the journal.
    this.logger.info({ event: 'payment', payment: finished }, `payment ${outcome}`);
    await this.#write(finished);
    return finished;
  }

  async get(id: string): Promise<JournalEntry> {
    const raw = await this.store.read(id);
    if (raw === null) throw new NotFound(`No journal entry ${id}`);
    return this.#view(raw);
  }

  /** Entries matching `filter`, newest first. Unresolved ones are found whatever their age. */
  async list(filter: JournalFilter): Promise<JournalEntry[]> {
    const limit = Math.min(filter.limit ?? 100, 1000);
    const raw = filter.unresolved ? await this.store.unresolved(this.#stalePendingBefore()) : await this.store.list(filter.since ?? 0, LIST_SCAN_LIMIT);
    return raw
      .map((text) => this.#view(text))
      .filter(
        (entry) =>
          (filter.outcome === undefined || entry.outcome === filter.outcome) && (filter.invoiceId === undefined || entry.invoiceId === filter.invoiceId),
      )
      .filter((entry) => filter.since === undefined || Date.parse(entry.startedAt) >= filter.since)
      .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))
      .slice(0, limit);
  }

  /** Unknown outcomes awaiting an operator, pays abandoned mid-pay included. */
  async countUnresolved(): Promise<number> {
    return this.store.countUnresolved(this.#stalePendingBefore());
  }

  /**
   * Appends an operator's resolution of an unknown outcome (or of a pay still pending long after its
   * deadline: its instance died). Resolving again the same way changes nothing (so a resolution whose
   * later steps failed can be repeated); resolving an entry that is resolved otherwise, or whose
   * outcome is known, is refused.
   */
  async resolve(id: string, resolution: Omit<Resolution, 'at'>): Promise<JournalEntry> {
    if (resolution.as === 'charged' && !resolution.reference)
      throw new InvalidRequest("A charge needs iCG's reference", [{ pointer: '/reference', detail: 'is required when resolution is charged' }]);
    const entry = await this.get(id);
    const last = entry.resolutions?.at(-1);
    if (last) {
      if (last.as === resolution.as && last.reference === resolution.reference) return entry;
      throw new NotResolvable(`Payment ${id} was already resolved as ${last.as} by ${last.by}`);
    }
    if (entry.outcome === 'pending') throw new NotResolvable(`Payment ${id} is still in flight; resolve it once its outcome is known to be unknown`);
    if (entry.outcome !== 'unknown') throw new NotResolvable(`Payment ${id} has a known outcome (${entry.outcome}); only unknown outcomes are resolved`);
    const resolved: JournalEntry = { ...entry, resolutions: [{ ...resolution, at: new Date(this.clock.now()).toISOString() }] };
    this.#recentUnresolved.forget(id);
    await this.store.write(resolved.id, Date.parse(resolved.startedAt), JSON.stringify(resolved), 'settled');
    this.logger.warn({ event: 'payment_resolved', payment: resolved }, `payment ${id} resolved as ${resolution.as} by ${resolution.by}`);
    return resolved;
  }

  /**
   * Writes the unresolved entries this instance wrote lately back where Redis lost them (see
   * DataLossGuard): they are what operators reconcile. Older ones are in the log.
   */
  republish(): Promise<number> {
    return this.#recentUnresolved.republish((id, raw) =>
      this.store.write(id, Date.parse((JSON.parse(raw) as JournalEntry).startedAt), raw, 'unresolved', true),
    );
  }

  /** A store that cannot answer leaves the log line as the record. */
  async #write(entry: JournalEntry): Promise<void> {
    const raw = JSON.stringify(entry);
    const state = storeState(entry);
    if (state === 'unresolved') this.#recentUnresolved.remember(entry.id, raw, Number.MAX_SAFE_INTEGER);
    else this.#recentUnresolved.forget(entry.id);
    await this.trouble.tolerate('journal', () => this.store.write(entry.id, Date.parse(entry.startedAt), raw, state));
  }

  #stalePendingBefore(): number {
    return this.clock.now() - this.stalePendingMs;
  }

  /** An entry as operators see it: a pay pending past its deadline is an unknown outcome. */
  #view(raw: string): JournalEntry {
    const entry = JSON.parse(raw) as JournalEntry;
    const isAbandoned = entry.outcome === 'pending' && Date.parse(entry.startedAt) < this.#stalePendingBefore();
    return isAbandoned ? { ...entry, outcome: 'unknown', abandoned: true } : entry;
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, child]) => child !== undefined)) as Partial<T>;
}
