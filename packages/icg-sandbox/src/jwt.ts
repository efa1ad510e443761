import { createHmac, randomBytes, randomUUID } from 'node:crypto';

/** The JOSE header iCG's sample token carries. */
const HEADER = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'HS256' })).toString('base64url');

/** Above this many remembered access tokens, issuing one sweeps out the expired ones. */
const SWEEP_ABOVE = 1024;

/** At most this many refresh tokens are remembered; the oldest are forgotten first. */
const MAX_REFRESH_TOKENS = 10_000;

/** A freshly minted access token and its lifetime as `expires_in` reports it. */
export interface MintedToken {
  readonly token: string;
  readonly expiresInSeconds: number;
}

/**
 * Mints and honours the sandbox's tokens. Access tokens are real HS256 JWTs shaped like iCG's sample
 * (so a proxy decoding exp/nbf sees the real thing), signed with a secret that lives and dies with
 * this sandbox. Validity is decided by exact match against what was minted, with millisecond expiry,
 * so a 1-second token really stops working after 1 s and a forged or tampered token never works.
 */
export class TokenAuthority {
  readonly #secret = randomBytes(32);
  /** access token → expiry in epoch ms */
  readonly #access = new Map<string, number>();
  readonly #refresh = new Set<string>();
  readonly #issuer: string;
  readonly #audience: string;

  constructor(issuer: string, audience: string) {
    this.#issuer = issuer;
    this.#audience = audience;
  }

  /** Mints an access token for `username` valid for `lifetimeSeconds` from now. */
  mintAccess(username: string, lifetimeSeconds: number, now = Date.now()): MintedToken {
    if (this.#access.size > SWEEP_ABOVE) this.#sweep(now);
    const expiresAtMs = now + lifetimeSeconds * 1000;
    const claims = {
      unique_name: username,
      iss: this.#issuer,
      aud: this.#audience,
      exp: Math.ceil(expiresAtMs / 1000),
      nbf: Math.floor(now / 1000),
      jti: randomUUID(),
    };
    const unsigned = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const token = `${unsigned}.${createHmac('sha256', this.#secret).update(unsigned).digest('base64url')}`;
    this.#access.set(token, expiresAtMs);
    return { token, expiresInSeconds: lifetimeSeconds };
  }

  /** True for a token this sandbox minted that has neither expired nor been revoked. */
  acceptsAccess(token: string, now = Date.now()): boolean {
    const expiresAtMs = this.#access.get(token);
    return expiresAtMs !== undefined && now < expiresAtMs;
  }

  /** Mints an opaque refresh token (refresh tokens do not expire here; revokeAll() ends them). */
  mintRefresh(): string {
    if (this.#refresh.size >= MAX_REFRESH_TOKENS) {
      const oldest = this.#refresh.values().next();
      if (!oldest.done) this.#refresh.delete(oldest.value);
    }
    const token = randomBytes(32).toString('base64url');
    this.#refresh.add(token);
    return token;
  }

  /** True for an unrevoked refresh token this sandbox minted. */
  acceptsRefresh(token: string): boolean {
    return this.#refresh.has(token);
  }

  /** Forgets every token minted so far: they are rejected from now on, as after a password change upstream. */
  revokeAll(): void {
    this.#access.clear();
    this.#refresh.clear();
  }

  #sweep(now: number): void {
    for (const [token, expiresAtMs] of this.#access) if (expiresAtMs <= now) this.#access.delete(token);
  }
}
