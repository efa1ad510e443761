/** When to stop trusting a token: refresh before it expires by a margin that scales with its life. */
export interface RefreshPolicy {
  /** The margin never exceeds this (a 24 h token refreshes 60 s early, not 2.4 h). */
  readonly refreshMarginMaxMs: number;
  /** The margin is at most this share of the lifetime (a 5 s token refreshes 0.5 s early, not 60 s). */
  readonly refreshMarginRatio: number;
}

export interface TokenTimes {
  /** Epoch ms after which iCG rejects the token. */
  readonly expiresAt: number;
  /** Epoch ms from which a new token is fetched (the old one still serves until expiresAt). */
  readonly refreshAt: number;
}

/** The refresh margin for a token that lives `lifetimeMs`: min(max margin, ratio × lifetime). */
export function refreshMarginMs(lifetimeMs: number, policy: RefreshPolicy): number {
  return Math.max(0, Math.min(policy.refreshMarginMaxMs, lifetimeMs * policy.refreshMarginRatio));
}

/**
 * Expiry and refresh instants for a token granted with `expiresInSeconds`, counted from
 * `requestedAt` (when the login was sent, not when it answered: the conservative end).
 */
export function tokenTimes(requestedAt: number, expiresInSeconds: number, policy: RefreshPolicy): TokenTimes {
  const lifetimeMs = expiresInSeconds * 1000;
  const expiresAt = requestedAt + lifetimeMs;
  return { expiresAt, refreshAt: expiresAt - refreshMarginMs(lifetimeMs, policy) };
}

/** Exponential backoff after rejected credentials: base, 2×base, 4×base … capped at max. */
export function nextBackoffMs(previousMs: number | null, baseMs: number, maxMs: number): number {
  return previousMs === null ? Math.min(baseMs, maxMs) : Math.min(previousMs * 2, maxMs);
}
