import { Router } from 'express';
import type { TokenManager } from '../icg/token-manager';
import type { SharedState } from '../state/shared-state';
import { withinMs } from '../within';

export interface HealthDeps {
  readonly state: SharedState;
  readonly tokens: TokenManager;
  readonly isShuttingDown: () => boolean;
  /** How long readiness waits for each check. */
  readonly checkTimeoutMs: number;
}

type Check = { status: 'up' | 'down' | 'memory'; latencyMs?: number; detail?: string };

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

async function checkToken(tokens: TokenManager, timeoutMs: number): Promise<Check & { expiresInSeconds?: number }> {
  if (tokens.secondsToExpiry() > 0) return { status: 'up', detail: 'cached', expiresInSeconds: Math.floor(tokens.secondsToExpiry()) };
  try {
    await withinMs(timeoutMs, tokens.getToken());
    return { status: 'up', detail: 'obtained', expiresInSeconds: Math.floor(tokens.secondsToExpiry()) };
  } catch (error) {
    return { status: 'down', detail: error instanceof Error ? error.message : 'token unavailable' };
  }
}

/**
 * GET /healthz: liveness, 200 while the process serves (a restart would not fix Redis or iCG).
 * GET /readyz: readiness, 200 only when config is loaded, Redis answers and a token is cached or can
 * be obtained; 503 otherwise and while draining for shutdown. The JSON names each dependency's state.
 */
export function healthRoutes(deps: HealthDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [redis, token] = await Promise.all([checkRedis(deps.state, deps.checkTimeoutMs), checkToken(deps.tokens, deps.checkTimeoutMs)]);
    const shuttingDown = deps.isShuttingDown();
    const isReady = !shuttingDown && redis.status !== 'down' && token.status === 'up';
    res.status(isReady ? 200 : 503).json({
      status: isReady ? 'ready' : 'not_ready',
      checks: { config: { status: 'up' }, redis, token, ...(shuttingDown ? { shutdown: { status: 'down', detail: 'draining' } } : {}) },
    });
  });
  return router;
}
