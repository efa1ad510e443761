import { createHash } from 'node:crypto';
import type { RedisTrouble } from '../state/redis-trouble';
import type { SharedState } from '../state/shared-state';
import type { Secret } from '../secret';

/** The token as stored in Redis: one JSON string, compared whole for compare-and-delete. */
export interface StoredToken {
  readonly accessToken: string;
  /** Epoch ms after which iCG rejects the token. */
  readonly expiresAt: number;
  /** Epoch ms from which a new token is fetched (the old one serves until expiresAt). */
  readonly refreshAt: number;
  readonly refreshToken: string | null;
  /** When it was requested from iCG (0: unknown, stored by an older version). */
  readonly issuedAt: number;
}

/** A stored token and its exact stored text (its identity for compare-and-delete). */
export interface TokenRecord {
  readonly raw: string;
  readonly token: StoredToken;
}

export function toRecord(token: StoredToken): TokenRecord {
  return { raw: JSON.stringify(token), token };
}

/** The record in `raw`, or null when there is none or it is unreadable. */
export function parseRecord(raw: string | null): TokenRecord | null {
  if (raw === null) return null;
  try {
    const value = JSON.parse(raw) as Partial<StoredToken>;
    if (typeof value.accessToken !== 'string' || typeof value.expiresAt !== 'number' || typeof value.refreshAt !== 'number') return null;
    const token: StoredToken = {
      accessToken: value.accessToken,
      expiresAt: value.expiresAt,
      refreshAt: value.refreshAt,
      refreshToken: typeof value.refreshToken === 'string' ? value.refreshToken : null,
      issuedAt: typeof value.issuedAt === 'number' ? value.issuedAt : 0,
    };
    return { raw, token };
  } catch {
    return null;
  }
}

/**
 * How long Redis keeps a token record: until the access token expires, and when there is a refresh
 * token, as long again (at most a day), so an expired access token can still be renewed by the
 * refresh grant instead of a password login. Readers always check expiresAt themselves.
 */
export function storedLifetimeMs(token: StoredToken, now: number): number {
  const remaining = token.expiresAt - now;
  // A short-lived token's record outlives it until the next login is allowed, so every instance waits for that.
  const untilNextLogin = isShortLived(token) ? token.issuedAt + SHORT_TOKEN_LOGIN_INTERVAL_MS - now : 0;
  return Math.max(untilNextLogin, token.refreshToken === null ? remaining : remaining + Math.min(Math.max(remaining, 0), 86_400_000));
}

/** Tokens that live less than this are kept until they expire, but logins for them happen at most once per this long. */
export const SHORT_TOKEN_LOGIN_INTERVAL_MS = 30_000;

/** A token living less than SHORT_TOKEN_LOGIN_INTERVAL_MS (iCG's expires_in was tiny). */
export function isShortLived(token: StoredToken): boolean {
  return token.expiresAt - token.issuedAt < SHORT_TOKEN_LOGIN_INTERVAL_MS;
}

/** The keys of one merchant's shared token: one hash tag, so a Redis Cluster keeps them on one slot. */
export interface TokenKeys {
  readonly token: string;
  readonly lock: string;
  readonly backoff: string;
  /** Set for a few seconds after iCG refuses a token: logins then need the refusal-login gate. */
  readonly refused: string;
  /** Taken by the one login allowed per few seconds after a refusal, deployment-wide. */
  readonly refusalLogin: string;
}

/** One token per (client id, username): merchants sharing a Redis never share a token. */
export function tokenKeys(clientId: Secret, username: Secret): TokenKeys {
  const id = createHash('sha256').update(`${clientId.reveal()}\0${username.reveal()}`).digest('hex').slice(0, 16);
  return {
    token: `token:{${id}}`,
    lock: `token-lock:{${id}}`,
    backoff: `login-backoff:{${id}}`,
    refused: `token-refused:{${id}}`,
    refusalLogin: `refusal-login:{${id}}`,
  };
}

/**
 * The shared token's Redis protocol: read the token with the login backoff in one round trip, a login
 * lock with a fencing value (released by compare-and-delete, expiring if its holder dies), write a
 * new token with its lifetime, drop a refused token only while it is still the stored one.
 */
export class TokenStore {
  constructor(
    private readonly state: SharedState,
    private readonly keys: TokenKeys,
    private readonly trouble: RedisTrouble,
  ) {}

  /** The stored token and the raw backoff record. Throws StateUnavailable. */
  async read(): Promise<{ record: TokenRecord | null; backoff: string | null }> {
    const [raw = null, backoff = null] = await this.state.getMany([this.keys.token, this.keys.backoff]);
    return { record: parseRecord(raw), backoff };
  }

  /** The stored token alone. Throws StateUnavailable. */
  async readToken(): Promise<TokenRecord | null> {
    return parseRecord(await this.state.get(this.keys.token));
  }

  /** True when this caller now holds the login lock. Throws StateUnavailable. */
  tryLock(fence: string, ttlMs: number): Promise<boolean> {
    return this.state.setIfAbsent(this.keys.lock, fence, ttlMs);
  }

  /** Releases the lock if it is still ours; a lock that cannot be released expires by itself. */
  unlock(fence: string): Promise<void> {
    return this.trouble.tolerate('token_lock_release', () => this.state.deleteIfEquals(this.keys.lock, fence));
  }

  /** Stores a new token for every instance; without Redis this process keeps it alone (counted). */
  write(record: TokenRecord, now: number): Promise<void> {
    return this.trouble.tolerate('token', () => this.state.set(this.keys.token, record.raw, storedLifetimeMs(record.token, now)));
  }

  /** Drops a refused token, but only while Redis still holds that very token. */
  drop(record: TokenRecord): Promise<void> {
    return this.trouble.tolerate('token', () => this.state.deleteIfEquals(this.keys.token, record.raw));
  }

  /** Writes the token back if Redis has none (it restarted empty), so other instances adopt it. */
  putBack(record: TokenRecord, now: number): Promise<void> {
    const ttlMs = record.token.expiresAt - now;
    if (ttlMs <= 0) return Promise.resolve();
    return this.trouble.tolerate('token', () => this.state.setIfAbsent(this.keys.token, record.raw, ttlMs));
  }

  /** Notes that iCG refused a token: for `ttlMs`, logins need the refusal-login gate. Throws StateUnavailable. */
  async markRefused(ttlMs: number): Promise<void> {
    await this.state.set(this.keys.refused, '1', ttlMs);
  }

  /** Whether iCG refused a token in the last few seconds. Throws StateUnavailable. */
  async wasRefused(): Promise<boolean> {
    return (await this.state.get(this.keys.refused)) !== null;
  }

  /** True when this caller may make the one login allowed after a refusal for `ttlMs`. Throws StateUnavailable. */
  tryRefusalLogin(ttlMs: number): Promise<boolean> {
    return this.state.setIfAbsent(this.keys.refusalLogin, '1', ttlMs);
  }

  writeBackoff(raw: string, ttlMs: number): Promise<void> {
    return this.trouble.tolerate('login_backoff', () => this.state.set(this.keys.backoff, raw, ttlMs));
  }

  clearBackoff(): Promise<void> {
    return this.trouble.tolerate('login_backoff', () => this.state.delete(this.keys.backoff));
  }
}
