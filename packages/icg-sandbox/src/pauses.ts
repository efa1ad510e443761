import type { ServerResponse } from 'node:http';

/**
 * The sandbox's delays and hangs, tracked so that close() can cut them all short: no timer keeps the
 * process (or a jest worker) alive, and no handler wakes up after the sandbox is gone.
 */
export class Pauses {
  readonly #pending = new Set<() => void>();

  /**
   * Resolves true after `ms` (never, when `ms` is null: a hang), or false as soon as the client goes
   * away or cancelAll() runs; on false the caller answers nothing.
   */
  wait(ms: number | null, res: ServerResponse): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (completed: boolean): void => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        this.#pending.delete(cancel);
        res.off('close', cancel);
        resolve(completed);
      };
      const cancel = (): void => {
        finish(false);
      };
      this.#pending.add(cancel);
      res.once('close', cancel);
      if (ms !== null)
        timer = setTimeout(() => {
          finish(true);
        }, ms);
    });
  }

  /** Ends every pending delay and hang at once (close()). */
  cancelAll(): void {
    for (const cancel of [...this.#pending]) cancel();
  }
}
