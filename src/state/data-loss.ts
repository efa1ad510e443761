import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { EPOCH_KEY, type SharedState } from './shared-state';

/** Where the end of a quarantine is kept, so instances that notice the loss later (or start later) pause as long. */
const QUARANTINE_KEY = 'data-loss-quarantine';

/**
 * Notices that Redis lost data: it restarted empty, was flushed, or failed over to a replica that had
 * not seen the last writes. Each instance remembers the deployment epoch, a random value kept in Redis
 * without expiry; the scripts that admit a pay (key reservation, invoice lock) check it, and so does
 * every reconnect. A missing or different value means records of pays in flight may be gone, and no
 * one can know which: every pay is refused for the longest a pay can take (`quarantineMs`), after
 * which every pay in flight at the time of the loss has ended and written its outcome again.
 *
 * An instance that first meets Redis with no epoch at all cannot tell a new deployment from a wiped
 * Redis; it starts a new epoch, and the instances that knew the old one detect the loss and pause the
 * whole deployment through the stored end of the quarantine.
 */
export class DataLossGuard {
  #epoch: string | null = null;
  #quarantinedUntil = 0;
  #handling: Promise<void> | null = null;

  constructor(
    private readonly state: SharedState,
    private readonly quarantineMs: number,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The epoch the admitting scripts check; null until this instance has met Redis (the scripts then skip the check). */
  get epoch(): string | null {
    return this.#epoch;
  }

  /** How long pays are still refused after a loss (0: not quarantined). */
  get quarantineLeftMs(): number {
    return Math.max(0, this.#quarantinedUntil - this.clock.now());
  }

  /** Compares the stored epoch with ours (at start and on every reconnect). Throws StateUnavailable. */
  async check(): Promise<void> {
    const [stored = null, quarantine = null] = await this.state.getMany([EPOCH_KEY, QUARANTINE_KEY]);
    if (this.#epoch === null) {
      if (stored === null) {
        const fresh = randomUUID();
        this.#epoch = (await this.state.setIfAbsent(EPOCH_KEY, fresh, null)) ? fresh : await this.state.get(EPOCH_KEY);
      } else {
        this.#epoch = stored;
      }
      this.#adoptQuarantine(quarantine);
      return;
    }
    if (stored !== this.#epoch) await this.lost(stored);
  }

  /** A script (or a reconnect) found the epoch missing (`current` null) or different: Redis lost data. */
  async lost(current: string | null): Promise<void> {
    this.#handling ??= this.#handleLoss(current).finally(() => {
      this.#handling = null;
    });
    await this.#handling;
  }

  async #handleLoss(current: string | null): Promise<void> {
    if (current !== null && current === this.#epoch) return;
    this.metrics.redisDataLosses.inc();
    let until: number;
    if (current === null) {
      // The first to notice: a new epoch, and the quarantine every instance follows.
      const fresh = randomUUID();
      this.#epoch = (await this.state.setIfAbsent(EPOCH_KEY, fresh, null)) ? fresh : await this.state.get(EPOCH_KEY);
      until = this.clock.now() + this.quarantineMs;
      if (!(await this.state.setIfAbsent(QUARANTINE_KEY, String(until), this.quarantineMs))) until = Number(await this.state.get(QUARANTINE_KEY)) || until;
    } else {
      // Another instance noticed first and started a new epoch; follow its quarantine (none left if it has ended).
      this.#epoch = current;
      until = Number(await this.state.get(QUARANTINE_KEY)) || 0;
    }
    this.#quarantinedUntil = Math.max(this.#quarantinedUntil, until);
    this.logger.error(
      { event: 'redis_data_lost', quarantineMs: this.quarantineLeftMs },
      'Redis lost data (restarted empty, flushed or failed over): records of pays in flight may be gone, so every pay is refused until the longest pay has ended',
    );
  }

  #adoptQuarantine(raw: string | null): void {
    const until = Number(raw);
    if (Number.isFinite(until) && until > this.#quarantinedUntil) this.#quarantinedUntil = until;
  }
}
