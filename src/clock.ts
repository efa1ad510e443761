/**
 * Time as the core classes see it. The system clock by default; jest's fake timers replace both
 * Date.now and setTimeout, so unit tests drive timing without sleeping.
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
