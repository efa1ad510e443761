import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Resolves once `condition` holds, checking every `intervalMs`; rejects after `timeoutMs` with
 * `what` in the message, so a test that waits for something that never happens fails at once
 * instead of hanging to jest's timeout.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what = 'the condition', intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/** Waits until the service's /readyz says Redis answers and no data-loss quarantine is on. */
export async function waitForRedisBack(url: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    async () => {
      const body = (await (await fetch(`${url}/readyz`)).json()) as { checks?: Record<string, { status?: string } | undefined> };
      return body.checks?.['redis']?.status === 'up' && body.checks['dataLoss'] === undefined;
    },
    timeoutMs,
    'Redis back and no data-loss quarantine',
    100,
  );
}
