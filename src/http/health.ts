import { Router } from 'express';
import type { Check } from '../health-checks';

export interface HealthDeps {
  /** The state of each dependency, checked on every /readyz. */
  readonly checks: () => Promise<{ readonly redis: Check; readonly token: Check }>;
  readonly isShuttingDown: () => boolean;
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
    const { redis, token } = await deps.checks();
    const shuttingDown = deps.isShuttingDown();
    const isReady = !shuttingDown && redis.status !== 'down' && token.status === 'up';
    res.status(isReady ? 200 : 503).json({
      status: isReady ? 'ready' : 'not_ready',
      checks: { config: { status: 'up' }, redis, token, ...(shuttingDown ? { shutdown: { status: 'down', detail: 'draining' } } : {}) },
    });
  });
  return router;
}
