import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock';
import { RedisDataLost } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { SharedState } from './shared-state';

/** Stands for an epoch only part of the store holds (never a real epoch: those are UUIDs). */
const MIXED = 'mixed';

/** Why a loss is suspected, as logged. */
const EPOCH_CHANGED = 'the deployment epoch is gone or changed';
const NEW_MASTER = 'a new Redis master (failover or restart) may lack the last writes';

/** Where the end of a quarantine is kept, so instances that notice the loss later (or start later) pause as long. */
const QUARANTINE_KEY = 'data-loss-quarantine';

/** How many instances still have pays that were in flight at the loss of the quarantine ending at `until`. */
function drainingKey(until: number): string {
  return `data-loss-draining:${String(until)}`;
}

/** How often the masters' identity, the epoch and the stored quarantine are looked at between reconnects: every instance notices a loss within it. */
export const MASTER_CHECK_INTERVAL_MS = 2000;

/** The shortest quarantine: long enough for every live instance to notice the loss and count in its pays in flight. */
const MIN_QUARANTINE_MS = MASTER_CHECK_INTERVAL_MS + 1000;

/** How often a quarantined instance looks whether the pays in flight at the loss have ended. */
const DRAIN_POLL_MS = 250;

/** The answer to a pay refused because Redis may have lost data (paused, or its script met another epoch). */
export function dataLossRefusal(guard: DataLossGuard | null): RedisDataLost {
  return new RedisDataLost(
    'Our shared store lost recent payment records; payments are paused briefly so none is charged twice. Retry with the same Idempotency-Key',
    { retryAfterSeconds: guard?.retryAfterSeconds ?? 1 },
  );
}

/** The pays this instance has on their way to iCG. */
export interface PaysInFlight {
  readonly count: number;
  /** Resolves when none is in flight. */
  settled(): Promise<void>;
}

export interface DataLossGuardOptions {
  /** The masters' identity (run ids), or null when it cannot be read. */
  readonly mastersOf?: () => Promise<string | null>;
  readonly paysInFlight?: PaysInFlight;
  readonly clock?: Clock;
}

/**
 * Notices that Redis may have lost data, and pauses every pay until the pays in flight then have ended.
 *
 * Two signals. The deployment epoch, a random value kept in Redis without expiry (on every slot of a
 * cluster), is checked by the scripts that admit a pay and at every reconnect: missing, different or
 * only partly there means Redis restarted empty or was flushed. And the identity of the masters (their
 * run ids): a new master (a Sentinel or cluster failover, a restart) may lack the last writes
 * (replication is asynchronous, and the epoch, written long ago, was replicated anyway), so a master
 * change counts as a loss too.
 *
 * Either way records of pays in flight may be gone and no one can know which, so every pay is refused
 * until every pay in flight at the time has ended and written its outcome again: each instance that
 * has pays in flight counts itself in (a counter in Redis) and out when they have ended, and the
 * quarantine ends once the count is back to zero, after a floor that gives every instance time to
 * notice, and at the latest after `quarantineMs` (the longest a pay can take: an instance that died
 * draining never counts itself out). The first instance to notice starts the quarantine (stored, so
 * every instance follows it) and, when the epoch is gone, a new epoch. Every instance that notices
 * writes back what it stored lately that must outlive the loss (its `onLoss` listeners): answers under
 * Idempotency-Keys, holds and journal entries of unknown outcomes, so a retry after the quarantine
 * replays instead of paying again.
 *
 * An instance that first meets Redis with no epoch at all cannot tell a new deployment from a wiped
 * Redis: it starts a new epoch and a quarantine (the instances that knew the old epoch then follow it,
 * count their pays in and write back), so a new deployment's first pays wait a few seconds.
 */
export class DataLossGuard {
  #epoch: string | null = null;
  #masters: string | null = null;
  /** The latest end of the quarantine being followed (0: none), and the earliest. */
  #quarantinedUntil = 0;
  #quarantineFloor = 0;
  /** The end of the last quarantine this instance saw end early: not followed again. */
  #endedUntil = 0;
  #drainWatch: NodeJS.Timeout | null = null;
  #checking: Promise<void> | null = null;
  #rechecking: Promise<void> | null = null;
  readonly #lossListeners: (() => Promise<void>)[] = [];
  readonly #mastersOf: () => Promise<string | null>;
  readonly #clock: Clock;

  constructor(
    private readonly state: SharedState,
    private readonly quarantineMs: number,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly options: DataLossGuardOptions = {},
  ) {
    this.#mastersOf = options.mastersOf ?? (() => Promise.resolve(null));
    this.#clock = options.clock ?? systemClock;
  }

  /** Runs `listener` after every loss this instance notices (it handles its own failures). */
  onLoss(listener: () => Promise<void>): void {
    this.#lossListeners.push(listener);
  }

  /** The epoch the admitting scripts check; null until known (check() runs before the first pay). */
  get epoch(): string | null {
    return this.#epoch;
  }

  /** How long pays are still refused after a loss, at most (0: not quarantined). */
  get quarantineLeftMs(): number {
    return Math.max(0, this.#quarantinedUntil - this.#clock.now());
  }

  /** When a refused pay should try again: at the floor, or soon after it (the quarantine may end any moment). */
  get retryAfterSeconds(): number {
    const untilFloor = this.#quarantineFloor - this.#clock.now();
    return Math.max(1, Math.ceil(Math.min(untilFloor > 0 ? untilFloor : 2000, this.quarantineLeftMs) / 1000));
  }

  /** Stops watching a quarantine (shutdown). */
  close(): void {
    if (this.#drainWatch) clearInterval(this.#drainWatch);
    this.#drainWatch = null;
  }

  /** Reads the epoch and the masters if not known yet (before a pay: cheap once). Throws StateUnavailable. */
  async ensureKnown(): Promise<void> {
    if (this.#epoch === null) await this.check();
  }

  /** Compares the stored epoch and the masters with what this instance knows (at start, on reconnect, on cluster changes). Throws StateUnavailable. */
  async check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = null;
    });
    await this.#checking;
  }

  /**
   * Between reconnects (every MASTER_CHECK_INTERVAL_MS, and on cluster topology events): the masters'
   * identity, the epoch on one key per master (a FLUSHALL leaves the run id as it was) and the stored
   * quarantine (a loss another instance noticed is this instance's too: its pays in flight must count
   * in before the floor, its records must be written back). Cheap: one INFO and two GETs per master.
   * Throws StateUnavailable.
   */
  async recheck(): Promise<void> {
    // Topology events come in bursts: one comparison at a time.
    this.#rechecking ??= this.#recheck().finally(() => {
      this.#rechecking = null;
    });
    await this.#rechecking;
  }

  async #recheck(): Promise<void> {
    if (this.#epoch === null) {
      await this.check();
      return;
    }
    const [masters, read, quarantine] = await Promise.all([this.#mastersOf(), this.state.readEpoch(true), this.state.get(QUARANTINE_KEY)]);
    const isLoss = await this.#compare(read.isMixed ? MIXED : read.value, this.#noteMasters(masters));
    if (!isLoss && this.#adoptQuarantine(quarantine)) this.#noticed('another instance noticed that Redis may have lost data');
  }

  /** A script found the epoch missing (`current` null) or different: Redis lost data. */
  async lost(current: string | null): Promise<void> {
    await this.#handle(current, EPOCH_CHANGED);
  }

  /** Remembers the masters' identity just read (null: unreadable); true when it differs from the one known. */
  #noteMasters(masters: string | null): boolean {
    const hasChanged = this.#masters !== null && masters !== null && masters !== this.#masters;
    if (masters !== null) this.#masters = masters;
    return hasChanged;
  }

  /** Handles a loss when the epoch read (`MIXED`: only partly there) is not the known one, or the masters changed; true if so. */
  async #compare(stored: string | null, mastersChanged: boolean): Promise<boolean> {
    if (stored !== this.#epoch) await this.#handle(stored === MIXED ? null : stored, EPOCH_CHANGED);
    else if (mastersChanged) await this.#handle(stored, NEW_MASTER);
    else return false;
    return true;
  }

  async #check(): Promise<void> {
    const [read, quarantine, masters] = await Promise.all([this.state.readEpoch(false), this.state.get(QUARANTINE_KEY), this.#mastersOf()]);
    this.#adoptQuarantine(quarantine);
    // Only part of a cluster holding the epoch is a shard that lost data: a loss like no epoch at all.
    const stored = read.isMixed ? MIXED : read.value;
    const mastersChanged = this.#noteMasters(masters);
    if (this.#epoch === null && stored !== MIXED) {
      if (stored === null) {
        // First contact with a Redis holding no epoch: a new deployment, or an emptied Redis whose
        // running instances have not noticed yet (see the class comment). Pays wait the shortest
        // quarantine, so they can notice and write back what they stored; the marker goes first, so an
        // instance that reads the new epoch reads the marker too.
        const until = this.#clock.now() + this.quarantineMs;
        await this.state.setIfAbsent(QUARANTINE_KEY, String(until), this.quarantineMs);
        const fresh = randomUUID();
        await this.state.writeEpoch(fresh, true);
        const [written, marker] = await Promise.all([this.state.readEpoch(false), this.state.get(QUARANTINE_KEY)]);
        this.#epoch = written.isMixed ? null : written.value;
        this.#adoptQuarantine(marker);
        this.logger.warn(
          { event: 'redis_epoch_started', quarantineMs: this.quarantineLeftMs },
          'Redis holds no deployment epoch (a new deployment, or Redis was emptied): pays wait until every running instance could notice',
        );
      } else {
        this.#epoch = stored;
      }
      if (!mastersChanged) return;
    }
    await this.#compare(stored, mastersChanged);
  }

  /**
   * A loss: follow the quarantine another instance started, or start it (the first to notice wins the
   * stored marker and, when the epoch is gone, writes a new one everywhere).
   */
  async #handle(current: string | null, why: string): Promise<void> {
    const until = this.#clock.now() + this.quarantineMs;
    if (await this.state.setIfAbsent(QUARANTINE_KEY, String(until), this.quarantineMs)) {
      if (current === null) {
        const fresh = randomUUID();
        await this.state.writeEpoch(fresh, false);
        this.#epoch = fresh;
      } else {
        this.#epoch = current;
      }
      this.#follow(until);
    } else {
      // Ended (and deleted) between the two reads: this loss still gets a pause of its own.
      const stored = await this.state.get(QUARANTINE_KEY);
      if (stored === null) this.#follow(until);
      else this.#adoptQuarantine(stored);
      // Whoever started the quarantine writes the new epoch; it is read again before the next pay.
      this.#epoch = current;
    }
    this.#noticed(why);
  }

  /** Logged and counted once per loss this instance notices, and what it stored lately written back. */
  #noticed(why: string): void {
    this.metrics.redisDataLosses.inc();
    this.logger.error(
      { event: 'redis_data_lost', reason: why, quarantineMs: this.quarantineLeftMs },
      `Redis may have lost data (${why}): every pay is refused until the pays in flight have ended`,
    );
    for (const listener of this.#lossListeners) void listener();
  }

  /** Follows a stored quarantine; true when it is one this instance was not following yet. */
  #adoptQuarantine(raw: string | null): boolean {
    const until = Number(raw);
    return raw !== null && Number.isFinite(until) && this.#follow(until);
  }

  /** Refuses pays until the quarantine ending at `until` is over, counting this instance's pays in flight in; false when already followed or over. */
  #follow(until: number): boolean {
    if (until <= this.#quarantinedUntil || until === this.#endedUntil || until <= this.#clock.now()) return false;
    this.#quarantinedUntil = until;
    this.#quarantineFloor = Math.min(until, until - this.quarantineMs + MIN_QUARANTINE_MS);
    let isCounted = false;
    let isTicking = false;
    const tick = async (): Promise<void> => {
      const now = this.#clock.now();
      if (until !== this.#quarantinedUntil || now >= until) {
        this.close();
        return;
      }
      const pays = this.options.paysInFlight;
      if (!isCounted && pays && pays.count > 0) {
        await this.state.addToCounter(drainingKey(until), 1, until - now);
        isCounted = true;
        // Counted out once they have ended (their outcomes written): retried until Redis takes it, or the quarantine ends.
        void pays.settled().then(() => this.#countOut(until));
      }
      if (now < this.#quarantineFloor) return;
      if (Number((await this.state.get(drainingKey(until))) ?? 0) > 0) return;
      this.#endedUntil = until;
      this.#quarantinedUntil = 0;
      this.close();
      void this.state.deleteIfEquals(QUARANTINE_KEY, String(until)).catch(() => undefined);
      this.logger.warn(
        { event: 'redis_data_loss_quarantine_over', afterMs: now - (until - this.quarantineMs) },
        'the pays in flight when Redis lost data have ended: pays are accepted again',
      );
    };
    this.close();
    const tickOnce = () => {
      if (isTicking) return;
      isTicking = true;
      // Redis unreachable: the quarantine holds, and the next tick asks again.
      tick()
        .catch(() => undefined)
        .finally(() => (isTicking = false));
    };
    this.#drainWatch = setInterval(tickOnce, DRAIN_POLL_MS);
    this.#drainWatch.unref();
    tickOnce();
    return true;
  }

  async #countOut(until: number): Promise<void> {
    while (this.#clock.now() < until) {
      try {
        await this.state.addToCounter(drainingKey(until), -1, until - this.#clock.now());
        return;
      } catch {
        await this.#clock.sleep(DRAIN_POLL_MS);
      }
    }
  }
}
