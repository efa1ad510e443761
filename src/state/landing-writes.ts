import { systemClock, type Clock } from '../clock';
import type { Logger } from '../logger';
import { StateUnavailable } from './shared-state';

/** Re-send delays: 100 ms doubling to 2 s, so a Redis that comes back is written to within 2 s. */
function retryDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** attempt, 2000);
}

/**
 * Writes that must land: the outcome of a pay that reached iCG (its Idempotency-Key record, its
 * invoice's hold). Each is re-sent while Redis cannot answer, until it lands, its record's lifetime has
 * passed, or the process shuts down; one finally lost is reported to `onLost`. Any other error is a bug
 * and is logged, never retried.
 */
export class LandingWrites {
  readonly #pending = new Set<Promise<void>>();
  #isClosing = false;

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Starts `write` and re-sends it until it lands or `lifetimeMs` has passed. Resolves when it has
   * landed (with attempts it took) or been given up (null, after `onLost`).
   */
  land<T>(write: () => Promise<T>, lifetimeMs: number, onLost: () => void): Promise<{ result: T; attempts: number } | null> {
    const giveUpAt = this.clock.now() + lifetimeMs;
    const landing = (async () => {
      for (let attempt = 0; ; attempt += 1) {
        try {
          return { result: await write(), attempts: attempt + 1 };
        } catch (error) {
          if (!(error instanceof StateUnavailable)) throw error;
          if (this.#isClosing || this.clock.now() + retryDelayMs(attempt) >= giveUpAt) break;
          await this.clock.sleep(retryDelayMs(attempt));
        }
      }
      onLost();
      return null;
    })().catch((error: unknown) => {
      this.logger.error(
        { event: 'landing_write_failed', err: { message: error instanceof Error ? error.message : 'unknown' } },
        'a write that must land failed',
      );
      return null;
    });
    const tracked = landing.then(() => undefined);
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
    return landing;
  }

  /** Resolves when every write still being re-sent has landed or been given up (for shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  /** Stops re-sending (shutdown): pending writes get one last attempt, then count as lost. */
  close(): void {
    this.#isClosing = true;
  }
}
