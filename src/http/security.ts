import type { Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { OriginRejected } from '../errors';
import type { Metrics } from '../metrics';
import { originMatcher, type OriginPattern } from '../origins';
import { contextOf } from './context';

/** The request headers a browser on an allowed origin may send to /pay. */
export const CORS_ALLOWED_HEADERS = 'Content-Type, Idempotency-Key, X-Request-Id';
/** The response headers such a page may read. */
export const CORS_EXPOSED_HEADERS = 'X-Request-Id, Idempotent-Replayed, Retry-After, RateLimit, RateLimit-Policy';

/**
 * helmet for an API that also serves one small checkout page: a CSP that allows only this origin's
 * own scripts, styles and fetches (no inline code anywhere), no framing, no referrer leaks, HSTS.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: { maxAge: 31536000, includeSubDomains: true },
  });
}

/**
 * The headers `securityHeaders()` sets, as name/value pairs: for answers written straight to a socket
 * (problem answers to requests Node could not parse), so they carry exactly what every other answer does.
 */
export function securityHeaderLines(): string[] {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader: (name: string, value: unknown) => headers.set(name, String(value)),
    removeHeader: (name: string) => headers.delete(name),
    getHeader: (name: string) => headers.get(name),
  };
  void securityHeaders()({} as unknown as Request, recorder as unknown as Response, () => undefined);
  return [...headers].map(([name, value]) => `${name}: ${value}`);
}

/** This request's own origin as a browser would name it. */
function ownOrigin(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? ''}`;
}

/**
 * Same-origin by default. A browser request is refused (403, before any other work) when its Origin
 * is neither this service's own nor on CORS_ORIGINS, or when the browser itself says it is
 * cross-site. Requests without Origin (mobile apps, servers) pass: the policy protects browsers,
 * whose headers a page cannot forge. Allowed foreign origins get CORS answers, preflight included.
 */
export function originPolicy(allowedOrigins: readonly OriginPattern[], metrics: Metrics): RequestHandler {
  const isAllowed = originMatcher(allowedOrigins);
  return (req, res, next) => {
    const origin = req.get('Origin');
    const fetchSite = req.get('Sec-Fetch-Site');
    const isListed = origin !== undefined && isAllowed(origin);
    const isSameOrigin = fetchSite === 'same-origin' || (origin !== undefined && origin === ownOrigin(req));
    const isForeignBrowser = (origin !== undefined && !isSameOrigin) || (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none');
    res.vary('Origin');
    if (isForeignBrowser && !isListed && !isSameOrigin) {
      metrics.originRejected.inc();
      contextOf(res).refusedOrigin = origin ?? `(Sec-Fetch-Site: ${fetchSite ?? ''})`;
      next(new OriginRejected('Requests from this origin are not allowed; the merchant lists allowed origins in CORS_ORIGINS'));
      return;
    }
    if (isListed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', CORS_EXPOSED_HEADERS);
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST');
      res.setHeader('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', '600');
      res.setHeader('Allow', 'POST, OPTIONS');
      res.status(204).end();
      return;
    }
    next();
  };
}
