import type { RequestHandler } from 'express';
import { maskCardNumbers } from '../cardholder-data';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { contextOf } from './context';

/**
 * One JSON log line and one histogram observation per request. Fields are chosen, not dumped: no
 * headers, no bodies, no query string; the route is the template (`/pay/:invoiceId`) so metrics stay
 * bounded. Error answers name their problem type, and 5xx answers log at warn. Health probes log at
 * debug so they do not drown the payments. A card number a caller put in the path is masked.
 */
export function requestLog(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    res.once('finish', () => {
      const context = contextOf(res);
      const seconds = Number(process.hrtime.bigint() - context.startedAt) / 1e9;
      const route = req.route ? `${req.baseUrl}${String((req.route as { path: unknown }).path)}` : 'unmatched';
      metrics.httpRequestDuration.observe({ method: req.method, route, status_code: String(res.statusCode) }, seconds);
      const line = {
        event: 'request',
        requestId: context.requestId,
        method: req.method,
        route,
        path: maskCardNumbers(req.path),
        status: res.statusCode,
        durationMs: Math.round(seconds * 1e6) / 1e3,
        ...(context.problem ? { problem: context.problem } : {}),
        ...(context.upstream?.status === undefined ? {} : { upstreamStatus: context.upstream.status }),
        ...(context.upstream ? { upstreamDurationMs: context.upstream.durationMs } : {}),
      };
      const isProbe = route === '/healthz' || route === '/readyz' || route === '/metrics';
      if (isProbe) logger.debug(line, 'request');
      else if (res.statusCode >= 500) logger.warn(line, 'request failed');
      else logger.info(line, 'request');
    });
    next();
  };
}
