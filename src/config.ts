import { readFileSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { sentinelOptions } from './redis';
import { Secret } from './secret';

/** Where config/*.json live: beside src/ in the repo, beside dist/ in a build. */
const DEFAULT_CONFIG_DIR = path.resolve(__dirname, '..', 'config');

/** Variables that hold secrets: only ever read from the environment, never printed. */
const SECRET_NAMES = ['ICG_PASSWORD', 'ICG_CLIENT_ID', 'ICG_USERNAME', 'REDIS_URL', 'METRICS_TOKEN'] as const;

/** The credentials the in-process sandbox accepts (it is a fake iCG; these guard nothing). */
export const SANDBOX_CREDENTIALS = {
  clientId: 'sandbox-client',
  username: 'sandbox-merchant',
  password: 'sandbox-password',
} as const;

export type Environment = 'development' | 'test' | 'production';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** Express's `trust proxy` value: false, a hop count, or a list of addresses/subnets. */
export type TrustProxy = false | number | string[];

export interface IcgSettings {
  /** Login is POST {authUrl}/Login. Empty in sandbox mode until main.ts starts the sandbox. */
  readonly authUrl: string;
  /** Pay is POST {apiUrl}/Invoices/{id}/Pay. */
  readonly apiUrl: string;
  readonly clientId: Secret;
  readonly username: Secret;
  readonly password: Secret;
  readonly timeoutMs: number;
  readonly maxSockets: number;
  readonly loginBackoffMs: number;
  readonly loginBackoffMaxMs: number;
  /** Answer fields relayed and stored besides the documented ones (dotted paths). */
  readonly responseExtraFields: readonly string[];
}

export interface Config {
  readonly env: Environment;
  /** True when iCG is the built-in sandbox: payments are simulated. Never true in production. */
  readonly sandbox: boolean;
  readonly port: number;
  readonly host: string;
  readonly logLevel: LogLevel;
  readonly icg: IcgSettings;
  readonly token: { readonly refreshMarginMaxMs: number; readonly refreshMarginRatio: number };
  /** null: no Redis configured (sandbox/dev only): every shared state lives in this process. */
  readonly redis: {
    readonly url: Secret | null;
    readonly keyPrefix: string;
    readonly commandTimeoutMs: number;
    readonly connectTimeoutMs: number;
  };
  readonly http: {
    readonly bodyLimitBytes: number;
    readonly trustProxy: TrustProxy;
    readonly corsOrigins: readonly string[];
    readonly checkoutPage: boolean;
    readonly shutdownDrainMs: number;
    readonly metricsToken: Secret | null;
  };
  readonly rateLimit: {
    readonly clientMax: number;
    readonly clientWindowMs: number;
    readonly invoiceMax: number;
    readonly invoiceWindowMs: number;
    /** What the limiter does when Redis is unreachable: 'open' = in-process limit, 'closed' = 503. */
    readonly onRedisDown: 'open' | 'closed';
  };
  readonly idempotency: { readonly ttlSeconds: number };
}

/** Thrown when the merged configuration is invalid; `problems` name each bad variable, never a value. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

const int = (min: number, max: number) => z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
const flag = z.enum(['true', 'false'], { message: 'must be true or false' }).transform((v) => v === 'true');
const optionalText = z.string().min(1).optional();

const httpUrl = z
  .string()
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL without credentials, query or fragment')
  .transform((value) => value.replace(/\/+$/, ''))
  .optional();

/** redis(s)://[:pw@]host[:port][/db], or redis+sentinel://[:pw@]h1:port,h2:port/master[/db] (not a WHATWG URL). */
function isRedisUrl(value: string): boolean {
  if (value.startsWith('redis+sentinel:')) return sentinelOptions(value) !== null;
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'redis:' || url.protocol === 'rediss:') && /^(\/\d{0,5})?$/.test(url.pathname) && url.search === '' && url.hash === '';
}

const redisUrl = z.string().refine(isRedisUrl, 'must be a redis://host[:port][/db], rediss://… or redis+sentinel://h1:port,h2:port/master[/db] URL (db a number)').optional();

const trustProxy = z.string().transform((value, ctx): TrustProxy => {
  const text = value.trim();
  if (text === '' || text === 'false') return false;
  if (/^\d+$/.test(text)) return Number(text);
  const entries = text.split(',').map((entry) => entry.trim()).filter(Boolean);
  const named = new Set(['loopback', 'linklocal', 'uniquelocal']);
  const valid = entries.every((entry) => {
    if (named.has(entry)) return true;
    const [address, bits, extra] = entry.split('/');
    if (extra !== undefined || address === undefined || isIP(address) === 0) return false;
    return bits === undefined || /^\d{1,3}$/.test(bits);
  });
  if (!valid) {
    ctx.addIssue({ code: 'custom', message: "must be false, a hop count, or a comma-separated list of addresses, subnets, 'loopback', 'linklocal' or 'uniquelocal' ('true' trusts any client's X-Forwarded-For)" });
    return z.NEVER;
  }
  return entries;
});

const origins = z.string().transform((value, ctx) => {
  const list = value.split(',').map((entry) => entry.trim()).filter(Boolean);
  for (const entry of list) {
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== entry.replace(/\/$/, '')) {
      ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of origins such as https://shop.example.com' });
      return z.NEVER;
    }
  }
  return list.map((entry) => new URL(entry).origin);
});

/** One schema over the flat, merged settings: the issue paths are the variable names ops set. */
const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production'], { message: 'must be development, test or production' }),
  PORT: int(0, 65535),
  HOST: z.string().min(1),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be one of fatal, error, warn, info, debug, trace, silent' }),
  ICG_AUTH_URL: httpUrl,
  ICG_API_URL: httpUrl,
  ICG_CLIENT_ID: optionalText,
  ICG_USERNAME: optionalText,
  ICG_PASSWORD: optionalText,
  ICG_TIMEOUT_MS: int(100, 120000),
  ICG_MAX_SOCKETS: int(1, 65535),
  ICG_LOGIN_BACKOFF_MS: int(100, 3600000),
  ICG_LOGIN_BACKOFF_MAX_MS: int(100, 86400000),
  ICG_RESPONSE_EXTRA_FIELDS: z
    .string()
    .transform((value) => value.split(',').map((entry) => entry.trim()).filter(Boolean))
    .refine((list) => list.every((entry) => /^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$/.test(entry)), 'must be a comma-separated list of field names or dotted paths such as EmvData or ExtraData.Terminal'),
  TOKEN_REFRESH_MARGIN_MAX_MS: int(0, 3600000),
  TOKEN_REFRESH_MARGIN_RATIO: z.coerce.number({ message: 'must be a number' }).min(0, 'must be between 0 and 0.5').max(0.5, 'must be between 0 and 0.5'),
  REDIS_URL: redisUrl,
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1-64 letters, digits or : _ . -'),
  REDIS_COMMAND_TIMEOUT_MS: int(10, 60000),
  REDIS_CONNECT_TIMEOUT_MS: int(10, 60000),
  BODY_LIMIT_BYTES: int(256, 1048576),
  RATE_LIMIT_MAX: int(1, 1000000),
  RATE_LIMIT_WINDOW_MS: int(1000, 86400000),
  RATE_LIMIT_INVOICE_MAX: int(1, 1000000),
  RATE_LIMIT_INVOICE_WINDOW_MS: int(1000, 86400000),
  RATE_LIMIT_REDIS_DOWN: z.enum(['open', 'closed'], { message: 'must be open or closed' }),
  TRUST_PROXY: trustProxy,
  CORS_ORIGINS: origins,
  CHECKOUT_PAGE: flag,
  IDEMPOTENCY_TTL_SECONDS: int(60, 604800),
  SHUTDOWN_DRAIN_MS: int(0, 300000),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
});

type Settings = z.infer<typeof schema>;
const NAMES = Object.keys(schema.shape) as (keyof Settings)[];

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError([`${file}: must hold a JSON object`]);
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, typeof v === 'number' || typeof v === 'boolean' ? String(v) : v]));
}

function isLoopback(url: string): boolean {
  return LOOPBACK_HOSTS.has(new URL(url).hostname);
}

/** Which variables must be present: production never falls back to the sandbox or to memory. */
function missingVariables(raw: Record<string, unknown>): string[] {
  const isProduction = raw['NODE_ENV'] === 'production';
  const hasAuth = raw['ICG_AUTH_URL'] !== undefined;
  const hasApi = raw['ICG_API_URL'] !== undefined;
  const problems: string[] = [];
  if (hasAuth !== hasApi && !isProduction) problems.push(`${hasAuth ? 'ICG_API_URL' : 'ICG_AUTH_URL'}: is required when ${hasAuth ? 'ICG_AUTH_URL' : 'ICG_API_URL'} is set (leave both unset for the sandbox)`);
  if (!isProduction && !hasAuth && !hasApi) return problems;
  const required = isProduction ? ['ICG_AUTH_URL', 'ICG_API_URL', 'ICG_CLIENT_ID', 'ICG_USERNAME', 'ICG_PASSWORD', 'REDIS_URL'] : ['ICG_CLIENT_ID', 'ICG_USERNAME', 'ICG_PASSWORD'];
  for (const name of required) if (raw[name] === undefined) problems.push(`${name}: is required${isProduction ? ' in production' : ' when ICG_AUTH_URL/ICG_API_URL are set'}`);
  return problems;
}

/** https to iCG in production; checked on the raw values, so it is reported along with every other problem. */
function httpsRules(raw: Record<string, unknown>): string[] {
  if (raw['NODE_ENV'] !== 'production') return [];
  return (['ICG_AUTH_URL', 'ICG_API_URL'] as const).flatMap((name) => {
    const value = raw[name];
    if (typeof value !== 'string' || !URL.canParse(value)) return [];
    const isPlainHttp = new URL(value).protocol === 'http:' && !isLoopback(value);
    return isPlainHttp ? [`${name}: must use https in production (plain http is allowed for loopback only)`] : [];
  });
}

/** Rules between valid values: a backoff cap above its start. */
function valueRules(s: Settings): string[] {
  return s.ICG_LOGIN_BACKOFF_MAX_MS < s.ICG_LOGIN_BACKOFF_MS ? ['ICG_LOGIN_BACKOFF_MAX_MS: must not be below ICG_LOGIN_BACKOFF_MS'] : [];
}

/**
 * Builds the one frozen configuration: config/default.json, then config/<NODE_ENV>.json, then the
 * environment. Secrets are accepted from the environment only. Throws ConfigError listing every bad
 * variable by name; a value is never echoed, so a secret in a wrong place cannot leak through it.
 */
export function loadConfig(env: NodeJS.ProcessEnv, configDir: string = DEFAULT_CONFIG_DIR): Config {
  const nodeEnv = env['NODE_ENV'] ?? 'development';
  const fromFiles = { ...readJson(path.join(configDir, 'default.json')), ...(/^[a-z]+$/.test(nodeEnv) ? readJson(path.join(configDir, `${nodeEnv}.json`)) : {}) };
  const problems: string[] = [];
  const merged: Record<string, unknown> = { NODE_ENV: nodeEnv };
  for (const [name, value] of Object.entries(fromFiles)) {
    if ((SECRET_NAMES as readonly string[]).includes(name)) problems.push(`${name}: is a secret and may only come from the environment, not from config/`);
    else merged[name] = value;
  }
  for (const name of NAMES) {
    const value = env[name];
    if (value !== undefined && value !== '') merged[name] = value;
  }

  problems.push(...missingVariables(merged), ...httpsRules(merged));
  const result = schema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = issue.path.join('.') || 'configuration';
      problems.push(`${name}: ${issue.code === 'invalid_type' && merged[name] === undefined ? 'is required' : issue.message}`);
    }
    throw new ConfigError(problems);
  }
  problems.push(...valueRules(result.data));
  if (problems.length > 0) throw new ConfigError(problems);
  return buildConfig(result.data);
}

function buildConfig(s: Settings): Config {
  const sandbox = s.ICG_AUTH_URL === undefined && s.ICG_API_URL === undefined;
  const config: Config = {
    env: s.NODE_ENV,
    sandbox,
    port: s.PORT,
    host: s.HOST,
    logLevel: s.LOG_LEVEL,
    icg: {
      authUrl: s.ICG_AUTH_URL ?? '',
      apiUrl: s.ICG_API_URL ?? '',
      clientId: new Secret(s.ICG_CLIENT_ID ?? SANDBOX_CREDENTIALS.clientId),
      username: new Secret(s.ICG_USERNAME ?? SANDBOX_CREDENTIALS.username),
      password: new Secret(s.ICG_PASSWORD ?? SANDBOX_CREDENTIALS.password),
      timeoutMs: s.ICG_TIMEOUT_MS,
      maxSockets: s.ICG_MAX_SOCKETS,
      loginBackoffMs: s.ICG_LOGIN_BACKOFF_MS,
      loginBackoffMaxMs: s.ICG_LOGIN_BACKOFF_MAX_MS,
      responseExtraFields: s.ICG_RESPONSE_EXTRA_FIELDS,
    },
    token: { refreshMarginMaxMs: s.TOKEN_REFRESH_MARGIN_MAX_MS, refreshMarginRatio: s.TOKEN_REFRESH_MARGIN_RATIO },
    redis: {
      url: s.REDIS_URL === undefined ? null : new Secret(s.REDIS_URL),
      keyPrefix: s.REDIS_KEY_PREFIX,
      commandTimeoutMs: s.REDIS_COMMAND_TIMEOUT_MS,
      connectTimeoutMs: s.REDIS_CONNECT_TIMEOUT_MS,
    },
    http: {
      bodyLimitBytes: s.BODY_LIMIT_BYTES,
      trustProxy: s.TRUST_PROXY,
      corsOrigins: s.CORS_ORIGINS,
      checkoutPage: s.CHECKOUT_PAGE,
      shutdownDrainMs: s.SHUTDOWN_DRAIN_MS,
      metricsToken: s.METRICS_TOKEN === undefined ? null : new Secret(s.METRICS_TOKEN),
    },
    rateLimit: {
      clientMax: s.RATE_LIMIT_MAX,
      clientWindowMs: s.RATE_LIMIT_WINDOW_MS,
      invoiceMax: s.RATE_LIMIT_INVOICE_MAX,
      invoiceWindowMs: s.RATE_LIMIT_INVOICE_WINDOW_MS,
      onRedisDown: s.RATE_LIMIT_REDIS_DOWN,
    },
    idempotency: { ttlSeconds: s.IDEMPOTENCY_TTL_SECONDS },
  };
  return deepFreeze(config);
}

/** Returns a copy of `config` with other settings merged in: how main.ts points a sandbox config at the running sandbox, and how tests vary one setting. */
export function withOverrides(config: Config, overrides: { [K in keyof Config]?: Partial<Config[K]> }): Config {
  const next: Record<string, unknown> = { ...config };
  for (const [key, value] of Object.entries(overrides)) {
    const current = (config as unknown as Record<string, unknown>)[key];
    next[key] = typeof current === 'object' && current !== null && !Array.isArray(current) && !(current instanceof Secret) ? { ...(current as object), ...(value as object) } : value;
  }
  return deepFreeze(next as unknown as Config);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !(value instanceof Secret) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
