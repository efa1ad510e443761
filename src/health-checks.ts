import type { TokenManager } from './icg/token-manager';
import type { SharedState } from './state/shared-state';
import { withinMs } from './within';

/** One dependency's state as /readyz reports it. */
export interface Check {
  readonly status: 'up' | 'down' | 'memory';
  readonly latencyMs?: number;
  readonly detail?: string;
  readonly expiresInSeconds?: number;
  /** Redis only: what survives a restart. */
  readonly persistence?: { readonly aof: boolean; readonly rdb: boolean | null };
  readonly maxmemoryPolicy?: string | null;
}

/** Whether Redis answers a PING within `timeoutMs` (a hung Redis is down, not merely connected). */
export async function checkRedis(state: SharedState, timeoutMs: number): Promise<Check> {
  if (state.kind === 'memory') return { status: 'memory', detail: 'REDIS_URL is unset: shared state lives in this process' };
  const started = Date.now();
  try {
    await withinMs(timeoutMs, state.ping());
    return { status: 'up', latencyMs: Date.now() - started };
  } catch {
    return { status: 'down', detail: 'redis does not answer' };
  }
}

/** Whether a token is held, or can be obtained within `timeoutMs`. */
export async function checkToken(tokens: TokenManager, timeoutMs: number): Promise<Check> {
  if (tokens.secondsToExpiry() > 0) return { status: 'up', detail: 'cached', expiresInSeconds: Math.floor(tokens.secondsToExpiry()) };
  try {
    await withinMs(timeoutMs, tokens.getToken());
    return { status: 'up', detail: 'obtained', expiresInSeconds: Math.floor(tokens.secondsToExpiry()) };
  } catch (error) {
    return { status: 'down', detail: error instanceof Error ? error.message : 'token unavailable' };
  }
}
