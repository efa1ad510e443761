import { Axios, AxiosError, type AxiosResponse } from 'axios';
import type { IcgSettings } from '../config';
import { OutcomeUnknown, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable, type UpstreamFailure } from '../errors';
import type { Credentials } from './credentials';
import type { Metrics } from '../metrics';
import { Secret } from '../secret';
import { AccessToken } from './access-token';
import { HttpPoolAgent, HttpsPoolAgent } from './pool-agents';

/** What a successful login or refresh grants. */
export interface TokenGrant {
  readonly accessToken: AccessToken;
  readonly expiresInSeconds: number;
  readonly refreshToken: Secret | null;
}

/** iCG's answer to a pay, as the proxy relays it: status and parsed JSON body (null: none) only. */
export interface PayReply {
  readonly status: number;
  readonly body: unknown;
}

const FORM_HEADERS = { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' } as const;

/** The largest answer read from iCG; a bigger one is treated as a broken upstream. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

type Operation = 'login' | 'refresh' | 'pay';

/** iCG refused a refresh token: fall back to the password grant (not a credentials incident). */
export class RefreshRejected extends Error {
  constructor() {
    super('iCG rejected the refresh token');
    this.name = 'RefreshRejected';
  }
}

/**
 * The only code that speaks HTTP to iCG. One axios instance over keep-alive agents, explicit
 * timeouts (a socket timeout and a hard deadline per call), no redirects, no proxy from the
 * environment. Errors come out as our named errors with messages free of URLs, headers and tokens;
 * axios errors (whose config holds the Authorization header) never leave this module.
 */
export class IcgClient {
  readonly #http: Axios;
  readonly #httpAgent: HttpPoolAgent;
  readonly #httpsAgent: HttpsPoolAgent;

  constructor(
    private readonly settings: IcgSettings,
    private readonly metrics: Metrics,
  ) {
    const pool = { maxSockets: settings.maxSockets, maxFreeSockets: Math.min(settings.maxSockets, 256) };
    this.#httpAgent = new HttpPoolAgent(pool);
    this.#httpsAgent = new HttpsPoolAgent(pool);
    // An Axios built from this config alone, not axios.create(): that one carries axios's global defaults
    // (a header bucket per method, request transforms), which every call deep-merges again (7 % of the
    // bytes a pay allocates). So bodies go out as strings with their Content-Type set here.
    this.#http = new Axios({
      adapter: 'http',
      httpAgent: this.#httpAgent,
      httpsAgent: this.#httpsAgent,
      timeout: settings.timeoutMs,
      maxRedirects: 0,
      proxy: false,
      maxContentLength: MAX_RESPONSE_BYTES,
      maxBodyLength: MAX_RESPONSE_BYTES,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
      headers: { 'User-Agent': 'icg-bff' },
    });
  }

  /** The password grant, exactly as iCG documents it (form-encoded, Accept: application/json). */
  async login(credentials: Credentials): Promise<TokenGrant> {
    const form = formBody({
      grant_type: 'password',
      username: credentials.username.reveal(),
      password: credentials.password.reveal(),
      client_id: credentials.clientId.reveal(),
    });
    return this.#call(
      'login',
      (signal) => this.#http.post(`${this.settings.authUrl}/Login`, form, { signal, headers: FORM_HEADERS }),
      (response) => {
        if (isGrantRejection(response)) throw new UpstreamRejected('iCG rejected the configured credentials (ICG_CLIENT_ID, ICG_USERNAME, ICG_PASSWORD)');
        return readGrant(response, 'login');
      },
    );
  }

  /** The standard refresh_token grant at the same endpoint (assumed: iCG's sample shows no refresh token). */
  async refresh(refreshToken: Secret, clientId: Secret): Promise<TokenGrant> {
    const form = formBody({ grant_type: 'refresh_token', refresh_token: refreshToken.reveal(), client_id: clientId.reveal() });
    return this.#call(
      'refresh',
      (signal) => this.#http.post(`${this.settings.authUrl}/Login`, form, { signal, headers: FORM_HEADERS }),
      (response) => {
        if (isGrantRejection(response)) throw new RefreshRejected();
        return readGrant(response, 'refresh');
      },
    );
  }

  /**
   * POST {api}/Invoices/{id}/Pay with our bearer token and nothing of the caller's but the body bytes
   * (as received: never re-serialised) and the request id. The id goes into the path as the client
   * sent it. Any HTTP answer comes back as a PayReply (the caller handles 401); a 5xx, a redirect, an
   * unreadable answer, a timeout or a connection lost mid-call is an OutcomeUnknown.
   */
  async payInvoice(invoiceId: string, body: Buffer, token: AccessToken, requestId: string): Promise<PayReply> {
    const url = `${this.settings.apiUrl}/Invoices/${encodeURIComponent(invoiceId)}/Pay`;
    return this.#call(
      'pay',
      (signal) =>
        this.#http.post(url, body, {
          signal,
          headers: { Authorization: token.authorization(), 'Content-Type': 'application/json', Accept: 'application/json', 'X-Request-Id': requestId },
        }),
      readPayAnswer,
    );
  }

  /** Closes pooled sockets so shutdown is not held open by keep-alive connections to iCG. */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  /**
   * Runs one call under a hard deadline (the socket timeout alone would let a trickling answer run on)
   * and reads the answer with `read`. The outcome metric follows what was read: an answer that
   * `read` refuses counts by its status, or as `invalid_response` when the status looked fine.
   */
  async #call<T>(
    operation: Operation,
    send: (signal: AbortSignal) => Promise<AxiosResponse<string>>,
    read: (response: AxiosResponse<string>) => T,
  ): Promise<T> {
    const started = process.hrtime.bigint();
    const observe = (outcome: string) => {
      this.metrics.upstreamDuration.observe({ operation, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    let response: AxiosResponse<string>;
    // A cleared timer, not AbortSignal.timeout(): that one lives for the full timeout after every call
    // (at 2000 pays/s, 20,000 live timers and signals promoted to the old heap).
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      deadline.abort();
    }, this.settings.timeoutMs);
    try {
      response = await send(deadline.signal);
    } catch (error) {
      const failure = describeFailure(error, operation, this.settings.timeoutMs);
      observe(failure.status === 504 ? 'timeout' : 'network_error');
      throw failure;
    } finally {
      clearTimeout(timer);
    }
    try {
      const result = read(response);
      observe(outcomeOf(response.status));
      return result;
    } catch (error) {
      observe(response.status >= 400 ? outcomeOf(response.status) : 'invalid_response');
      throw error;
    }
  }
}

/**
 * iCG's answer to a pay: relayed when it is JSON (or empty). 5xx, redirects (not followed: a pay is
 * never re-sent) and unreadable answers are failures that may have charged, whatever their status:
 * we cannot tell what iCG did, so a keyed retry replays the failure instead of paying again.
 */
function readPayAnswer(response: AxiosResponse<string>): PayReply {
  const { status } = response;
  if (status >= 500 || (status >= 300 && status < 400)) throw new OutcomeUnknown(502, `iCG answered ${status}`, { upstreamStatus: status });
  if (status === 401) return { status: 401, body: null };
  // An empty answer (204, or a bare 200/4xx) is relayed as a status without a body.
  if (response.data === '') return { status, body: null };
  const parsed = parseJson(response);
  if (parsed === undefined) throw new OutcomeUnknown(502, `iCG answered ${status} without a JSON body`, { upstreamStatus: status });
  return { status, body: parsed };
}

function readGrant(response: AxiosResponse<string>, operation: 'login' | 'refresh'): TokenGrant {
  const { status } = response;
  if (status !== 200) throw new UpstreamUnavailable(`iCG ${operation} answered ${status}`, { upstreamStatus: status });
  const body = parseJson(response);
  if (typeof body !== 'object' || body === null) throw new UpstreamUnavailable(`iCG ${operation} answer is not JSON`, { upstreamStatus: status });
  const grant = body as Record<string, unknown>;
  const accessToken = grant['access_token'];
  const expiresIn = grant['expires_in'];
  const tokenType = grant['token_type'];
  const refreshToken = grant['refresh_token'];
  const expiresInSeconds = typeof expiresIn === 'string' ? Number(expiresIn) : expiresIn;
  if (
    typeof accessToken !== 'string' ||
    accessToken === '' ||
    typeof expiresInSeconds !== 'number' ||
    !(expiresInSeconds > 0) ||
    (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer'))
  ) {
    throw new UpstreamUnavailable(`iCG ${operation} answer lacks a bearer access_token with a positive expires_in`, { upstreamStatus: status });
  }
  return {
    accessToken: new AccessToken(accessToken),
    expiresInSeconds,
    refreshToken: typeof refreshToken === 'string' && refreshToken !== '' ? new Secret(refreshToken) : null,
  };
}

function outcomeOf(status: number): string {
  if (status === 401) return 'unauthorized';
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'client_error';
  return 'success';
}

/**
 * Turns an axios failure into our error, keeping only the error code (never URL, headers or body).
 * A pay that timed out or lost its connection after it was sent may have charged; one that was
 * refused or could not be resolved never left this host.
 */
function describeFailure(error: unknown, operation: Operation, timeoutMs: number): UpstreamFailure {
  const code = error instanceof AxiosError ? (error.code ?? 'unknown') : 'unknown';
  const isTimeout = code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED';
  const neverSent = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
  if (operation === 'pay' && isTimeout) return new OutcomeUnknown(504, `iCG did not answer the pay within ${timeoutMs} ms`);
  if (operation === 'pay' && !neverSent) return new OutcomeUnknown(502, `iCG pay failed (${code})`);
  if (isTimeout) return new UpstreamTimeout(`iCG ${operation} did not answer within ${timeoutMs} ms`);
  return new UpstreamUnavailable(`iCG ${operation} failed (${code})`);
}

/** iCG says the grant itself is wrong (bad credentials or refresh token), as opposed to being down. */
function isGrantRejection(response: AxiosResponse<string>): boolean {
  if (response.status === 401 || response.status === 403) return true;
  if (response.status !== 400) return false;
  const body = parseJson(response);
  const error = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['error'] : undefined;
  return error === 'invalid_grant' || error === 'invalid_client' || error === 'unauthorized_client';
}

/** An application/x-www-form-urlencoded body, as the OAuth token endpoint expects it. */
function formBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

function parseJson(response: AxiosResponse<string>): unknown {
  const type = String(response.headers['content-type'] ?? '');
  if (!/json/i.test(type) || typeof response.data !== 'string') return undefined;
  try {
    return JSON.parse(response.data) as unknown;
  } catch {
    return undefined;
  }
}
