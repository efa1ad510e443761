import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpstreamFailure, UpstreamRejected, UpstreamUnavailable } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { Secret } from '../secret';
import { StateUnavailable, type SharedState } from '../state/shared-state';
import { AccessToken } from './access-token';
import { RefreshRejected, type IcgClient, type TokenGrant } from './client';
import { nextBackoffMs, tokenTimes, type RefreshPolicy } from './token-timing';

/** How long a failed login (iCG's auth down or slow, not rejecting us) is answered again instead of retried. */
const FAILED_LOGIN_PAUSE_MS = 1000;

/** The token as it is stored in Redis (one JSON string, compared whole for compare-and-delete). */
interface StoredToken {
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly refreshAt: number;
  readonly refreshToken: string | null;
  /** When it was requested from iCG (0: unknown, stored by an older version). */
  readonly issuedAt: number;
}

/** A token this process holds. `raw` is its stored form: the identity used to invalidate it. */
export interface HeldToken {
  readonly token: AccessToken;
  readonly raw: string;
  readonly expiresAt: number;
  readonly refreshAt: number;
  readonly refreshToken: Secret | null;
  readonly issuedAt: number;
}

interface Backoff {
  readonly until: number;
  readonly delayMs: number;
}

export interface TokenManagerOptions {
  readonly client: IcgClient;
  readonly state: SharedState;
  /** Distinguishes merchants that share a Redis: one token per (client id, username). */
  readonly clientId: Secret;
  readonly username: Secret;
  readonly policy: RefreshPolicy;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  /** How long a login lock lives if its holder dies; longer than a login can take. */
  readonly lockTtlMs: number;
  /** How long a caller waits for another instance's login before giving up. */
  readonly waitTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now?: () => number;
}

/**
 * One access token for the whole deployment. getToken() answers from memory on the hot path;
 * near expiry one caller per process renews it in the background while the old token serves; when
 * none is held, callers in this process share one renewal (single flight) and processes share one
 * login through a Redis lock with a fencing value: the winner logs in and stores the token, the
 * others wait for it. A token iCG refuses is dropped only if it is still the stored one, so a stale
 * 401 on one instance cannot throw away a fresh token another instance just stored.
 */
export class TokenManager {
  readonly #o: TokenManagerOptions;
  readonly #now: () => number;
  readonly #keys: { token: string; lock: string; backoff: string };
  #held: HeldToken | null = null;
  #renewal: Promise<HeldToken> | null = null;
  #backoff: Backoff | null = null;
  /** The last failed renewal (iCG auth down, not rejecting us), answered again until `until`. */
  #failure: { until: number; error: unknown } | null = null;

  constructor(options: TokenManagerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    const id = createHash('sha256').update(`${options.clientId.reveal()}\0${options.username.reveal()}`).digest('hex').slice(0, 16);
    // One hash tag, so a Redis Cluster keeps the three keys of one merchant on one slot.
    this.#keys = { token: `token:{${id}}`, lock: `token-lock:{${id}}`, backoff: `login-backoff:{${id}}` };
  }

  /** A token to call iCG with: from memory while fresh, renewed ahead of expiry, shared by all instances. */
  async getToken(): Promise<HeldToken> {
    const now = this.#now();
    const held = this.#held;
    if (held && now < held.refreshAt) return held;
    if (held && now < held.expiresAt) {
      this.#renewInBackground();
      return held;
    }
    return this.#renew();
  }

  /**
   * Drops a token iCG answered 401 to: from memory, and from Redis only if Redis still holds that very
   * token. Returns when that was, for refuse().
   */
  async invalidate(held: HeldToken): Promise<number> {
    const at = this.#now();
    this.#o.metrics.tokenInvalidations.inc();
    if (this.#held?.raw === held.raw) this.#held = null;
    try {
      await this.#o.state.deleteIfEquals(this.#keys.token, held.raw);
    } catch (error) {
      if (!(error instanceof StateUnavailable)) throw error;
      this.#o.metrics.degradedOperations.inc({ operation: 'token' });
    }
    return at;
  }

  /**
   * iCG answered 401 to the token a pay got after its first token was refused at `firstRefusedAt`.
   * If that token was issued since, no new token will do better (the merchant user may lack the right
   * to pay, or iCG is misbehaving): handled like rejected credentials, logins pause on every instance
   * (once: the many pays refused at the same moment do not each double the pause). An older token
   * (stored before the refusal, e.g. during a mass revocation) is only dropped. Returns the error to
   * answer with.
   */
  async refuse(held: HeldToken, firstRefusedAt: number): Promise<UpstreamRejected> {
    await this.invalidate(held);
    if (held.issuedAt < firstRefusedAt) return new UpstreamRejected('iCG refused the access token; try again shortly', { retryAfterSeconds: 1 });
    if (!this.#isBackingOff()) await this.#enterBackoff('token_refused');
    return new UpstreamRejected('iCG refused a freshly issued access token; payments are paused while the merchant checks the iCG user', { retryAfterSeconds: this.#backoffSeconds() });
  }

  /**
   * Writes the held token back to Redis if Redis has none (it restarted empty): other instances then
   * pick it up instead of logging in again. Called when the Redis connection becomes ready again.
   */
  async republish(): Promise<void> {
    const held = this.#held;
    const ttlMs = held ? held.expiresAt - this.#now() : 0;
    if (!held || ttlMs <= 0) return;
    await this.#o.state.setIfAbsent(this.#keys.token, held.raw, ttlMs).catch(() => undefined);
  }

  /** Seconds until the held token expires; 0 when none is held. For metrics and readiness. */
  secondsToExpiry(): number {
    return this.#held ? Math.max(0, (this.#held.expiresAt - this.#now()) / 1000) : 0;
  }

  /**
   * One renewal at a time. A renewal that fails is not tried again for FAILED_LOGIN_PAUSE_MS: while
   * iCG's login is down, pays get the same answer at once instead of sending iCG a login each.
   */
  #renew(): Promise<HeldToken> {
    if (this.#failure && this.#isPausedAfterFailure()) return Promise.reject(this.#failure.error);
    this.#renewal ??= this.#obtain()
      .catch((error: unknown) => {
        if (error instanceof UpstreamFailure) this.#failure = { until: this.#now() + FAILED_LOGIN_PAUSE_MS, error };
        throw error;
      })
      .finally(() => {
        this.#renewal = null;
      });
    return this.#renewal;
  }

  #renewInBackground(): void {
    // A failure being answered again would only be logged again.
    if (this.#renewal || this.#isPausedAfterFailure()) return;
    this.#renew().catch((error: unknown) => {
      this.#o.logger.warn({ event: 'token_refresh_failed', err: { message: error instanceof Error ? error.message : 'unknown' } }, 'background token renewal failed; the current token serves until it expires');
    });
  }

  async #obtain(): Promise<HeldToken> {
    const deadline = this.#now() + this.#o.waitTimeoutMs;
    let hasWaited = false;
    for (;;) {
      this.#throwIfBackingOff();
      let raw: string | null;
      let backoffRaw: string | null;
      try {
        [raw = null, backoffRaw = null] = await this.#o.state.getMany([this.#keys.token, this.#keys.backoff]);
      } catch (error) {
        return this.#obtainWithoutSharedState(error);
      }
      this.#adoptBackoff(backoffRaw);
      this.#throwIfBackingOff();
      const stored = parseStored(raw);
      if (raw !== null && stored && this.#now() < stored.refreshAt) return this.#hold(raw, stored);

      const fence = randomUUID();
      let isOwner: boolean;
      try {
        isOwner = await this.#o.state.setIfAbsent(this.#keys.lock, fence, this.#o.lockTtlMs);
      } catch (error) {
        return this.#obtainWithoutSharedState(error);
      }
      if (isOwner) return this.#obtainAsLockOwner(fence, stored).catch((error: unknown) => this.#obtainWithoutSharedState(error));

      // Another instance is logging in. A still-valid stored token serves meanwhile; otherwise wait.
      if (raw !== null && stored && this.#now() < stored.expiresAt) return this.#hold(raw, stored);
      if (!hasWaited) this.#o.metrics.tokenLockWaits.inc();
      hasWaited = true;
      if (this.#now() >= deadline) throw new UpstreamUnavailable('timed out waiting for another instance to log in to iCG', false, { retryAfterSeconds: 1 });
      await sleep(15 + Math.random() * 35);
    }
  }

  async #obtainAsLockOwner(fence: string, previous: StoredToken | null): Promise<HeldToken> {
    try {
      // Someone may have stored a token between our read and our lock: then no login is needed.
      const raw = await this.#o.state.get(this.#keys.token);
      const stored = parseStored(raw);
      if (raw !== null && stored && this.#now() < stored.refreshAt) return this.#hold(raw, stored);
      const next = await this.#grant(previous);
      try {
        await this.#o.state.set(this.#keys.token, next.raw, storedLifetimeMs(next.stored, this.#now()));
      } catch (error) {
        if (!(error instanceof StateUnavailable)) throw error;
        this.#o.metrics.degradedOperations.inc({ operation: 'token' });
      }
      return this.#hold(next.raw, next.stored);
    } finally {
      await this.#o.state.deleteIfEquals(this.#keys.lock, fence).catch(() => undefined);
    }
  }

  /** Redis is unreachable: log in from this process alone (still single-flight here), counted as degraded. */
  async #obtainWithoutSharedState(error: unknown): Promise<HeldToken> {
    if (!(error instanceof StateUnavailable)) throw error;
    this.#o.metrics.degradedOperations.inc({ operation: 'token' });
    const held = this.#held;
    if (held && this.#now() < held.expiresAt) return held;
    const next = await this.#grant(held ? { accessToken: '', expiresAt: held.expiresAt, refreshAt: held.refreshAt, refreshToken: held.refreshToken?.reveal() ?? null, issuedAt: held.issuedAt } : null);
    return this.#hold(next.raw, next.stored);
  }

  /** The refresh grant when a refresh token is at hand, else (or when refused) the password grant. */
  async #grant(previous: StoredToken | null): Promise<{ raw: string; stored: StoredToken }> {
    const requestedAt = this.#now();
    let grant: TokenGrant | null = null;
    if (previous?.refreshToken) {
      try {
        grant = await this.#o.client.refresh(new Secret(previous.refreshToken));
        this.#o.metrics.tokenAcquisitions.inc({ kind: 'refresh', result: 'success' });
      } catch (error) {
        this.#o.metrics.tokenAcquisitions.inc({ kind: 'refresh', result: error instanceof RefreshRejected ? 'rejected' : 'failed' });
        if (!(error instanceof RefreshRejected)) throw error;
      }
    }
    grant ??= await this.#login();
    const times = tokenTimes(requestedAt, grant.expiresInSeconds, this.#o.policy);
    const stored: StoredToken = { accessToken: grant.accessToken.reveal(), ...times, refreshToken: grant.refreshToken?.reveal() ?? null, issuedAt: requestedAt };
    this.#o.logger.info({ event: 'token_obtained', expiresInSeconds: grant.expiresInSeconds, hasRefreshToken: grant.refreshToken !== null }, 'obtained a new iCG access token');
    return { raw: JSON.stringify(stored), stored };
  }

  async #login(): Promise<TokenGrant> {
    try {
      const grant = await this.#o.client.login();
      this.#o.metrics.tokenAcquisitions.inc({ kind: 'login', result: 'success' });
      if (this.#backoff) {
        this.#backoff = null;
        await this.#o.state.delete(this.#keys.backoff).catch(() => undefined);
      }
      return grant;
    } catch (error) {
      if (!(error instanceof UpstreamRejected)) {
        this.#o.metrics.tokenAcquisitions.inc({ kind: 'login', result: 'failed' });
        throw error;
      }
      this.#o.metrics.tokenAcquisitions.inc({ kind: 'login', result: 'rejected' });
      await this.#enterBackoff('credentials_rejected');
      throw this.#backoffError();
    }
  }

  /** Rejected credentials or token: pause logins on every instance, doubling the pause on each further rejection. */
  async #enterBackoff(reason: 'credentials_rejected' | 'token_refused'): Promise<void> {
    const delayMs = nextBackoffMs(this.#backoff?.delayMs ?? null, this.#o.backoff.baseMs, this.#o.backoff.maxMs);
    this.#backoff = { until: this.#now() + delayMs, delayMs };
    if (reason === 'credentials_rejected') this.#o.logger.error({ event: 'icg_credentials_rejected', backoffMs: delayMs }, 'iCG rejected the merchant credentials: logins paused on every instance; check ICG_CLIENT_ID, ICG_USERNAME and ICG_PASSWORD');
    else this.#o.logger.error({ event: 'icg_token_refused', backoffMs: delayMs }, 'iCG refused a freshly issued access token: logins paused on every instance; check that the iCG user may pay invoices');
    // The key outlives the pause so the next rejection anywhere knows to double it.
    await this.#o.state.set(this.#keys.backoff, JSON.stringify(this.#backoff), delayMs + this.#o.backoff.maxMs).catch(() => undefined);
  }

  #adoptBackoff(raw: string | null): void {
    if (raw === null) return;
    try {
      const parsed = JSON.parse(raw) as Backoff;
      if (typeof parsed.until === 'number' && typeof parsed.delayMs === 'number') this.#backoff = parsed;
    } catch {
      this.#backoff = null;
    }
  }

  #throwIfBackingOff(): void {
    if (this.#isBackingOff()) throw this.#backoffError();
  }

  #isPausedAfterFailure(): boolean {
    return this.#failure !== null && this.#now() < this.#failure.until;
  }

  #isBackingOff(): boolean {
    return this.#backoff !== null && this.#now() < this.#backoff.until;
  }

  #backoffSeconds(): number {
    return Math.max(1, Math.ceil(((this.#backoff?.until ?? this.#now()) - this.#now()) / 1000));
  }

  #backoffError(): UpstreamRejected {
    return new UpstreamRejected('iCG rejected this service\'s credentials; payments are paused while the merchant fixes them', { retryAfterSeconds: this.#backoffSeconds() });
  }

  #hold(raw: string, stored: StoredToken): HeldToken {
    if (this.#held?.raw === raw) return this.#held;
    const held: HeldToken = {
      token: new AccessToken(stored.accessToken),
      raw,
      expiresAt: stored.expiresAt,
      refreshAt: stored.refreshAt,
      refreshToken: stored.refreshToken === null ? null : new Secret(stored.refreshToken),
      issuedAt: stored.issuedAt,
    };
    this.#held = held;
    return held;
  }
}

/**
 * How long Redis keeps a token record: until the access token expires, and when there is a refresh
 * token, as long again (at most a day), so an expired access token can still be renewed by the
 * refresh grant instead of a password login. Readers always check expiresAt themselves.
 */
function storedLifetimeMs(stored: StoredToken, now: number): number {
  const remaining = stored.expiresAt - now;
  return stored.refreshToken === null ? remaining : remaining + Math.min(Math.max(remaining, 0), 86_400_000);
}

function parseStored(raw: string | null): StoredToken | null {
  if (raw === null) return null;
  try {
    const value = JSON.parse(raw) as Partial<StoredToken>;
    if (typeof value.accessToken !== 'string' || typeof value.expiresAt !== 'number' || typeof value.refreshAt !== 'number') return null;
    return { accessToken: value.accessToken, expiresAt: value.expiresAt, refreshAt: value.refreshAt, refreshToken: typeof value.refreshToken === 'string' ? value.refreshToken : null, issuedAt: typeof value.issuedAt === 'number' ? value.issuedAt : 0 };
  } catch {
    return null;
  }
}
