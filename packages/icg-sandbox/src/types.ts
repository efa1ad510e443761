import type { SandboxFaults } from './faults';

/** How a sandbox starts; every field has a default matching the project's sandbox configuration. */
export interface SandboxOptions {
  /** default 0 (ephemeral) */
  port?: number;
  /** default '127.0.0.1' */
  host?: string;
  /** default 'sandbox-client' */
  clientId?: string;
  /** default 'sandbox-merchant' */
  username?: string;
  /** default 'sandbox-password' */
  password?: string;
  /** expires_in, default 86399 as in iCG's sample (mutable later via faults.tokenLifetimeSeconds) */
  tokenLifetimeSeconds?: number;
  /** default false: iCG's sample shows no refresh token */
  issueRefreshTokens?: boolean;
}

/** What the sandbox has seen, for tests asserting how often (and how) the proxy called iCG. */
export interface SandboxStats {
  /** successful password grants */
  logins: number;
  /** successful refresh_token grants */
  refreshes: number;
  /** password grants refused (invalid_client, invalid_grant) */
  loginsRejected: number;
  /** every request to /Login, whatever the outcome (faults included) */
  loginAttempts: number;
  /** pay requests that reached the handler, whatever the outcome (a body over the limit never does) */
  pays: number;
  paysByInvoice: Record<string, number>;
  /** pays answered 401 */
  unauthorizedPays: number;
}

/** One pay as received, so tests can check what the proxy forwarded (and what it did not). */
export interface ReceivedPay {
  invoiceId: string;
  headers: Record<string, string | string[] | undefined>;
  /** the parsed JSON body, or the raw text when it was not JSON */
  body: unknown;
  /** the body exactly as received (what a proxy forwarding bytes must not change) */
  raw: string;
  /** epoch ms */
  at: number;
}

/** A running sandbox: a fake iCG whose auth and Process API share one base URL. */
export interface IcgSandbox {
  /** http://HOST:PORT, the auth URL and the API URL alike */
  readonly url: string;
  readonly faults: SandboxFaults;
  readonly stats: SandboxStats;
  /** the last 100 pays, newest last */
  readonly received: ReceivedPay[];
  /** Every token issued so far is rejected from now on (pays answer 401, refreshes invalid_grant). */
  revokeAllTokens(): void;
  /** Faults to defaults, stats zeroed, received cleared; tokens stay valid. */
  reset(): void;
  /** Stops listening, destroys every open socket (keep-alive and hung ones alike) and resolves. */
  close(): Promise<void>;
}

/** Zeroed stats; paysByInvoice has no prototype so an invoice id like `__proto__` is counted like any other. */
export function emptyStats(): SandboxStats {
  return {
    logins: 0,
    refreshes: 0,
    loginsRejected: 0,
    loginAttempts: 0,
    pays: 0,
    paysByInvoice: Object.create(null) as Record<string, number>,
    unauthorizedPays: 0,
  };
}
