import pino from 'pino';
import { TokenRefused, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable } from '../../src/errors';
import { AccessToken } from '../../src/icg/access-token';
import { RefreshRejected, type TokenGrant } from '../../src/icg/client';
import { CredentialsProvider, type Credentials } from '../../src/icg/credentials';
import { FailurePause, LoginBackoff } from '../../src/icg/login-backoff';
import { TokenManager, type GrantSource } from '../../src/icg/token-manager';
import { Keyring } from '../../src/keyring';
import { createMetrics } from '../../src/metrics';
import { Secret } from '../../src/secret';
import { MemoryState } from '../../src/state/memory-state';
import { RedisTrouble } from '../../src/state/redis-trouble';
import { systemClock } from '../../src/clock';

const logger = pino({ level: 'silent' });
const TIMEOUT_MS = 1000;

/** iCG's /Login as a test double: counts grants, and answers what the test says. */
class FakeGrants implements GrantSource {
  logins = 0;
  refreshes = 0;
  lifetimeSeconds = 3600;
  issueRefreshTokens = false;
  acceptedPassword = 'right';
  /** When set, the next logins wait for it (a hanging /Login). */
  hang: Promise<void> | null = null;
  refreshRejected = false;

  async login(credentials: Credentials): Promise<TokenGrant> {
    if (this.hang) await this.hang;
    if (credentials.password.reveal() !== this.acceptedPassword) throw new UpstreamRejected('rejected');
    this.logins += 1;
    return this.#grant();
  }

  refresh(): Promise<TokenGrant> {
    if (this.refreshRejected) return Promise.reject(new RefreshRejected());
    this.refreshes += 1;
    return Promise.resolve(this.#grant());
  }

  #grant(): TokenGrant {
    const n = this.logins + this.refreshes;
    return {
      accessToken: new AccessToken(`token-${n}`),
      expiresInSeconds: this.lifetimeSeconds,
      refreshToken: this.issueRefreshTokens ? new Secret(`refresh-${n}`) : null,
    };
  }
}

function credentials(password = 'right'): CredentialsProvider {
  return new CredentialsProvider({
    clientId: { value: new Secret('client') },
    username: { value: new Secret('user') },
    password: { value: new Secret(password) },
  });
}

function manager(grants: GrantSource, state = new MemoryState(), provider = credentials()): TokenManager {
  const metrics = createMetrics();
  return new TokenManager({
    grants,
    credentials: provider,
    keyring: Keyring.development(),
    state,
    trouble: new RedisTrouble(metrics, logger),
    policy: { refreshMarginMaxMs: 60_000, refreshMarginRatio: 0.1 },
    backoff: { baseMs: 30_000, maxMs: 120_000 },
    callTimeoutMs: TIMEOUT_MS,
    lockTtlMs: 2 * TIMEOUT_MS + 1000,
    waitTimeoutMs: 2 * TIMEOUT_MS + 2000,
    logger,
    metrics,
    clock: systemClock,
  });
}

beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

describe('the token manager', () => {
  it('logs in once for a hundred concurrent callers', async () => {
    const grants = new FakeGrants();
    const tokens = manager(grants);
    const held = await Promise.all(Array.from({ length: 100 }, () => tokens.getToken()));
    expect(new Set(held.map((h) => h.record.raw)).size).toBe(1);
    expect(grants.logins).toBe(1);
  });

  it('renews ahead of expiry in the background while the old token serves', async () => {
    const grants = new FakeGrants();
    grants.lifetimeSeconds = 100; // margin min(60 s, 10 %) = 10 s: renewed from 90 s on
    const tokens = manager(grants);
    const first = await tokens.getToken();
    await jest.advanceTimersByTimeAsync(91_000);
    expect((await tokens.getToken()).record.raw).toBe(first.record.raw);
    await jest.advanceTimersByTimeAsync(0);
    expect(grants.logins).toBe(2);
    expect((await tokens.getToken()).record.raw).not.toBe(first.record.raw);
  });

  it('uses the refresh grant when it has a refresh token, and the password grant when that is refused', async () => {
    const grants = new FakeGrants();
    grants.issueRefreshTokens = true;
    grants.lifetimeSeconds = 100;
    const tokens = manager(grants);
    await tokens.getToken();
    await jest.advanceTimersByTimeAsync(101_000);
    await tokens.getToken();
    expect({ logins: grants.logins, refreshes: grants.refreshes }).toEqual({ logins: 1, refreshes: 1 });
    grants.refreshRejected = true;
    await jest.advanceTimersByTimeAsync(101_000);
    await tokens.getToken();
    expect({ logins: grants.logins, refreshes: grants.refreshes }).toEqual({ logins: 2, refreshes: 1 });
  });

  it('answers a failed login again for a second instead of sending iCG one per pay', async () => {
    const grants = new FakeGrants();
    const failing: GrantSource = {
      login: () => {
        grants.logins += 1;
        return Promise.reject(new UpstreamUnavailable('iCG login answered 500'));
      },
      refresh: async () => grants.refresh(),
    };
    const tokens = manager(failing);
    for (let i = 0; i < 10; i += 1) await expect(tokens.getToken()).rejects.toThrow(UpstreamUnavailable);
    expect(grants.logins).toBe(1);
    await jest.advanceTimersByTimeAsync(1001);
    await expect(tokens.getToken()).rejects.toThrow(UpstreamUnavailable);
    expect(grants.logins).toBe(2);
  });

  it('pauses logins after iCG rejects the credentials, for every instance sharing the store, and doubles the pause', async () => {
    const grants = new FakeGrants();
    const state = new MemoryState();
    const a = manager(grants, state, credentials('wrong'));
    const b = manager(grants, state, credentials('wrong'));
    await expect(a.getToken()).rejects.toThrow(UpstreamRejected);
    const attempts = grants.logins;
    await expect(b.getToken()).rejects.toMatchObject({ retryAfterSeconds: 30 });
    await jest.advanceTimersByTimeAsync(30_001);
    await expect(b.getToken()).rejects.toThrow(UpstreamRejected);
    await expect(a.getToken()).rejects.toMatchObject({ retryAfterSeconds: 60 });
    expect(grants.logins).toBe(attempts);
  });

  it('binds the pause to the rejected credentials: other credentials log in at once', async () => {
    const grants = new FakeGrants();
    const state = new MemoryState();
    await expect(manager(grants, state, credentials('wrong')).getToken()).rejects.toThrow(UpstreamRejected);
    // A restart with the corrected password (same client id and username, same store).
    await expect(manager(grants, state, credentials('right')).getToken()).resolves.toBeDefined();
    expect(grants.logins).toBe(1);
  });

  describe('when iCG refuses a token', () => {
    it('adopts a token issued since, without a login', async () => {
      const grants = new FakeGrants();
      const state = new MemoryState();
      const a = manager(grants, state);
      const b = manager(grants, state);
      const stale = await a.getToken();
      await b.getToken();
      // b meets the refusal first and logs in; a's refusal of the same old token adopts b's new token.
      const renewed = await b.replaceRefused(stale);
      await expect(a.replaceRefused(stale)).resolves.toMatchObject({ record: renewed.record });
      expect(grants.logins).toBe(2);
    });

    it('logs in at most once per five seconds across the deployment; a pay that meets the cap fails alone', async () => {
      const grants = new FakeGrants();
      const state = new MemoryState();
      const a = manager(grants, state);
      const b = manager(grants, state);
      const first = await a.getToken();
      const second = await a.replaceRefused(first);
      expect(grants.logins).toBe(2);
      await b.getToken();
      await expect(b.replaceRefused(second)).rejects.toThrow(TokenRefused);
      await jest.advanceTimersByTimeAsync(5001);
      await expect(b.replaceRefused(second)).resolves.toBeDefined();
      expect(grants.logins).toBe(3);
    });
  });

  describe('with a pay deadline', () => {
    it('stops waiting for a hanging login in time to leave the pay a whole call', async () => {
      const grants = new FakeGrants();
      grants.hang = new Promise(() => undefined);
      const tokens = manager(grants);
      const deadline = Date.now() + 5000;
      const waiting = tokens.getToken(deadline);
      const settled = expect(waiting).rejects.toThrow(UpstreamTimeout);
      await jest.advanceTimersByTimeAsync(5000 - TIMEOUT_MS);
      await settled;
    });

    it('starts no login that could not finish, with the pay, before the deadline', async () => {
      const grants = new FakeGrants();
      const tokens = manager(grants);
      await expect(tokens.getToken(Date.now() + 2 * TIMEOUT_MS - 1)).rejects.toThrow(UpstreamTimeout);
      expect(grants.logins).toBe(0);
    });
  });

  describe("iCG's expires_in", () => {
    it('is believed for a week at most', async () => {
      const grants = new FakeGrants();
      grants.lifetimeSeconds = 1e12;
      const tokens = manager(grants);
      await tokens.getToken();
      expect(tokens.secondsToExpiry()).toBe(7 * 24 * 3600);
    });

    it('under 30 s is kept, with logins limited to one per 30 s', async () => {
      const grants = new FakeGrants();
      grants.lifetimeSeconds = 0.001;
      const tokens = manager(grants);
      await tokens.getToken();
      await jest.advanceTimersByTimeAsync(10);
      await expect(tokens.getToken()).rejects.toThrow(/one per 30 s/);
      await jest.advanceTimersByTimeAsync(1000);
      await expect(tokens.getToken()).rejects.toThrow(/one per 30 s/);
      expect(grants.logins).toBe(1);
      await jest.advanceTimersByTimeAsync(30_000);
      await tokens.getToken();
      expect(grants.logins).toBe(2);
    });
  });
});

describe('the login backoff', () => {
  const digest = Keyring.development().sign('icg-credentials', 'a');

  it('doubles from base to max, and starts again after a success', () => {
    const backoff = new LoginBackoff(1000, 3000, systemClock);
    expect([backoff.enter(digest), backoff.enter(digest), backoff.enter(digest)].map((e) => e.pause.delayMs)).toEqual([1000, 2000, 3000]);
    expect(backoff.isActive).toBe(true);
    expect(backoff.clear()).toBe(true);
    expect(backoff.enter(digest).pause.delayMs).toBe(1000);
  });

  it('ends when its time is up, and says how long is left in whole seconds', async () => {
    const backoff = new LoginBackoff(2500, 10_000, systemClock);
    backoff.enter(digest);
    expect(backoff.secondsLeft).toBe(3);
    await jest.advanceTimersByTimeAsync(2500);
    expect(backoff.isActive).toBe(false);
  });

  it('adopts a stored pause only for the credentials it names', () => {
    const source = new LoginBackoff(1000, 3000, systemClock);
    const { raw } = source.enter(digest);
    const same = new LoginBackoff(1000, 3000, systemClock);
    same.adopt(raw, (d) => d.mac === digest.mac);
    expect(same.isActive).toBe(true);
    const other = new LoginBackoff(1000, 3000, systemClock);
    other.adopt(raw, () => false);
    expect(other.isActive).toBe(false);
    other.adopt('not json', () => true);
    expect(other.isActive).toBe(false);
  });
});

describe('the failed-login pause', () => {
  it('answers the same failure for its duration, then lets a login through', async () => {
    const pause = new FailurePause(1000, systemClock);
    const failure = new Error('iCG login answered 500');
    pause.record(failure);
    expect(pause.current).toBe(failure);
    await jest.advanceTimersByTimeAsync(1000);
    expect(pause.isActive).toBe(false);
  });
});
