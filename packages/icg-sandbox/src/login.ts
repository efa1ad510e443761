import type { SandboxFaults } from './faults';
import type { TokenAuthority } from './jwt';

/** What /Login needs to decide a grant: the one account the sandbox knows, its faults, its tokens. */
export interface LoginContext {
  readonly clientId: string;
  readonly username: string;
  readonly password: string;
  readonly faults: Readonly<SandboxFaults>;
  readonly tokens: TokenAuthority;
  readonly stats: { logins: number; refreshes: number; loginsRejected: number };
}

/** An answer for /Login: a status and an OAuth 2.0 JSON body. */
export interface GrantAnswer {
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
}

const INVALID_REQUEST: GrantAnswer = { status: 400, body: { error: 'invalid_request' } };
const INVALID_CLIENT: GrantAnswer = { status: 400, body: { error: 'invalid_client' } };
const BAD_PASSWORD: GrantAnswer = { status: 400, body: { error: 'invalid_grant', error_description: 'The user name or password is incorrect.' } };
const BAD_REFRESH: GrantAnswer = { status: 400, body: { error: 'invalid_grant', error_description: 'The refresh token is invalid or has been revoked.' } };

/** The form fields a grant needs, or null when one is missing or empty (OAuth's invalid_request). */
function fields<K extends string>(form: URLSearchParams, names: readonly K[]): Record<K, string> | null {
  const out: Partial<Record<K, string>> = {};
  for (const name of names) {
    const value = form.get(name);
    if (value === null || value === '') return null;
    out[name] = value;
  }
  return out as Record<K, string>;
}

/** A successful token answer in iCG's shape, with a refresh token only when the sandbox hands them out. */
function granted(ctx: LoginContext): GrantAnswer {
  const access = ctx.tokens.mintAccess(ctx.username, ctx.faults.tokenLifetimeSeconds);
  const body: Record<string, unknown> = { access_token: access.token, token_type: 'bearer', expires_in: access.expiresInSeconds };
  if (ctx.faults.issueRefreshTokens) body['refresh_token'] = ctx.tokens.mintRefresh();
  return { status: 200, body };
}

/**
 * Decides a /Login form: the password grant iCG documents, and the standard refresh_token grant the
 * project assumes. Refresh tokens are not rotated: a refreshed one stays valid until revokeAll(), so
 * instances sharing one cannot lock each other out by racing.
 */
export function decideGrant(form: URLSearchParams, ctx: LoginContext): GrantAnswer {
  const grantType = form.get('grant_type');
  if (grantType === 'password') {
    const given = fields(form, ['username', 'password', 'client_id']);
    if (!given) return INVALID_REQUEST;
    let answer: GrantAnswer | null = null;
    if (given.client_id !== ctx.clientId) answer = INVALID_CLIENT;
    else if (ctx.faults.rejectCredentials || given.username !== ctx.username || given.password !== ctx.password) answer = BAD_PASSWORD;
    if (answer) {
      ctx.stats.loginsRejected += 1;
      return answer;
    }
    ctx.stats.logins += 1;
    return granted(ctx);
  }
  if (grantType === 'refresh_token') {
    const given = fields(form, ['refresh_token', 'client_id']);
    if (!given) return INVALID_REQUEST;
    if (given.client_id !== ctx.clientId || !ctx.tokens.acceptsRefresh(given.refresh_token)) return BAD_REFRESH;
    ctx.stats.refreshes += 1;
    return granted(ctx);
  }
  return grantType === null || grantType === '' ? INVALID_REQUEST : { status: 400, body: { error: 'unsupported_grant_type' } };
}
