import { isIP } from 'node:net';
import { z } from 'zod';
import { Secret } from '../secret';
import { isRedisUrl } from '../state/redis-url';

/**
 * Every setting of the service, each declared once: its environment variable, type, default and
 * meaning. The Config type, the defaults, `.env.example` and the README's table are derived from here
 * (test/unit/settings-docs.test.ts keeps the two files true; `npm run docs:settings` rewrites them).
 * Values come from config/<NODE_ENV>.json, then the environment; secrets from the environment only.
 */

export type Environment = 'development' | 'test' | 'production';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** Express's `trust proxy` value: false, a hop count, or a list of addresses/subnets. */
export type TrustProxy = false | number | string[];

/** One setting: the variable ops set, how its text is read, its default (as text) and what it means. */
export interface Setting<T> {
  readonly name: string;
  readonly type: z.ZodType<T>;
  /** The value when neither config/<NODE_ENV>.json nor the environment sets one; absent: none. */
  readonly default?: string;
  readonly doc: string;
  /** Only ever read from the environment, never printed. */
  readonly secret?: boolean;
  /** What .env.example shows when there is no default. */
  readonly example?: string;
}

function setting<T>(spec: Setting<T>): Setting<T> {
  return spec;
}

const int = (min: number, max: number) =>
  z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
const flag = z.enum(['true', 'false'], { message: 'must be true or false' }).transform((v) => v === 'true');
const secretText = z
  .string()
  .min(1)
  .transform((value) => new Secret(value));

const httpUrl = z
  .string()
  .refine((value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
  }, 'must be an http(s) URL without credentials, query or fragment')
  .transform((value) => value.replace(/\/+$/, ''));

const trustProxy = z.string().transform((value, ctx): TrustProxy => {
  const text = value.trim();
  if (text === '' || text === 'false') return false;
  if (/^\d+$/.test(text)) return Number(text);
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const named = new Set(['loopback', 'linklocal', 'uniquelocal']);
  const valid = entries.every((entry) => {
    if (named.has(entry)) return true;
    const [address, bits, extra] = entry.split('/');
    if (extra !== undefined || address === undefined || isIP(address) === 0) return false;
    return bits === undefined || /^\d{1,3}$/.test(bits);
  });
  if (!valid) {
    ctx.addIssue({
      code: 'custom',
      message:
        "must be false, a hop count, or a comma-separated list of addresses, subnets, 'loopback', 'linklocal' or 'uniquelocal' ('true' trusts any client's X-Forwarded-For)",
    });
    return z.NEVER;
  }
  return entries;
});

const origins = z.string().transform((value, ctx) => {
  const list = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const entry of list) {
    const url = URL.canParse(entry) ? new URL(entry) : undefined;
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== entry.replace(/\/$/, '')) {
      ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of origins such as https://shop.example.com' });
      return z.NEVER;
    }
  }
  return list.map((entry) => new URL(entry).origin);
});

const fieldPaths = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean),
  )
  .refine(
    (list) => list.every((entry) => /^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$/.test(entry)),
    'must be a comma-separated list of field names or dotted paths such as EmvData or ExtraData.Terminal',
  );

/** The settings, grouped as the Config object groups them. */
export const SETTINGS = {
  env: setting({
    name: 'NODE_ENV',
    type: z.enum(['development', 'test', 'production'], { message: 'must be development, test or production' }),
    default: 'development',
    doc: '`development`, `test` or `production`; selects config/<NODE_ENV>.json. Production requires every iCG setting and REDIS_URL and never falls back to the sandbox or to memory.',
  }),
  port: setting({ name: 'PORT', type: int(0, 65535), default: '8080', doc: 'Port to listen on.' }),
  host: setting({ name: 'HOST', type: z.string().min(1), default: '0.0.0.0', doc: 'Address to listen on (127.0.0.1 in development).' }),
  logLevel: setting({
    name: 'LOG_LEVEL',
    type: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be one of fatal, error, warn, info, debug, trace, silent' }),
    default: 'info',
    doc: '`fatal` … `trace`, `silent`. Pretty output in development only.',
  }),
  icg: {
    authUrl: setting({
      name: 'ICG_AUTH_URL',
      type: httpUrl.optional(),
      doc: 'Login is `POST {ICG_AUTH_URL}/Login`. Unset (with ICG_API_URL) outside production: the built-in sandbox. https in production (loopback excepted).',
      example: 'https://auth.icheckdev.com',
    }),
    apiUrl: setting({
      name: 'ICG_API_URL',
      type: httpUrl.optional(),
      doc: 'Pay is `POST {ICG_API_URL}/Invoices/{id}/Pay`. https in production (loopback excepted).',
      example: 'https://process.example-icg-host.com',
    }),
    clientId: setting({ name: 'ICG_CLIENT_ID', type: secretText.optional(), secret: true, doc: "iCG's application audience ID." }),
    username: setting({ name: 'ICG_USERNAME', type: secretText.optional(), secret: true, doc: "The merchant user's iCG username." }),
    password: setting({ name: 'ICG_PASSWORD', type: secretText.optional(), secret: true, doc: "The merchant user's iCG password." }),
    timeoutMs: setting({
      name: 'ICG_TIMEOUT_MS',
      type: int(100, 120000),
      default: '10000',
      doc: 'Hard deadline for each iCG call (login, refresh, pay); a pay answers 504 after it.',
    }),
    maxSockets: setting({
      name: 'ICG_MAX_SOCKETS',
      type: int(1, 65535),
      default: '512',
      doc: 'Keep-alive sockets to iCG per instance (bounds concurrent upstream calls).',
    }),
    loginBackoffMs: setting({
      name: 'ICG_LOGIN_BACKOFF_MS',
      type: int(100, 3600000),
      default: '30000',
      doc: 'Pause after iCG rejects the credentials, shared by all instances; doubles on each rejection.',
    }),
    loginBackoffMaxMs: setting({ name: 'ICG_LOGIN_BACKOFF_MAX_MS', type: int(100, 86400000), default: '900000', doc: 'The longest that pause grows to.' }),
    responseExtraFields: setting({
      name: 'ICG_RESPONSE_EXTRA_FIELDS',
      type: fieldPaths,
      default: '',
      doc: "Fields of iCG's pay answer relayed and stored besides the documented ones (comma-separated dotted paths, e.g. `EmvData`). RawRequest/RawResponse are dropped unless listed; every kept value is still scrubbed of card numbers, CVVs and account numbers.",
    }),
  },
  token: {
    refreshMarginMaxMs: setting({
      name: 'TOKEN_REFRESH_MARGIN_MAX_MS',
      type: int(0, 3600000),
      default: '60000',
      doc: 'A token is renewed min(this, TOKEN_REFRESH_MARGIN_RATIO × lifetime) before it expires.',
    }),
    refreshMarginRatio: setting({
      name: 'TOKEN_REFRESH_MARGIN_RATIO',
      type: z.coerce.number({ message: 'must be a number' }).min(0, 'must be between 0 and 0.5').max(0.5, 'must be between 0 and 0.5'),
      default: '0.1',
      doc: 'See TOKEN_REFRESH_MARGIN_MAX_MS.',
    }),
  },
  redis: {
    url: setting({
      name: 'REDIS_URL',
      type: z
        .string()
        .refine(isRedisUrl, 'must be a redis://host[:port][/db], rediss://… or redis+sentinel://h1:port,h2:port/master[/db] URL (db a number)')
        .transform((value) => new Secret(value))
        .optional(),
      secret: true,
      doc: '`redis://[:pw@]host:6379[/db]`, `rediss://…` (TLS) or `redis+sentinel://[:pw@]h1:26379,h2:26379/mymaster[/db]`. Unset outside production: state lives in this process.',
      example: 'redis://127.0.0.1:6379',
    }),
    keyPrefix: setting({
      name: 'REDIS_KEY_PREFIX',
      type: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1-64 letters, digits or : _ . -'),
      default: 'icg-bff:',
      doc: 'Prefix of every key this deployment writes (several deployments can share a Redis).',
    }),
    commandTimeoutMs: setting({
      name: 'REDIS_COMMAND_TIMEOUT_MS',
      type: int(10, 60000),
      default: '500',
      doc: 'A slower Redis command fails, and the service degrades instead of waiting.',
    }),
    connectTimeoutMs: setting({
      name: 'REDIS_CONNECT_TIMEOUT_MS',
      type: int(10, 60000),
      default: '2000',
      doc: 'How long one connection attempt to Redis may take.',
    }),
  },
  http: {
    bodyLimitBytes: setting({ name: 'BODY_LIMIT_BYTES', type: int(256, 1048576), default: '16384', doc: 'Largest accepted /pay body in bytes (larger: 413).' }),
    trustProxy: setting({
      name: 'TRUST_PROXY',
      type: trustProxy,
      default: 'false',
      doc: "Express `trust proxy`: `false` (the socket address), a hop count, or addresses/subnets (`loopback`, `10.0.0.0/8`, …). `true` is refused: it would trust any client's X-Forwarded-For.",
    }),
    corsOrigins: setting({
      name: 'CORS_ORIGINS',
      type: origins,
      default: '',
      doc: 'Other origins whose pages may call /pay (comma-separated); empty: same-origin only.',
    }),
    checkoutPage: setting({ name: 'CHECKOUT_PAGE', type: flag, default: 'true', doc: 'Serve the demo checkout page at /checkout (false in production).' }),
    shutdownDrainMs: setting({
      name: 'SHUTDOWN_DRAIN_MS',
      type: int(0, 300000),
      default: '10000',
      doc: 'How long SIGTERM waits for in-flight requests before closing connections (a pay already at iCG is always waited for; see docs/operations.md).',
    }),
    metricsToken: setting({
      name: 'METRICS_TOKEN',
      type: z
        .string()
        .min(16, 'must be at least 16 characters')
        .transform((value) => new Secret(value))
        .optional(),
      secret: true,
      doc: 'When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>` (16 characters or more).',
    }),
  },
  rateLimit: {
    clientMax: setting({
      name: 'RATE_LIMIT_MAX',
      type: int(1, 1000000),
      default: '30',
      doc: 'Pays per client (socket address, or the forwarded address TRUST_PROXY trusts) per window.',
    }),
    clientWindowMs: setting({ name: 'RATE_LIMIT_WINDOW_MS', type: int(1000, 86400000), default: '60000', doc: 'The per-client window.' }),
    invoiceMax: setting({
      name: 'RATE_LIMIT_INVOICE_MAX',
      type: int(1, 1000000),
      default: '5',
      doc: 'Pays per invoice per window (card testing hammers one invoice).',
    }),
    invoiceWindowMs: setting({ name: 'RATE_LIMIT_INVOICE_WINDOW_MS', type: int(1000, 86400000), default: '600000', doc: 'The per-invoice window.' }),
    onRedisDown: setting({
      name: 'RATE_LIMIT_REDIS_DOWN',
      type: z.enum(['open', 'closed'], { message: 'must be open or closed' }),
      default: 'open',
      doc: 'Redis unreachable: `open` counts in each process, `closed` answers 503.',
    }),
  },
  idempotency: {
    ttlSeconds: setting({
      name: 'IDEMPOTENCY_TTL_SECONDS',
      type: int(60, 604800),
      default: '86400',
      doc: 'How long a final answer is kept for replay under its Idempotency-Key.',
    }),
  },
} as const;

/** The titles the groups above carry in .env.example and the README. */
export const GROUP_TITLES: Readonly<Record<string, string>> = {
  '': 'Service',
  icg: 'iCG',
  token: 'Access token',
  redis: 'Redis (shared token, locks, idempotency records, rate limits)',
  http: 'HTTP',
  rateLimit: 'Abuse limits',
  idempotency: 'Idempotency',
};

type SettingTree = { readonly [key: string]: Setting<unknown> | SettingTree };

/** The values a tree of settings yields: each setting's type, nested as declared. */
export type ValuesOf<T> = { readonly [K in keyof T]: T[K] extends Setting<infer V> ? V : ValuesOf<T[K]> };

export function isSetting(value: Setting<unknown> | SettingTree): value is Setting<unknown> {
  return typeof value['name'] === 'string' && 'type' in value;
}

/** Every setting with its group, in declaration order. */
export function listSettings(tree: SettingTree = SETTINGS, group = ''): { group: string; path: string[]; setting: Setting<unknown> }[] {
  return Object.entries(tree).flatMap(([key, value]) =>
    isSetting(value) ? [{ group, path: [key], setting: value }] : listSettings(value, key).map((entry) => ({ ...entry, path: [key, ...entry.path] })),
  );
}
