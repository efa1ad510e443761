import type { AppError } from '../errors';
import { everyMs, type Logger } from '../logger';
import type { Metrics } from '../metrics';
import { StateUnavailable } from './shared-state';

/**
 * The one place that decides what "Redis cannot answer" means for an operation: degrade to
 * something local, refuse the request, or merely count it. Only StateUnavailable is handled; any
 * other error (a bug) propagates, so nothing is swallowed by accident. Each degraded operation is
 * counted every time and logged at most every ten seconds.
 */
export class RedisTrouble {
  readonly #shouldWarn = new Map<string, () => boolean>();

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** Runs `work`; when the store is unavailable, counts `operation` as degraded and returns `fallback()` instead. */
  async degrade<T>(operation: string, work: () => Promise<T>, fallback: () => T | Promise<T>, warning?: string): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof StateUnavailable)) throw error;
      this.#count(operation, warning);
      return fallback();
    }
  }

  /** Runs `work`; when the store is unavailable, throws `refusal()`: the request is answered without it. */
  async refuse<T>(operation: string, work: () => Promise<T>, refusal: () => AppError): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof StateUnavailable)) throw error;
      this.#count(operation);
      throw refusal();
    }
  }

  /**
   * Runs a write whose loss only needs counting (a lock or a record that expires by itself). Never
   * throws for an unavailable store; a bug is logged rather than thrown, since nobody awaits it.
   */
  async tolerate(operation: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (error instanceof StateUnavailable) {
        this.#count(operation);
        return;
      }
      this.logger.error(
        { event: 'unexpected_state_error', operation, err: { message: error instanceof Error ? error.message : 'unknown' } },
        'unexpected error in a best-effort Redis write',
      );
    }
  }

  #count(operation: string, warning?: string): void {
    this.metrics.degradedOperations.inc({ operation });
    if (!warning) return;
    let gate = this.#shouldWarn.get(operation);
    if (!gate) {
      gate = everyMs(10_000);
      this.#shouldWarn.set(operation, gate);
    }
    if (gate()) this.logger.warn({ event: `degraded_${operation}` }, warning);
  }
}
