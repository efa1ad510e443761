/**
 * Lifetimes derived from the timeouts, so every lock outlives the work it guards: a login lock covers
 * a refresh and a password grant; an invoice lock covers a whole pay, and a pay still pending after
 * it belongs to an instance that stopped mid-pay.
 */
export function guardTimings(timeoutMs: number, payDeadlineMs: number) {
  const loginLockTtlMs = 2 * timeoutMs + 1000;
  return { loginLockTtlMs, tokenWaitMs: loginLockTtlMs + 1000, payLockTtlMs: payDeadlineMs + 5000 };
}
