import path from 'node:path';
import express, { type NextFunction, type Response, type Router } from 'express';

/** src/public under ts-jest and tsx, dist/public after the build copies it there. */
const PUBLIC_DIR = path.join(__dirname, '..', 'public');

/**
 * The page's assets by URL name. A fixed list, not a directory: nothing else in PUBLIC_DIR (a
 * dotfile, an editor's backup) can be served, and there is no listing to browse.
 */
const ASSETS: Readonly<Record<string, string>> = {
  'checkout.js': 'checkout.js',
  'checkout.css': 'checkout.css',
};

export interface CheckoutOptions {
  /** True when iCG is the built-in sandbox: the page then lists the test cards it approves. */
  readonly sandbox: boolean;
}

/** Sends one file from PUBLIC_DIR. A missing file (a build without public/) is a 500, logged. */
function sendPublicFile(res: Response, next: NextFunction, file: string, cacheControl: string): void {
  res.sendFile(file, { root: PUBLIC_DIR, dotfiles: 'deny', headers: { 'Cache-Control': cacheControl } }, (error?: Error) => {
    // After the headers went out the client has gone away mid-download: nothing left to answer.
    if (error && !res.headersSent) next(error);
  });
}

/**
 * GET /checkout: a same-origin demo page that pays an invoice through POST /pay/:invoiceId, and its
 * script and stylesheet. The CSP from security.ts applies (no inline code), so everything the page
 * runs comes from these files. The HTML is never cached (it is the page a merchant copies and
 * changes); the assets revalidate on every load.
 *
 * GET /checkout/mode.json tells the page whether payments are simulated (`{"sandbox": true}`), so it
 * can list the sandbox's test cards. It is JSON fetched by the page rather than text templated into
 * the HTML: the page stays a static file, and the CSP needs no exception. Never cached, so a page
 * never claims "sandbox" after the service was pointed at the real iCG.
 */
export function checkoutRoutes(options: CheckoutOptions): Router {
  const router = express.Router();
  const mode = JSON.stringify({ sandbox: options.sandbox });
  router.get('/checkout', (_req, res, next) => {
    sendPublicFile(res, next, 'checkout.html', 'no-store');
  });
  router.get('/checkout/mode.json', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type('application/json').send(mode);
  });
  router.get('/checkout/:asset', (req, res, next) => {
    const file = Object.hasOwn(ASSETS, req.params.asset) ? ASSETS[req.params.asset] : undefined;
    if (file === undefined) {
      next();
      return;
    }
    sendPublicFile(res, next, file, 'no-cache');
  });
  return router;
}
