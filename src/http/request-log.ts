import type { RequestHandler } from 'express';
import { maskCardNumbers } from '../cardholder-data';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { contextOf } from './context';

/** User agents are caller text: enough of one to tell clients apart, never a whole essay in the log. */
const USER_AGENT_MAX = 120;

/**
 * One JSON log line and one histogram observation per request. Fields are chosen, not dumped: no
 * headers but the user agent (truncated), no bodies, no query string; the route is the template
 * (`/pay/:invoiceId`) so metrics stay bounded. What an investigator needs: the client address (as
 * TRUST_PROXY resolves it), the invoice id (canonical, as an id: it passed the allow-list, and
 * all-digit ids are bounded to iCG's int range), the problem type of an error, `replayed`, and for a
 * pay that reached iCG its outcome, payment id and iCG's references. 5xx log at warn, health probes at
 * debug. Caller text that is not an allow-listed id (another path, the user agent) has card numbers
 * masked.
 */
export function requestLog(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    res.once('finish', () => {
      const context = contextOf(res);
      const seconds = Number(process.hrtime.bigint() - context.startedAt) / 1e9;
      const route = req.route ? `${req.baseUrl}${String((req.route as { path: unknown }).path)}` : 'unmatched';
      metrics.httpRequestDuration.observe({ method: req.method, route, status_code: String(res.statusCode) }, seconds);
      const userAgent = req.get('User-Agent');
      const payment = context.payment;
      const line = {
        event: 'request',
        requestId: context.requestId,
        method: req.method,
        route,
        path: context.invoice ? req.path : maskCardNumbers(req.path),
        ...(context.invoice ? { invoiceId: context.invoice.canonical } : {}),
        status: res.statusCode,
        durationMs: Math.round(seconds * 1e6) / 1e3,
        clientIp: req.ip,
        ...(userAgent ? { userAgent: maskCardNumbers(userAgent.slice(0, USER_AGENT_MAX)) } : {}),
        ...(context.refusedOrigin ? { origin: maskCardNumbers(context.refusedOrigin.slice(0, 200)) } : {}),
        ...(context.problem ? { problem: context.problem } : {}),
        ...(context.isReplay ? { replayed: true } : {}),
        ...(context.upstream?.status === undefined ? {} : { upstreamStatus: context.upstream.status }),
        ...(context.upstream ? { upstreamDurationMs: context.upstream.durationMs } : {}),
        ...(payment
          ? {
              payment: payment.id,
              outcome: payment.outcome,
              ...(payment.transactionId ? { transactionId: payment.transactionId } : {}),
              ...(payment.confirmationCode ? { confirmationCode: payment.confirmationCode } : {}),
            }
          : {}),
      };
      const isProbe = route === '/healthz' || route === '/readyz' || route === '/metrics';
      if (isProbe) logger.debug(line, 'request');
      else if (res.statusCode >= 500) logger.warn(line, 'request failed');
      else logger.info(line, 'request');
    });
    next();
  };
}
