import express, { type Express, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import { InvalidRequest, NotFound, Unauthorized } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { Journal, JournalEntry, Resolution } from '../pay/journal';
import { parseJournalFilter } from '../pay/journal-query';
import type { Secret } from '../secret';
import { metricsRoute } from './metrics-route';
import { errorHandler, notFound } from './problem';
import { requestId } from './request-id';
import { requestLog } from './request-log';
import { securityHeaders } from './security';

export interface AdminDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly registry: Registry;
  readonly beforeScrape: () => Promise<void>;
  /** METRICS_TOKEN: when set, /metrics needs it here too. */
  readonly metricsToken: Secret | undefined;
  /** ADMIN_TOKEN: without it the admin API does not exist (404). */
  readonly adminToken: Secret | undefined;
  readonly journal: Journal;
  readonly resolve: (id: string, resolution: Omit<Resolution, 'at'>) => Promise<JournalEntry>;
}

/** Bearer ADMIN_TOKEN on every /admin route; without a configured token the routes do not exist. */
function requireAdminToken(token: Secret | undefined): RequestHandler {
  return (req, res, next) => {
    if (!token) {
      next(new NotFound(`No resource at ${req.path}`));
      return;
    }
    const offered = /^Bearer (.+)$/i.exec(req.get('Authorization') ?? '')?.[1];
    if (offered === undefined || !token.matches(offered)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="admin"');
      next(new Unauthorized('The admin API needs Authorization: Bearer <ADMIN_TOKEN>'));
      return;
    }
    next();
  };
}

/** The resolution an operator posts: `{ "resolution": "charged" | "not_charged", "reference": "...", "resolvedBy": "..." }`. */
function readResolution(body: unknown): Omit<Resolution, 'at'> {
  const record = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const { resolution, reference, resolvedBy } = record;
  const problems: { pointer: string; detail: string }[] = [];
  if (resolution !== 'charged' && resolution !== 'not_charged') problems.push({ pointer: '/resolution', detail: 'must be charged or not_charged' });
  if (typeof resolvedBy !== 'string' || !/^[\w .@-]{1,64}$/.test(resolvedBy))
    problems.push({ pointer: '/resolvedBy', detail: 'must name who resolved it (1-64 letters, digits, space . @ - _)' });
  if (reference !== undefined && (typeof reference !== 'string' || !/^[\w.:-]{1,128}$/.test(reference)))
    problems.push({ pointer: '/reference', detail: "must be iCG's reference (1-128 letters, digits, . : - _)" });
  if (resolution === 'charged' && reference === undefined)
    problems.push({ pointer: '/reference', detail: "is required when resolution is charged: iCG's TransactionId or ConfirmationCode" });
  if (problems.length > 0) throw new InvalidRequest('The resolution is invalid', problems);
  return { as: resolution as Resolution['as'], by: resolvedBy as string, ...(typeof reference === 'string' ? { reference } : {}) };
}

/**
 * The admin listener (ADMIN_HOST:ADMIN_PORT, loopback by default, never the public port): /metrics and
 * the payment journal API operators reconcile unknown outcomes with.
 *   GET  /admin/payments?outcome=unknown&since=1h&invoice=962&unresolved=true&limit=100
 *   GET  /admin/payments/:id
 *   POST /admin/payments/:id/resolution  {"resolution": "charged", "reference": "<iCG TransactionId>", "resolvedBy": "alice"}
 */
export function createAdminApp(deps: AdminDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestId());
  app.use(requestLog(deps.logger, deps.metrics));
  app.use(securityHeaders());
  app.use(metricsRoute(deps.registry, deps.beforeScrape, deps.metricsToken));
  const admin = express.Router();
  admin.use(requireAdminToken(deps.adminToken));
  admin.get('/payments', async (req, res) => {
    const query = Object.fromEntries(Object.entries(req.query).map(([key, value]) => [key, typeof value === 'string' ? value : undefined]));
    res.json({ payments: await deps.journal.list(parseJournalFilter(query, Date.now())) });
  });
  admin.get('/payments/:id', async (req, res) => {
    res.json(await deps.journal.get(req.params.id));
  });
  admin.post('/payments/:id/resolution', express.json({ limit: 4096 }), async (req, res) => {
    const resolution = readResolution(req.body);
    res.json(await deps.resolve(req.params.id, resolution));
  });
  app.use('/admin', admin);
  app.use(notFound());
  app.use(errorHandler(deps.logger));
  return app;
}
