import type { RedisProcess } from './redis-server';

/** Stops the throwaway Redis that global-setup started, if it started one. */
export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __testRedis?: RedisProcess }).__testRedis?.kill();
}
