import express, { type Express, type RequestHandler } from 'express';
import type { Config } from './config';
import type { Check } from './health-checks';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import type { PayInvoice } from './pay/pay-invoice';
import { checkoutRoutes } from './http/checkout';
import { healthRoutes } from './http/health';
import { metricsRoute } from './http/metrics-route';
import { openApiRoute } from './http/openapi';
import { payRoutes } from './http/pay-route';
import { errorHandler, notFound } from './http/problem';
import type { RateLimiters } from './http/rate-limit';
import { requestId } from './http/request-id';
import { requestLog } from './http/request-log';
import { originPolicy, securityHeaders } from './http/security';

/** Everything the HTTP layer needs, built by service.ts (or by a test with other settings). */
export interface AppDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly payInvoice: PayInvoice;
  readonly limiters: RateLimiters;
  /** The state of Redis, the token and the data-loss quarantine, for /readyz's detail. */
  readonly readiness: () => Promise<Readonly<Record<string, Check>>>;
  /** Refreshes the gauges read at scrape time. */
  readonly beforeScrape: () => Promise<void>;
  readonly isDraining: () => boolean;
}

/** While draining for shutdown, answers close their connection so keep-alive clients move on. */
function closeConnectionsWhenDraining(isDraining: () => boolean): RequestHandler {
  return (_req, res, next) => {
    if (isDraining()) res.setHeader('Connection', 'close');
    next();
  };
}

/** The Express app: middleware order and routes, nothing else. */
export function createApp(deps: AppDeps): Express {
  const { config } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.http.trustProxy);
  app.use(requestId());
  app.use(requestLog(deps.logger, deps.metrics));
  app.use(securityHeaders());
  app.use(closeConnectionsWhenDraining(deps.isDraining));
  // The hot path first: a pay does not walk the routers of the other routes.
  app.use(
    payRoutes({
      payInvoice: deps.payInvoice,
      originPolicy: originPolicy(config.http.corsOrigins, deps.metrics),
      perClientLimit: deps.limiters.perClient,
      perInvoiceLimit: deps.limiters.perInvoice,
      bodyLimitBytes: config.http.bodyLimitBytes,
    }),
  );
  app.use(healthRoutes({ checks: deps.readiness, isDraining: deps.isDraining }));
  // In production the public port serves /metrics only behind METRICS_TOKEN; the admin listener always does.
  if (config.env !== 'production' || config.http.metricsToken) app.use(metricsRoute(deps.metrics.registry, deps.beforeScrape, config.http.metricsToken));
  app.use(openApiRoute());
  if (config.http.checkoutPage) app.use(checkoutRoutes({ sandbox: config.sandbox }));
  app.use(notFound());
  app.use(errorHandler(deps.logger));
  return app;
}
