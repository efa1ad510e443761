import { timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import { Unauthorized } from '../errors';
import type { TokenManager } from '../icg/token-manager';
import type { Metrics } from '../metrics';
import type { Secret } from '../secret';
import type { SharedState } from '../state/shared-state';
import { checkRedis } from './health';

function isSameSecret(offered: string, expected: Secret): boolean {
  const a = Buffer.from(offered);
  const b = Buffer.from(expected.reveal());
  return a.length === b.length && timingSafeEqual(a, b);
}

/** How long a scrape waits for Redis to answer the PING behind redis_up. */
const REDIS_CHECK_MS = 1000;

/**
 * GET /metrics in Prometheus text format; a bearer token is required when METRICS_TOKEN is set.
 * redis_up is checked at each scrape with a PING, so a Redis that hangs while connected shows as down.
 */
export function metricsRoute(metrics: Metrics, tokens: TokenManager, state: SharedState, token: Secret | undefined): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    if (token) {
      const offered = /^Bearer (.+)$/i.exec(req.get('Authorization') ?? '')?.[1];
      if (offered === undefined || !isSameSecret(offered, token)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
        throw new Unauthorized('GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
      }
    }
    metrics.tokenExpiry.set(tokens.secondsToExpiry());
    metrics.redisUp.set((await checkRedis(state, REDIS_CHECK_MS)).status === 'down' ? 0 : 1);
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
  return router;
}
