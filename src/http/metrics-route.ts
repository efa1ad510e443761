import { timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import type { Registry } from 'prom-client';
import { Unauthorized } from '../errors';
import type { Secret } from '../secret';

function isSameSecret(offered: string, expected: Secret): boolean {
  const a = Buffer.from(offered);
  const b = Buffer.from(expected.reveal());
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * GET /metrics in Prometheus text format; a bearer token is required when METRICS_TOKEN is set.
 * `beforeScrape` refreshes the gauges read at scrape time (Redis answering a PING, the token's expiry).
 */
export function metricsRoute(registry: Registry, beforeScrape: () => Promise<void>, token: Secret | undefined): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    if (token) {
      const offered = /^Bearer (.+)$/i.exec(req.get('Authorization') ?? '')?.[1];
      if (offered === undefined || !isSameSecret(offered, token)) {
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
