import type { Clock } from '../clock';
import type { KeyedDigest } from '../keyring';
import { nextBackoffMs } from './token-timing';

/** A pause on logins: until when, how long it was (the next one doubles it), and whose credentials it is for. */
export interface Pause {
  readonly until: number;
  readonly delayMs: number;
  /** A keyed fingerprint of the rejected credentials: a pause never outlives a fix of them. */
  readonly credentials: KeyedDigest;
}

/**
 * The doubling pause on logins after iCG rejects the credentials at /Login: base, 2×base, 4×base …
 * up to max. Shared by every instance through its stored form, so the whole deployment stops sending
 * iCG logins that will fail and lock the merchant's account; bound to the credentials that were
 * rejected, so a restart or reload with other credentials logs in at once.
 */
export class LoginBackoff {
  #pause: Pause | null = null;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly clock: Clock,
  ) {}

  get isActive(): boolean {
    return this.#pause !== null && this.clock.now() < this.#pause.until;
  }

  /** Whole seconds until logins resume (at least 1), for Retry-After. */
  get secondsLeft(): number {
    return Math.max(1, Math.ceil(((this.#pause?.until ?? this.clock.now()) - this.clock.now()) / 1000));
  }

  /** Starts the next pause for these credentials (doubling the last) and returns its stored form and how long Redis should keep it. */
  enter(credentials: KeyedDigest): { pause: Pause; raw: string; ttlMs: number } {
    const delayMs = nextBackoffMs(this.#pause?.delayMs ?? null, this.baseMs, this.maxMs);
    const pause = { until: this.clock.now() + delayMs, delayMs, credentials };
    this.#pause = pause;
    // The record outlives the pause so the next rejection anywhere knows to double it.
    return { pause, raw: JSON.stringify(pause), ttlMs: delayMs + this.maxMs };
  }

  /** Adopts a pause another instance stored, if it is for the credentials `isCurrent` recognises. */
  adopt(raw: string | null, isCurrent: (credentials: KeyedDigest) => boolean): void {
    if (raw === null) return;
    try {
      const parsed = JSON.parse(raw) as Partial<Pause>;
      const credentials = parsed.credentials;
      if (typeof parsed.until !== 'number' || typeof parsed.delayMs !== 'number' || typeof credentials?.kid !== 'string' || typeof credentials.mac !== 'string')
        return;
      if (isCurrent(credentials)) this.#pause = { until: parsed.until, delayMs: parsed.delayMs, credentials };
    } catch {
      this.#pause = null;
    }
  }

  /** A login succeeded, or the credentials changed: no pause, and the next rejection starts from base again. True when there was one to clear. */
  clear(): boolean {
    const had = this.#pause !== null;
    this.#pause = null;
    return had;
  }
}

/**
 * After a login fails for another reason (iCG's auth down or slow, not rejecting us), the same
 * failure is answered again for a short while instead of every pay sending iCG a login of its own.
 */
export class FailurePause {
  #failure: { until: number; error: unknown } | null = null;

  constructor(
    private readonly pauseMs: number,
    private readonly clock: Clock,
  ) {}

  /** The failure to answer with, while the pause lasts. */
  get current(): unknown {
    return this.#failure !== null && this.clock.now() < this.#failure.until ? this.#failure.error : undefined;
  }

  get isActive(): boolean {
    return this.current !== undefined;
  }

  record(error: unknown): void {
    this.#failure = { until: this.clock.now() + this.pauseMs, error };
  }
}
