import express, { type Express, type RequestHandler } from 'express';
import type { Config } from './config';
import type { IdempotencyStore } from './guards/idempotency';
import type { InFlightPays } from './guards/in-flight-pays';
import type { InvoiceLocks } from './guards/invoice-lock';
import type { AnswerFilter } from './icg/answer-filter';
import type { IcgClient } from './icg/client';
import type { TokenManager } from './icg/token-manager';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import type { SharedState } from './state/shared-state';
import { checkoutRoutes } from './http/checkout';
import { healthRoutes } from './http/health';
import { metricsRoute } from './http/metrics-route';
import { openApiRoute } from './http/openapi';
import { payRoutes } from './http/pay';
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
  readonly state: SharedState;
  readonly icg: IcgClient;
  readonly answerFilter: AnswerFilter;
  readonly tokens: TokenManager;
  readonly locks: InvoiceLocks;
  readonly inFlight: InFlightPays;
  readonly idempotency: IdempotencyStore;
  readonly limiters: RateLimiters;
  readonly isShuttingDown: () => boolean;
}

/** While draining for shutdown, answers close their connection so keep-alive clients move on. */
function closeConnectionsWhenDraining(isShuttingDown: () => boolean): RequestHandler {
  return (_req, res, next) => {
    if (isShuttingDown()) res.setHeader('Connection', 'close');
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
  app.use(closeConnectionsWhenDraining(deps.isShuttingDown));
  // The hot path first: a pay does not walk the routers of the other routes.
  app.use(
    payRoutes({
      icg: deps.icg,
      answerFilter: deps.answerFilter,
      tokens: deps.tokens,
      locks: deps.locks,
      inFlight: deps.inFlight,
      idempotency: deps.idempotency,
      limiters: deps.limiters,
      originPolicy: originPolicy(config.http.corsOrigins, deps.metrics),
      bodyLimitBytes: config.http.bodyLimitBytes,
      metrics: deps.metrics,
      logger: deps.logger,
    }),
  );
  app.use(healthRoutes({ state: deps.state, tokens: deps.tokens, isShuttingDown: deps.isShuttingDown, checkTimeoutMs: Math.min(config.icg.timeoutMs, 2000) }));
  app.use(metricsRoute(deps.metrics, deps.tokens, deps.state, config.http.metricsToken));
  app.use(openApiRoute());
  if (config.http.checkoutPage) app.use(checkoutRoutes());
  app.use(notFound());
  app.use(errorHandler(deps.logger));
  return app;
}
