import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock';
import { UpstreamFailure, UpstreamRejected, UpstreamUnavailable } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { Secret } from '../secret';
import { StateUnavailable } from '../state/shared-state';
import { AccessToken } from './access-token';
import { RefreshRejected, type TokenGrant } from './client';
import { FailurePause, LoginBackoff } from './login-backoff';
import { toRecord, type TokenRecord, type TokenStore } from './token-record';
import { tokenTimes, type RefreshPolicy } from './token-timing';

/** How long a failed login (iCG's auth down or slow, not rejecting us) is answered again instead of retried. */
const FAILED_LOGIN_PAUSE_MS = 1000;

/** The two grants iCG's /Login offers (IcgClient; a test double in unit tests). */
export interface GrantSource {
  login(): Promise<TokenGrant>;
  refresh(refreshToken: Secret): Promise<TokenGrant>;
}

/** A token this process holds, with its stored record (its identity when it is refused). */
export interface HeldToken {
  readonly token: AccessToken;
  readonly record: TokenRecord;
  readonly expiresAt: number;
  readonly refreshAt: number;
  readonly issuedAt: number;
}

export interface TokenManagerOptions {
  readonly grants: GrantSource;
  readonly store: TokenStore;
  readonly policy: RefreshPolicy;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  /** How long a login lock lives if its holder dies; longer than a login can take. */
  readonly lockTtlMs: number;
  /** How long a caller waits for another instance's login before giving up. */
  readonly waitTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock?: Clock;
}

/**
 * One access token for the whole deployment. getToken() answers from memory on the hot path; near
 * expiry one caller per process renews it in the background while the old token serves; when none is
 * held, callers in this process share one renewal (single flight) and processes share one login
 * through the store's login lock: the winner logs in and stores the token, the others wait for it.
 */
export class TokenManager {
  readonly #o: TokenManagerOptions;
  readonly #clock: Clock;
  readonly #backoff: LoginBackoff;
  readonly #failure: FailurePause;
  #held: HeldToken | null = null;
  #renewal: Promise<HeldToken> | null = null;

  constructor(options: TokenManagerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new LoginBackoff(options.backoff.baseMs, options.backoff.maxMs, this.#clock);
    this.#failure = new FailurePause(FAILED_LOGIN_PAUSE_MS, this.#clock);
  }

  /** A token to call iCG with: from memory while fresh, renewed ahead of expiry, shared by all instances. */
  async getToken(): Promise<HeldToken> {
    const now = this.#clock.now();
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
   * token (so one instance's stale 401 cannot throw away a fresh token another just stored). Returns
   * when that was, for refuse().
   */
  async invalidate(held: HeldToken): Promise<number> {
    const at = this.#clock.now();
    this.#o.metrics.tokenInvalidations.inc();
    if (this.#held?.record.raw === held.record.raw) this.#held = null;
    await this.#o.store.drop(held.record);
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
    if (!this.#backoff.isActive) await this.#enterBackoff('token_refused');
    return new UpstreamRejected('iCG refused a freshly issued access token; payments are paused while the merchant checks the iCG user', {
      retryAfterSeconds: this.#backoff.secondsLeft,
    });
  }

  /** Writes the held token back to Redis if Redis has none (it restarted empty): other instances adopt it. */
  async republish(): Promise<void> {
    if (this.#held) await this.#o.store.putBack(this.#held.record, this.#clock.now());
  }

  /** Seconds until the held token expires; 0 when none is held. For metrics and readiness. */
  secondsToExpiry(): number {
    return this.#held ? Math.max(0, (this.#held.expiresAt - this.#clock.now()) / 1000) : 0;
  }

  /** One renewal at a time. A renewal that failed is answered again for a moment instead of retried. */
  #renew(): Promise<HeldToken> {
    const failure = this.#failure.current;
    if (failure !== undefined) return Promise.reject(failure instanceof Error ? failure : new Error('login failed'));
    this.#renewal ??= this.#obtain()
      .catch((error: unknown) => {
        if (error instanceof UpstreamFailure) this.#failure.record(error);
        throw error;
      })
      .finally(() => {
        this.#renewal = null;
      });
    return this.#renewal;
  }

  #renewInBackground(): void {
    // A failure being answered again would only be logged again.
    if (this.#renewal || this.#failure.isActive) return;
    this.#renew().catch((error: unknown) => {
      this.#o.logger.warn(
        { event: 'token_refresh_failed', err: { message: error instanceof Error ? error.message : 'unknown' } },
        'background token renewal failed; the current token serves until it expires',
      );
    });
  }

  /** The shared token if one is fresh, else a login of our own under the lock, else waiting for another instance's. */
  async #obtain(): Promise<HeldToken> {
    const deadline = this.#clock.now() + this.#o.waitTimeoutMs;
    let hasWaited = false;
    for (;;) {
      this.#throwIfBackingOff();
      let stored: TokenRecord | null;
      let isOwner: boolean;
      const fence = randomUUID();
      try {
        const read = await this.#o.store.read();
        this.#backoff.adopt(read.backoff);
        this.#throwIfBackingOff();
        stored = read.record;
        if (stored && this.#clock.now() < stored.token.refreshAt) return this.#hold(stored);
        isOwner = await this.#o.store.tryLock(fence, this.#o.lockTtlMs);
      } catch (error) {
        return this.#obtainWithoutSharedState(error);
      }
      if (isOwner) return this.#obtainAsLockOwner(fence, stored);

      // Another instance is logging in. A still-valid stored token serves meanwhile; otherwise wait.
      if (stored && this.#clock.now() < stored.token.expiresAt) return this.#hold(stored);
      if (!hasWaited) this.#o.metrics.tokenLockWaits.inc();
      hasWaited = true;
      if (this.#clock.now() >= deadline)
        throw new UpstreamUnavailable('timed out waiting for another instance to log in to iCG', false, { retryAfterSeconds: 1 });
      await this.#clock.sleep(15 + Math.random() * 35);
    }
  }

  async #obtainAsLockOwner(fence: string, previous: TokenRecord | null): Promise<HeldToken> {
    try {
      // Someone may have stored a token between our read and our lock: then no login is needed.
      const current = await this.#o.store.readToken();
      if (current && this.#clock.now() < current.token.refreshAt) return this.#hold(current);
      const next = await this.#grant(previous?.token.refreshToken ?? null);
      await this.#o.store.write(next, this.#clock.now());
      return this.#hold(next);
    } catch (error) {
      return await this.#obtainWithoutSharedState(error);
    } finally {
      await this.#o.store.unlock(fence);
    }
  }

  /** Redis is unreachable: log in from this process alone (still single flight here), counted as degraded. */
  async #obtainWithoutSharedState(error: unknown): Promise<HeldToken> {
    if (!(error instanceof StateUnavailable)) throw error;
    this.#o.metrics.degradedOperations.inc({ operation: 'token' });
    const held = this.#held;
    if (held && this.#clock.now() < held.expiresAt) return held;
    return this.#hold(await this.#grant(held?.record.token.refreshToken ?? null));
  }

  /** The refresh grant when a refresh token is at hand, else (or when refused) the password grant. */
  async #grant(refreshToken: string | null): Promise<TokenRecord> {
    const requestedAt = this.#clock.now();
    let grant: TokenGrant | null = null;
    if (refreshToken) {
      try {
        grant = await this.#o.grants.refresh(new Secret(refreshToken));
        this.#o.metrics.tokenAcquisitions.inc({ kind: 'refresh', result: 'success' });
      } catch (error) {
        this.#o.metrics.tokenAcquisitions.inc({ kind: 'refresh', result: error instanceof RefreshRejected ? 'rejected' : 'failed' });
        if (!(error instanceof RefreshRejected)) throw error;
      }
    }
    grant ??= await this.#login();
    const times = tokenTimes(requestedAt, grant.expiresInSeconds, this.#o.policy);
    this.#o.logger.info(
      { event: 'token_obtained', expiresInSeconds: grant.expiresInSeconds, hasRefreshToken: grant.refreshToken !== null },
      'obtained a new iCG access token',
    );
    return toRecord({ accessToken: grant.accessToken.reveal(), ...times, refreshToken: grant.refreshToken?.reveal() ?? null, issuedAt: requestedAt });
  }

  async #login(): Promise<TokenGrant> {
    try {
      const grant = await this.#o.grants.login();
      this.#o.metrics.tokenAcquisitions.inc({ kind: 'login', result: 'success' });
      if (this.#backoff.clear()) await this.#o.store.clearBackoff();
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
    const { pause, raw, ttlMs } = this.#backoff.enter();
    if (reason === 'credentials_rejected')
      this.#o.logger.error(
        { event: 'icg_credentials_rejected', backoffMs: pause.delayMs },
        'iCG rejected the merchant credentials: logins paused on every instance; check ICG_CLIENT_ID, ICG_USERNAME and ICG_PASSWORD',
      );
    else
      this.#o.logger.error(
        { event: 'icg_token_refused', backoffMs: pause.delayMs },
        'iCG refused a freshly issued access token: logins paused on every instance; check that the iCG user may pay invoices',
      );
    await this.#o.store.writeBackoff(raw, ttlMs);
  }

  #throwIfBackingOff(): void {
    if (this.#backoff.isActive) throw this.#backoffError();
  }

  #backoffError(): UpstreamRejected {
    return new UpstreamRejected("iCG rejected this service's credentials; payments are paused while the merchant fixes them", {
      retryAfterSeconds: this.#backoff.secondsLeft,
    });
  }

  #hold(record: TokenRecord): HeldToken {
    if (this.#held?.record.raw === record.raw) return this.#held;
    const { token } = record;
    const held: HeldToken = {
      token: new AccessToken(token.accessToken),
      record,
      expiresAt: token.expiresAt,
      refreshAt: token.refreshAt,
      issuedAt: token.issuedAt,
    };
    this.#held = held;
    return held;
  }
}
