import { Router } from 'express';
import type { Registry } from 'prom-client';
import { Unauthorized } from '../errors';
import type { Secret } from '../secret';

/**
 * GET /metrics in Prometheus text format; a bearer token is required when METRICS_TOKEN is set.
 * `beforeScrape` refreshes the gauges read at scrape time (Redis answering a PING, the token's expiry).
 */
export function metricsRoute(registry: Registry, beforeScrape: () => Promise<void>, token: Secret | undefined): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    if (token) {
      const offered = /^Bearer (.+)$/i.exec(req.get('Authorization') ?? '')?.[1];
      if (offered === undefined || !token.matches(offered)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
        throw new Unauthorized('GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
      }
    }
    await beforeScrape();
    res.setHeader('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  });
  return router;
}
