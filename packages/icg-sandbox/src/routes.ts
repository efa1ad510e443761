import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SandboxFaults } from './faults';
import { patchFaults } from './faults';
import { mediaType, parseJson, readBody, sendJson } from './http-io';
import type { TokenAuthority } from './jwt';
import { decideGrant, type LoginContext } from './login';
import type { Pauses } from './pauses';
import { settlePay, validatePay } from './payments';
import type { IcgSandbox, ReceivedPay, SandboxStats } from './types';

/** Everything the routes read and change: one sandbox's state. */
export interface SandboxState {
  readonly faults: SandboxFaults;
  readonly stats: SandboxStats;
  readonly received: ReceivedPay[];
  readonly tokens: TokenAuthority;
  readonly login: LoginContext;
  readonly pauses: Pauses;
  readonly control: Pick<IcgSandbox, 'reset' | 'revokeAllTokens'>;
}

const RECEIVED_KEPT = 100;

/** What an ASP.NET app behind Azure's ARR answers with: the proxy's tests check it strips all three. */
const ASPNET_HEADERS: readonly (readonly [string, string])[] = [
  ['Set-Cookie', 'ARRAffinity=abc; Path=/; HttpOnly'],
  ['X-Powered-By', 'ASP.NET'],
  ['X-AspNet-Version', '4.0.30319'],
];

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
const CLOSE = { Connection: 'close' };
const NOT_FOUND = { Message: 'No HTTP resource was found that matches the request URI.' };
const DENIED = { Message: 'Authorization has been denied for this request.' };
/** A 5xx as ASP.NET answers it with custom errors off: internals a proxy must never relay. */
const SERVER_ERROR = {
  Message: 'An error has occurred.',
  ExceptionMessage: 'internal detail: db01.icg.local timeout',
  StackTrace: 'at Icg.Process.Invoices.PayAsync(Int32 id, ProcessRequest request)',
};
const NON_JSON_PAGE = '<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>';

const PAY_PATH = /^\/invoices\/([^/]+)\/pay\/?$/i;
const ADMIN_PREFIX = '/__sandbox/';

/** The body a forced pay status (faults.payStatus) comes with. */
function forcedPayBody(status: number): Record<string, unknown> {
  if (status >= 500) return SERVER_ERROR;
  if (status === 404) return NOT_FOUND;
  if (status === 400) return { Message: 'The request is invalid.' };
  return { Message: `The sandbox answers ${status} (faults.payStatus).` };
}

function bearerToken(req: IncomingMessage): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? null;
}

/**
 * The sandbox's request handler: iCG's /Login and POST /Invoices/{id}/Pay with their faults, and the
 * /__sandbox admin endpoints. It never throws: a failure becomes a 500 (or a dropped socket when the
 * answer had already started), so no input can crash the process hosting the sandbox.
 */
export function createRequestHandler(state: SandboxState): (req: IncomingMessage, res: ServerResponse) => void {
  const { faults, stats, received, tokens, pauses } = state;

  function unauthorized(res: ServerResponse): void {
    stats.unauthorizedPays += 1;
    sendJson(res, 401, DENIED, { 'WWW-Authenticate': 'Bearer' });
  }

  async function handleLogin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.loginAttempts += 1;
    const body = await readBody(req);
    if (body.kind === 'too_large') {
      sendJson(res, 413, { error: 'invalid_request', error_description: 'The request body is too large.' }, CLOSE);
      return;
    }
    if (faults.loginDelayMs > 0 && !(await pauses.wait(faults.loginDelayMs, res))) return;
    if (faults.loginStatus !== null) {
      const status = faults.loginStatus;
      sendJson(
        res,
        status,
        { error: status >= 500 ? 'server_error' : 'invalid_request', error_description: `The sandbox answers ${status} (faults.loginStatus).` },
        NO_STORE,
      );
      return;
    }
    if (mediaType(req) !== 'application/x-www-form-urlencoded') {
      sendJson(res, 400, { error: 'invalid_request' }, NO_STORE);
      return;
    }
    const answer = decideGrant(new URLSearchParams(body.text), state.login);
    sendJson(res, answer.status, answer.body, NO_STORE);
  }

  /** Faults first (hang, delay, forced 401s), then auth, forced status and HTML, then iCG's own validation. */
  async function handlePay(req: IncomingMessage, res: ServerResponse, rawId: string): Promise<void> {
    for (const [name, value] of ASPNET_HEADERS) res.setHeader(name, value);
    let invoiceId: string;
    try {
      invoiceId = decodeURIComponent(rawId);
    } catch {
      sendJson(res, 404, NOT_FOUND);
      return;
    }
    const body = await readBody(req);
    if (body.kind === 'too_large') {
      sendJson(res, 413, { Message: 'The request entity is too large.' }, CLOSE);
      return;
    }
    const json = parseJson(body.text);
    stats.pays += 1;
    stats.paysByInvoice[invoiceId] = (stats.paysByInvoice[invoiceId] ?? 0) + 1;
    received.push({ invoiceId, headers: { ...req.headers }, body: json.ok ? json.value : body.text, raw: body.text, at: Date.now() });
    if (received.length > RECEIVED_KEPT) received.shift();

    if (faults.payHang) {
      await pauses.wait(null, res);
      return;
    }
    if (faults.payDelayMs > 0 && !(await pauses.wait(faults.payDelayMs, res))) return;
    if (faults.payUnauthorizedCount > 0) {
      faults.payUnauthorizedCount -= 1;
      unauthorized(res);
      return;
    }
    const token = bearerToken(req);
    if (token === null || !tokens.acceptsAccess(token)) {
      unauthorized(res);
      return;
    }
    if (faults.payStatus === 401) {
      unauthorized(res);
      return;
    }
    if (faults.payStatus === 204) {
      res.writeHead(204).end();
      return;
    }
    if (faults.payNonJson) {
      res.writeHead(faults.payStatus ?? 200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(NON_JSON_PAGE) });
      res.end(NON_JSON_PAGE);
      return;
    }
    if (faults.payStatus !== null) {
      sendJson(res, faults.payStatus, forcedPayBody(faults.payStatus));
      return;
    }
    const type = mediaType(req);
    if (type !== 'application/json' && type !== 'text/json') {
      sendJson(res, 415, {
        Message: `The request entity's media type '${type.slice(0, 100) || 'application/octet-stream'}' is not supported for this resource.`,
      });
      return;
    }
    if (!json.ok) {
      sendJson(res, 400, { Message: 'The request is invalid.', ModelState: { request: ['The request body is not valid JSON.'] } });
      return;
    }
    const validation = validatePay(json.value);
    if (!validation.ok) {
      sendJson(res, 400, validation.body);
      return;
    }
    const answer = settlePay(validation.request, invoiceId);
    if (faults.payEcho) Object.assign(answer, { RawRequest: body.text, RawResponse: JSON.stringify({ request: json.value, answer }), ExtraData: json.value });
    sendJson(res, 200, answer);
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, action: string): Promise<void> {
    if (req.method === 'GET' && action === 'stats') {
      sendJson(res, 200, { stats, faults });
      return;
    }
    if (req.method !== 'POST' || !['faults', 'reset', 'revoke'].includes(action)) {
      sendJson(res, 404, NOT_FOUND);
      return;
    }
    const body = await readBody(req);
    if (body.kind === 'too_large') {
      sendJson(res, 413, { error: 'the request body is too large' }, CLOSE);
      return;
    }
    if (action === 'faults') {
      const patch = parseJson(body.text);
      const problem = patch.ok ? patchFaults(faults, patch.value) : 'the body is not valid JSON';
      if (problem === null) sendJson(res, 200, { faults });
      else sendJson(res, 400, { error: problem });
      return;
    }
    if (action === 'reset') state.control.reset();
    else state.control.revokeAllTokens();
    res.writeHead(204).end();
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (path.toLowerCase() === '/login' && req.method === 'POST') return handleLogin(req, res);
    const pay = PAY_PATH.exec(path);
    if (pay?.[1] !== undefined && req.method === 'POST') return handlePay(req, res, pay[1]);
    if (path.startsWith(ADMIN_PREFIX)) return handleAdmin(req, res, path.slice(ADMIN_PREFIX.length));
    sendJson(res, 404, NOT_FOUND);
  }

  return (req, res) => {
    route(req, res).catch(() => {
      // e.g. a fault set to an impossible status, or a client gone mid-body.
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      try {
        sendJson(res, 500, { Message: 'An error has occurred.' });
      } catch {
        res.destroy();
      }
    });
  };
}
