/**
 * The pays on their way to iCG or back. Shutdown waits for them past its drain window: cutting one
 * off would leave a charge the client never hears of (and, with an Idempotency-Key, a key that
 * blocks retries until its record expires).
 */
export class InFlightPays {
  #count = 0;
  #onSettled: (() => void)[] = [];

  get count(): number {
    return this.#count;
  }

  /** Counts one pay in; the returned function counts it out (calling it again does nothing). */
  begin(): () => void {
    this.#count += 1;
    let isDone = false;
    return () => {
      if (isDone) return;
      isDone = true;
      this.#count -= 1;
      if (this.#count === 0) for (const resolve of this.#onSettled.splice(0)) resolve();
    };
  }

  /** Resolves when no pay is in flight. */
  settled(): Promise<void> {
    return this.#count === 0 ? Promise.resolve() : new Promise((resolve) => this.#onSettled.push(resolve));
  }
}
