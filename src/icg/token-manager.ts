import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock';
import { TokenRefused, UpstreamFailure, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable } from '../errors';
import type { Keyring, KeyedDigest } from '../keyring';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { Secret } from '../secret';
import type { RedisTrouble } from '../state/redis-trouble';
import { StateUnavailable, type SharedState } from '../state/shared-state';
import { withinMs } from '../within';
import { AccessToken } from './access-token';
import { RefreshRejected, type TokenGrant } from './client';
import type { Credentials, CredentialsProvider } from './credentials';
import { FailurePause, LoginBackoff } from './login-backoff';
import { isShortLived, SHORT_TOKEN_LOGIN_INTERVAL_MS, toRecord, tokenKeys, TokenStore, type TokenRecord } from './token-record';
import { tokenTimes, type RefreshPolicy } from './token-timing';

/** How long a failed login (iCG's auth down or slow, not rejecting us) is answered again instead of retried. */
const FAILED_LOGIN_PAUSE_MS = 1000;
/** Logins that follow iCG refusing a token: at most one per this long, deployment-wide. */
export const REFUSAL_LOGIN_INTERVAL_MS = 5000;
/** How long a refusal is remembered: past the login slot that follows it, so that slot's gate still holds when it ends. */
const REFUSAL_MARKER_MS = 2 * REFUSAL_LOGIN_INTERVAL_MS;
/** iCG's expires_in is believed up to this (a token "valid for 30 years" would never be renewed). */
const MAX_TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600;

/** The two grants iCG's /Login offers (IcgClient; a test double in unit tests). */
export interface GrantSource {
  login(credentials: Credentials): Promise<TokenGrant>;
  refresh(refreshToken: Secret, clientId: Secret): Promise<TokenGrant>;
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
  readonly credentials: CredentialsProvider;
  /** Fingerprints the credentials a login pause is for, without storing them. */
  readonly keyring: Keyring;
  readonly state: SharedState;
  readonly trouble: RedisTrouble;
  readonly policy: RefreshPolicy;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  /** ICG_TIMEOUT_MS: how long one login or pay may take. */
  readonly callTimeoutMs: number;
  /** How long a login lock lives if its holder dies; longer than a login can take. */
  readonly lockTtlMs: number;
  /** How long a renewal waits for another instance's login before giving up. */
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
 * A pay passes its deadline: nobody waits past it, and no login starts that could not finish in it.
 */
export class TokenManager {
  readonly #o: TokenManagerOptions;
  readonly #clock: Clock;
  readonly #backoff: LoginBackoff;
  readonly #failure: FailurePause;
  #store: TokenStore;
  #held: HeldToken | null = null;
  #renewal: Promise<HeldToken> | null = null;
  /** The refusal marker and gate while Redis cannot keep them (this process only). */
  #localRefusedAt = -Infinity;
  #localRefusalLoginAt = -Infinity;

  constructor(options: TokenManagerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new LoginBackoff(options.backoff.baseMs, options.backoff.maxMs, this.#clock);
    this.#failure = new FailurePause(FAILED_LOGIN_PAUSE_MS, this.#clock);
    this.#store = this.#storeFor(options.credentials.current);
  }

  /**
   * A token to call iCG with: from memory while fresh, renewed ahead of expiry, shared by all
   * instances. With a `deadline` (epoch ms), it arrives in time to leave a whole call to iCG before
   * the deadline, or not at all (UpstreamTimeout: nothing was sent).
   */
  async getToken(deadline?: number): Promise<HeldToken> {
    const now = this.#clock.now();
    const held = this.#held;
    if (held && now < held.refreshAt) return held;
    if (held && now < held.expiresAt) {
      this.#renewInBackground();
      return held;
    }
    return this.#beforeDeadline(this.#renew(deadline), deadline);
  }

  /**
   * iCG answered 401 to a pay sent with `held`. The token is dropped (from Redis only if Redis still
   * holds that very token: one instance's stale 401 cannot throw away a fresh token another just
   * stored), and a replacement is found: another token stored or held since, or one login. Logins that follow a
   * refusal are capped at one per few seconds across the deployment; a pay that finds the cap spent
   * fails alone (TokenRefused), it never pauses the others.
   */
  async replaceRefused(held: HeldToken, deadline?: number): Promise<HeldToken> {
    this.#o.metrics.tokenInvalidations.inc();
    if (this.#held?.record.raw === held.record.raw) this.#held = null;
    this.#localRefusedAt = this.#clock.now();
    await Promise.all([this.#store.drop(held.record), this.#o.trouble.tolerate('token', () => this.#store.markRefused(REFUSAL_MARKER_MS))]);
    const now = this.#clock.now();
    const newer =
      this.#held ??
      (await this.#o.trouble
        .degrade(
          'token',
          () => this.#store.readToken(),
          () => null,
        )
        .then((record) => (record ? this.#hold(record) : null)));
    // The refused token was just dropped wherever it was stored: any token found now was issued since.
    if (newer && newer.record.raw !== held.record.raw && now < newer.expiresAt) return newer;
    return this.#beforeDeadline(this.#renew(deadline), deadline);
  }

  /** Writes the held token back to Redis if Redis has none (it restarted empty): other instances adopt it. */
  async republish(): Promise<void> {
    if (this.#held) await this.#store.putBack(this.#held.record, this.#clock.now());
  }

  /**
   * Reads the credentials again (SIGHUP). The next login uses them; the held token serves on until it
   * expires or is refused. A pause for credentials that were rejected ends when they change.
   */
  reloadCredentials(): boolean {
    const changed = this.#o.credentials.reload();
    if (changed) {
      this.#store = this.#storeFor(this.#o.credentials.current);
      this.#backoff.clear();
      this.#o.logger.warn({ event: 'icg_credentials_reloaded' }, 'iCG credentials changed: the next login uses the new ones');
    }
    return changed;
  }

  /** Seconds until the held token expires; 0 when none is held. For metrics and readiness. */
  secondsToExpiry(): number {
    return this.#held ? Math.max(0, (this.#held.expiresAt - this.#clock.now()) / 1000) : 0;
  }

  /** True while logins are paused because iCG rejected the current credentials. For readiness detail. */
  get isCredentialsRejected(): boolean {
    return this.#backoff.isActive;
  }

  #storeFor(credentials: Credentials): TokenStore {
    return new TokenStore(this.#o.state, tokenKeys(credentials.clientId, credentials.username), this.#o.trouble);
  }

  /** Waits for `work` until there would be no time left for a call to iCG before `deadline`. */
  async #beforeDeadline<T>(work: Promise<T>, deadline: number | undefined): Promise<T> {
    if (deadline === undefined) return work;
    const availableMs = deadline - this.#o.callTimeoutMs - this.#clock.now();
    const timedOut = () => new UpstreamTimeout('no access token in time to pay within the deadline; nothing was sent', { retryAfterSeconds: 1 });
    if (availableMs <= 0) throw timedOut();
    return withinMs(availableMs, work, timedOut);
  }

  /** One renewal at a time. A renewal that failed is answered again for a moment instead of retried. */
  #renew(deadline?: number): Promise<HeldToken> {
    const failure = this.#failure.current;
    if (failure !== undefined) return Promise.reject(failure instanceof Error ? failure : new Error('login failed'));
    this.#renewal ??= this.#obtain(deadline)
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
  async #obtain(deadline: number | undefined): Promise<HeldToken> {
    const waitUntil = this.#clock.now() + this.#o.waitTimeoutMs;
    let hasWaited = false;
    for (;;) {
      this.#throwIfBackingOff();
      let stored: TokenRecord | null;
      let isOwner: boolean;
      const fence = randomUUID();
      try {
        const read = await this.#store.read();
        this.#backoff.adopt(read.backoff, (digest) => this.#isCurrentCredentials(digest));
        this.#throwIfBackingOff();
        stored = read.record;
        if (stored && this.#clock.now() < stored.token.refreshAt) return this.#hold(stored);
        isOwner = await this.#store.tryLock(fence, this.#o.lockTtlMs);
      } catch (error) {
        return await this.#obtainWithoutSharedState(error, deadline);
      }
      if (isOwner) return this.#obtainAsLockOwner(fence, stored, deadline);

      // Another instance is logging in. A still-valid stored token serves meanwhile; otherwise wait.
      if (stored && this.#clock.now() < stored.token.expiresAt) return this.#hold(stored);
      if (!hasWaited) this.#o.metrics.tokenLockWaits.inc();
      hasWaited = true;
      if (this.#clock.now() >= waitUntil) throw new UpstreamUnavailable('timed out waiting for another instance to log in to iCG', { retryAfterSeconds: 1 });
      await this.#clock.sleep(15 + Math.random() * 35);
    }
  }

  async #obtainAsLockOwner(fence: string, previous: TokenRecord | null, deadline: number | undefined): Promise<HeldToken> {
    try {
      // Someone may have stored a token between our read and our lock: then no login is needed.
      const current = await this.#store.readToken();
      if (current && this.#clock.now() < current.token.refreshAt) return this.#hold(current);
      await this.#gateLoginAfterRefusal();
      const next = await this.#grant(previous, deadline);
      await this.#store.write(next, this.#clock.now());
      return this.#hold(next);
    } catch (error) {
      return await this.#obtainWithoutSharedState(error, deadline);
    } finally {
      await this.#store.unlock(fence);
    }
  }

  /** Redis is unreachable: log in from this process alone (still single flight here), counted as degraded. */
  async #obtainWithoutSharedState(error: unknown, deadline: number | undefined): Promise<HeldToken> {
    if (!(error instanceof StateUnavailable)) throw error;
    this.#o.metrics.degradedOperations.inc({ operation: 'token' });
    const held = this.#held;
    if (held && this.#clock.now() < held.expiresAt) return held;
    await this.#gateLoginAfterRefusal();
    return this.#hold(await this.#grant(held?.record ?? null, deadline));
  }

  /**
   * Right after iCG refused a token (whichever pay or instance saw it), a login needs the one slot the
   * deployment allows per REFUSAL_LOGIN_INTERVAL_MS; a pay that finds it taken fails alone (TokenRefused).
   */
  async #gateLoginAfterRefusal(): Promise<void> {
    const wasRefused = await this.#o.trouble.degrade(
      'token',
      () => this.#store.wasRefused(),
      () => this.#clock.now() - this.#localRefusedAt < REFUSAL_MARKER_MS,
    );
    if (wasRefused && !(await this.#mayLoginAfterRefusal())) {
      throw new TokenRefused('iCG refused the access token for this payment and a new one was fetched moments ago; nothing was charged, retry shortly', {
        retryAfterSeconds: REFUSAL_LOGIN_INTERVAL_MS / 1000,
      });
    }
  }

  /** Whether a login may follow a refusal now: one per REFUSAL_LOGIN_INTERVAL_MS across the deployment (this process alone without Redis). */
  async #mayLoginAfterRefusal(): Promise<boolean> {
    return this.#o.trouble.degrade(
      'token',
      () => this.#store.tryRefusalLogin(REFUSAL_LOGIN_INTERVAL_MS),
      () => {
        const now = this.#clock.now();
        if (now - this.#localRefusalLoginAt < REFUSAL_LOGIN_INTERVAL_MS) return false;
        this.#localRefusalLoginAt = now;
        return true;
      },
    );
  }

  /**
   * The refresh grant when a refresh token is at hand, else (or when refused) the password grant. No
   * grant starts unless it and the pay after it fit in the deadline; a token that iCG said lives under
   * 30 s is not replaced more than once per 30 s.
   */
  async #grant(previous: TokenRecord | null, deadline: number | undefined): Promise<TokenRecord> {
    if (previous && isShortLived(previous.token)) {
      const nextLoginAt = previous.token.issuedAt + SHORT_TOKEN_LOGIN_INTERVAL_MS;
      const waitMs = nextLoginAt - this.#clock.now();
      if (waitMs > 0)
        throw new UpstreamUnavailable('iCG issues access tokens that live under 30 s; logins are limited to one per 30 s', {
          retryAfterSeconds: Math.ceil(waitMs / 1000),
        });
    }
    const requestedAt = this.#clock.now();
    let grant: TokenGrant | null = null;
    const refreshToken = previous?.token.refreshToken;
    if (refreshToken) {
      this.#ensureTimeForGrant(deadline);
      try {
        grant = await this.#o.grants.refresh(new Secret(refreshToken), this.#o.credentials.current.clientId);
        this.#o.metrics.tokenAcquisitions.inc({ kind: 'refresh', result: 'success' });
      } catch (error) {
        this.#o.metrics.tokenAcquisitions.inc({ kind: 'refresh', result: error instanceof RefreshRejected ? 'rejected' : 'failed' });
        if (!(error instanceof RefreshRejected)) throw error;
      }
    }
    if (!grant) {
      this.#ensureTimeForGrant(deadline);
      grant = await this.#login();
    }
    const lifetimeSeconds = this.#believedLifetime(grant.expiresInSeconds);
    const times = tokenTimes(requestedAt, lifetimeSeconds, this.#o.policy);
    this.#o.logger.info(
      { event: 'token_obtained', expiresInSeconds: lifetimeSeconds, hasRefreshToken: grant.refreshToken !== null },
      'obtained a new iCG access token',
    );
    return toRecord({ accessToken: grant.accessToken.reveal(), ...times, refreshToken: grant.refreshToken?.reveal() ?? null, issuedAt: requestedAt });
  }

  /** A grant and then the pay must both fit before the deadline, or neither is sent. */
  #ensureTimeForGrant(deadline: number | undefined): void {
    if (deadline !== undefined && deadline - this.#clock.now() < 2 * this.#o.callTimeoutMs) {
      throw new UpstreamTimeout('not enough time left in the pay deadline to log in to iCG and pay; nothing was sent', { retryAfterSeconds: 1 });
    }
  }

  /** expires_in as believed: capped at a week; under 30 s kept (the token really expires) but logged, as logins then slow down. */
  #believedLifetime(expiresInSeconds: number): number {
    if (expiresInSeconds > MAX_TOKEN_LIFETIME_SECONDS) {
      this.#o.logger.warn(
        { event: 'icg_token_lifetime_capped', expiresInSeconds },
        'iCG issued a token with an implausibly long lifetime; it is renewed after 7 days',
      );
      return MAX_TOKEN_LIFETIME_SECONDS;
    }
    if (expiresInSeconds * 1000 < SHORT_TOKEN_LOGIN_INTERVAL_MS) {
      this.#o.logger.warn(
        { event: 'icg_token_short_lived', expiresInSeconds },
        'iCG issued a token that lives under 30 s: logins are limited to one per 30 s, pays fail in between',
      );
    }
    return expiresInSeconds;
  }

  /**
   * The password grant. When iCG rejects the credentials they are read again (a rotated secret file):
   * changed ones are tried by the next login at once; unchanged ones pause logins on every instance.
   */
  async #login(): Promise<TokenGrant> {
    const credentials = this.#o.credentials.current;
    try {
      const grant = await this.#o.grants.login(credentials);
      this.#o.metrics.tokenAcquisitions.inc({ kind: 'login', result: 'success' });
      if (this.#backoff.clear()) await this.#store.clearBackoff();
      return grant;
    } catch (error) {
      if (!(error instanceof UpstreamRejected)) {
        this.#o.metrics.tokenAcquisitions.inc({ kind: 'login', result: 'failed' });
        throw error;
      }
      this.#o.metrics.tokenAcquisitions.inc({ kind: 'login', result: 'rejected' });
      if (this.#reloadAfterRejection())
        throw new UpstreamRejected('iCG rejected the credentials; new ones were just read and the next attempt uses them', { retryAfterSeconds: 1 });
      const { pause, raw, ttlMs } = this.#backoff.enter(this.#credentialsDigest(credentials));
      this.#o.logger.error(
        { event: 'icg_credentials_rejected', backoffMs: pause.delayMs },
        'iCG rejected the merchant credentials: logins paused on every instance for these credentials; check ICG_CLIENT_ID, ICG_USERNAME and ICG_PASSWORD',
      );
      await this.#store.writeBackoff(raw, ttlMs);
      throw this.#backoffError();
    }
  }

  /** Re-reads the credentials after a rejection; true when they changed. A file that cannot be read keeps the old ones. */
  #reloadAfterRejection(): boolean {
    try {
      return this.reloadCredentials();
    } catch (error) {
      this.#o.logger.error(
        { event: 'icg_credentials_unreadable', err: { message: error instanceof Error ? error.message : 'unknown' } },
        'could not read the iCG credential files again',
      );
      return false;
    }
  }

  #credentialsDigest(credentials: Credentials): KeyedDigest {
    return this.#o.keyring.sign('icg-credentials', credentials.clientId.reveal(), credentials.username.reveal(), credentials.password.reveal());
  }

  #isCurrentCredentials(digest: KeyedDigest): boolean {
    const { clientId, username, password } = this.#o.credentials.current;
    return this.#o.keyring.verify(digest, 'icg-credentials', clientId.reveal(), username.reveal(), password.reveal());
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
