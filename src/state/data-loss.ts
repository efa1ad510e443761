import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { SharedState } from './shared-state';

/** Stands for an epoch only part of the store holds (never a real epoch: those are UUIDs). */
const MIXED = 'mixed';

/** Where the end of a quarantine is kept, so instances that notice the loss later (or start later) pause as long. */
const QUARANTINE_KEY = 'data-loss-quarantine';

/**
 * Notices that Redis may have lost data, and pauses every pay for the longest a pay can take.
 *
 * Two signals. The deployment epoch, a random value kept in Redis without expiry (on every slot of a
 * cluster), is checked by the scripts that admit a pay and at every reconnect: missing, different or
 * only partly there means Redis restarted empty or was flushed. And the identity of the masters (their
 * run ids): a new master (a Sentinel or cluster failover, a restart) may lack the last writes
 * (replication is asynchronous, and the epoch, written long ago, was replicated anyway), so a master
 * change counts as a loss too.
 *
 * Either way records of pays in flight may be gone and no one can know which, so every pay is refused
 * for `quarantineMs`, after which every pay in flight at the time has ended and written its outcome
 * again. The first instance to notice starts the quarantine (stored, so every instance follows it)
 * and, when the epoch is gone, a new epoch. Every instance that notices writes back what it stored
 * lately that must outlive the loss (its `onLoss` listeners): the answers under Idempotency-Keys and
 * the holds of unknown outcomes, so a retry after the quarantine replays instead of paying again.
 *
 * An instance that first meets Redis with no epoch at all cannot tell a new deployment from a wiped
 * Redis: it starts a new epoch, and the instances that knew the old one pause the deployment.
 */
export class DataLossGuard {
  #epoch: string | null = null;
  #masters: string | null = null;
  #quarantinedUntil = 0;
  #checking: Promise<void> | null = null;
  readonly #lossListeners: (() => Promise<void>)[] = [];

  constructor(
    private readonly state: SharedState,
    private readonly quarantineMs: number,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** The masters' identity (run ids), or null when it cannot be read. */
    private readonly mastersOf: () => Promise<string | null> = () => Promise.resolve(null),
    private readonly clock: Clock = systemClock,
  ) {}

  /** Runs `listener` after every loss this instance notices (it handles its own failures). */
  onLoss(listener: () => Promise<void>): void {
    this.#lossListeners.push(listener);
  }

  /** The epoch the admitting scripts check; null until known (check() runs before the first pay). */
  get epoch(): string | null {
    return this.#epoch;
  }

  /** How long pays are still refused after a loss (0: not quarantined). */
  get quarantineLeftMs(): number {
    return Math.max(0, this.#quarantinedUntil - this.clock.now());
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

  /** Compares only the masters' identity (cheap: one INFO per master), between reconnects. Throws StateUnavailable. */
  async checkMasters(): Promise<void> {
    const masters = await this.mastersOf();
    if (masters === null || this.#masters === null) {
      this.#masters ??= masters;
      return;
    }
    if (masters === this.#masters) return;
    this.#masters = masters;
    await this.#handle(this.#epoch, 'a new Redis master (failover or restart) may lack the last writes');
  }

  /** A script found the epoch missing (`current` null) or different: Redis lost data. */
  async lost(current: string | null): Promise<void> {
    await this.#handle(current, 'the deployment epoch is gone or changed');
  }

  async #check(): Promise<void> {
    const [read, quarantine, masters] = await Promise.all([this.state.readEpoch(), this.state.get(QUARANTINE_KEY), this.mastersOf()]);
    this.#adoptQuarantine(quarantine);
    // Only part of a cluster holding the epoch is a shard that lost data: a loss like no epoch at all.
    const stored = read.isMixed ? MIXED : read.value;
    const mastersChanged = this.#masters !== null && masters !== null && masters !== this.#masters;
    if (masters !== null) this.#masters = masters;
    if (this.#epoch === null && stored !== MIXED) {
      if (stored === null) {
        // First contact with a Redis holding no epoch: a new deployment (see the class comment).
        const fresh = randomUUID();
        await this.state.writeEpoch(fresh, true);
        const written = await this.state.readEpoch();
        this.#epoch = written.isMixed ? null : written.value;
      } else {
        this.#epoch = stored;
      }
      if (!mastersChanged) return;
    }
    if (stored !== this.#epoch) await this.#handle(stored === MIXED ? null : stored, 'the deployment epoch is gone or changed');
    else if (mastersChanged) await this.#handle(stored, 'a new Redis master (failover or restart) may lack the last writes');
  }

  /**
   * A loss: follow the quarantine another instance started, or start it (the first to notice wins the
   * stored marker and, when the epoch is gone, writes a new one everywhere).
   */
  async #handle(current: string | null, why: string): Promise<void> {
    this.metrics.redisDataLosses.inc();
    const until = this.clock.now() + this.quarantineMs;
    if (await this.state.setIfAbsent(QUARANTINE_KEY, String(until), this.quarantineMs)) {
      if (current === null) {
        const fresh = randomUUID();
        await this.state.writeEpoch(fresh, false);
        this.#epoch = fresh;
      } else {
        this.#epoch = current;
      }
      this.#quarantinedUntil = Math.max(this.#quarantinedUntil, until);
    } else {
      this.#adoptQuarantine(await this.state.get(QUARANTINE_KEY));
      // Whoever started the quarantine writes the new epoch; it is read again before the next pay.
      this.#epoch = current;
    }
    this.logger.error(
      { event: 'redis_data_lost', reason: why, quarantineMs: this.quarantineLeftMs },
      `Redis may have lost data (${why}): every pay is refused until the longest pay has ended`,
    );
    for (const listener of this.#lossListeners) void listener();
  }

  #adoptQuarantine(raw: string | null): void {
    const until = Number(raw);
    if (Number.isFinite(until) && until > this.#quarantinedUntil) this.#quarantinedUntil = until;
  }
}
