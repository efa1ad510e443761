import { Router } from 'express';
import type { Check } from '../health-checks';
import type { ReadinessStatus } from '../metrics';

export interface HealthDeps {
  /** The state of each shared dependency, checked on every /readyz (detail only). */
  readonly checks: () => Promise<Readonly<Record<string, Check>>>;
  readonly isDraining: () => boolean;
}

/** What /readyz says: draining (503), degraded (a shared dependency is down) or ready. */
export function readinessStatus(checks: Readonly<Record<string, Check>>, isDraining: boolean): ReadinessStatus {
  if (isDraining) return 'draining';
  return Object.values(checks).some((check) => check.status === 'down') ? 'degraded' : 'ready';
}

/**
 * GET /healthz: liveness, 200 while the process serves (a restart would not fix Redis or iCG).
 * GET /readyz: readiness for load balancers. 503 only for what is local to this instance: it is
 * draining for shutdown (a broken config never gets this far). Shared dependencies (Redis, iCG, the
 * credentials) fail on every instance at once; taking every instance out of rotation together would
 * turn a degraded service into none, so they show in the JSON detail, in metrics and in alerts.
 */
export function healthRoutes(deps: HealthDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks = await deps.checks();
    const isDraining = deps.isDraining();
    const status = readinessStatus(checks, isDraining);
    res.status(status === 'draining' ? 503 : 200).json({
      status,
      checks: { config: { status: 'up' }, ...checks, ...(isDraining ? { shutdown: { status: 'down', detail: 'draining' } } : {}) },
    });
  });
  return router;
}
