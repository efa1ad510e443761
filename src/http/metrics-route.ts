import { timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import { Unauthorized } from '../errors';
import type { TokenManager } from '../icg/token-manager';
import type { Metrics } from '../metrics';
import type { Secret } from '../secret';

function isSameSecret(offered: string, expected: Secret): boolean {
  const a = Buffer.from(offered);
  const b = Buffer.from(expected.reveal());
  return a.length === b.length && timingSafeEqual(a, b);
}

/** GET /metrics in Prometheus text format; a bearer token is required when METRICS_TOKEN is set. */
export function metricsRoute(metrics: Metrics, tokens: TokenManager, token: Secret | null): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    if (token) {
      const offered = /^Bearer (.+)$/.exec(req.get('Authorization') ?? '')?.[1];
      if (offered === undefined || !isSameSecret(offered, token)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
        throw new Unauthorized('GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
      }
    }
    metrics.tokenExpiry.set(tokens.secondsToExpiry());
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
  return router;
}
