import { isIP } from 'node:net';
import { z } from 'zod';
import { Secret } from '../secret';
import { parseOriginPattern, type OriginPattern } from '../origins';
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
  const patterns = list.map(parseOriginPattern);
  if (patterns.some((pattern) => pattern === null)) {
    ctx.addIssue({
      code: 'custom',
      message:
        "must be a comma-separated list of origins: https://shop.example.com, https://*.shop.example (one label), or an app's scheme such as capacitor://localhost ('null' is never allowed)",
    });
    return z.NEVER;
  }
  return patterns.filter((pattern): pattern is OriginPattern => pattern !== null);
});

/** A comma-separated list of words, trimmed and lower-cased (iCG's Status values compare case-insensitively). */
const words = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((entry) => entry.trim().toLowerCase())
      .filter(Boolean),
  )
  .refine((list) => list.length > 0, 'must list at least one value');

/** A path to a readable file (its contents are read when the service starts and on SIGHUP). */
const filePath = z.string().min(1);

/** `id:base64secret[,…]`: at least one key, ids unique, each secret at least 32 bytes. */
const keyring = z.string().transform((value, ctx) => {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const keys = entries.map((entry) => {
    const [id = '', secret = ''] = entry.split(':', 2);
    return { id, secret: Buffer.from(secret, 'base64') };
  });
  const ids = new Set(keys.map((key) => key.id));
  if (keys.length === 0 || ids.size !== keys.length || keys.some((key) => !/^[A-Za-z0-9_-]{1,32}$/.test(key.id) || key.secret.length < 32)) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be id:base64secret[,id:base64secret…] with unique ids (letters, digits, - _) and secrets of at least 32 bytes',
    });
    return z.NEVER;
  }
  return new Secret(JSON.stringify(keys.map((key) => ({ id: key.id, secret: key.secret.toString('base64') }))));
});

/** `auto` (9090, else any free port) or a port number. */
const adminPort = z.string().transform((value, ctx) => {
  if (value === 'auto') return { port: 9090, isFixed: false };
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'must be auto or a port number from 0 to 65535' });
    return z.NEVER;
  }
  return { port, isFixed: true };
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
  envFile: setting({
    name: 'ENV_FILE',
    type: filePath.optional(),
    doc: 'A file of VARIABLE=value lines read before anything else (variables already set win). Without it, ./.env is read when present, except in production (never by surprise there).',
  }),
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
    clientIdFile: setting({
      name: 'ICG_CLIENT_ID_FILE',
      type: filePath.optional(),
      doc: 'A file holding ICG_CLIENT_ID instead (Docker/Kubernetes secrets); re-read on SIGHUP and when iCG rejects a login.',
    }),
    usernameFile: setting({
      name: 'ICG_USERNAME_FILE',
      type: filePath.optional(),
      doc: 'A file holding ICG_USERNAME instead; re-read like ICG_CLIENT_ID_FILE.',
    }),
    passwordFile: setting({
      name: 'ICG_PASSWORD_FILE',
      type: filePath.optional(),
      doc: 'A file holding ICG_PASSWORD instead; re-read like ICG_CLIENT_ID_FILE, so a rotated password is used by the next login without a restart.',
    }),
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
    statusApproved: setting({
      name: 'ICG_STATUS_APPROVED',
      type: words,
      default: 'Approved',
      doc: "Values of iCG's `Status` that mean charged (comma-separated, any letter case). iCG does not document them; a Status on neither list counts as an unknown outcome.",
    }),
    statusDeclined: setting({
      name: 'ICG_STATUS_DECLINED',
      type: words,
      default: 'Declined',
      doc: "Values of iCG's `Status` that mean not charged (a decline arrives as a 200).",
    }),
    responseExtraFields: setting({
      name: 'ICG_RESPONSE_EXTRA_FIELDS',
      type: fieldPaths,
      default: '',
      doc: "Fields of iCG's pay answer relayed and stored besides the documented ones (comma-separated dotted paths, e.g. `EmvData`). RawRequest/RawResponse are dropped unless listed; every kept value is still scrubbed of card numbers, CVVs and account numbers.",
    }),
  },
  pay: {
    deadlineMs: setting({
      name: 'PAY_DEADLINE_MS',
      type: int(1000, 120000),
      default: '25000',
      doc: "The longest a whole pay may take: waiting for another instance's login, a login of its own, the pay and the one retry after a 401. No iCG call starts unless ICG_TIMEOUT_MS fits in what is left. Lock and record lifetimes and the shutdown wait derive from it. At least 2 × ICG_TIMEOUT_MS + 1000.",
    }),
    unknownOutcomeHoldMs: setting({
      name: 'UNKNOWN_OUTCOME_HOLD_MS',
      type: int(0, 86400000),
      default: '300000',
      doc: 'After a pay whose outcome is unknown (timeout, 5xx, unreadable answer), other attempts on that invoice without its Idempotency-Key get 409 for this long, or until an operator resolves it. 0 disables the hold.',
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
        .refine(
          isRedisUrl,
          'must be a redis://host[:port][/db], rediss://…, redis+sentinel://h1:port,h2:port/master[/db] or redis+cluster://h1:port,h2:port URL (db a number)',
        )
        .transform((value) => new Secret(value))
        .optional(),
      secret: true,
      doc: '`redis://[:pw@]host:6379[/db]`, `rediss://…` (TLS), `redis+sentinel://[:pw@]h1:26379,h2:26379/mymaster[/db]`, or `redis+cluster://[:pw@]h1:7000,h2:7001` (`rediss+cluster://` for TLS). Unset outside production: state lives in this process.',
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
    downMode: setting({
      name: 'REDIS_DOWN_MODE',
      type: z.enum(['refuse', 'local'], { message: 'must be refuse or local' }),
      default: 'refuse',
      doc: 'While Redis is unreachable: `refuse` answers every pay 503 (the only safe choice with more than one instance); `local` takes invoice locks and rate limits in each process (safe with one instance). Pays with an Idempotency-Key are always refused without Redis.',
    }),
    localStateMaxEntries: setting({
      name: 'LOCAL_STATE_MAX_ENTRIES',
      type: int(100, 10000000),
      default: '10000',
      doc: 'With REDIS_DOWN_MODE=local, how many invoice locks each process keeps at most; at the cap new invoices are refused (503), held ones are never evicted.',
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
      doc: "Other origins whose pages may call /pay (comma-separated): `https://shop.example.com`, `https://*.shop.example` (exactly one label), or a hybrid app's scheme such as `capacitor://localhost`. `null` is never allowed. Empty: same-origin only.",
    }),
    checkoutPage: setting({ name: 'CHECKOUT_PAGE', type: flag, default: 'true', doc: 'Serve the demo checkout page at /checkout (false in production).' }),
    shutdownDelayMs: setting({
      name: 'SHUTDOWN_DELAY_MS',
      type: int(0, 300000),
      default: '0',
      doc: "After SIGTERM, /readyz answers 503 at once while the listener keeps taking requests this long (your load balancer's deregistration time); then new pays get 503 (nothing sent) while the pays in flight finish, and the listener closes.",
    }),
    shutdownDrainMs: setting({
      name: 'SHUTDOWN_DRAIN_MS',
      type: int(0, 300000),
      default: '10000',
      doc: 'Once the listener is closed, how long open connections get to finish. A pay already on its way to iCG is always waited for (up to PAY_DEADLINE_MS).',
    }),
    metricsToken: setting({
      name: 'METRICS_TOKEN',
      type: z
        .string()
        .min(16, 'must be at least 16 characters')
        .transform((value) => new Secret(value))
        .optional(),
      secret: true,
      doc: 'When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>` (16 characters or more). In production the public port serves /metrics only when it is set; the admin listener always serves it.',
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
  },
  idempotency: {
    ttlSeconds: setting({
      name: 'IDEMPOTENCY_TTL_SECONDS',
      type: int(60, 604800),
      default: '86400',
      doc: 'How long a final answer is kept for replay under its Idempotency-Key.',
    }),
    fingerprintKeys: setting({
      name: 'FINGERPRINT_KEYS',
      type: keyring.optional(),
      secret: true,
      doc: 'HMAC keys for request fingerprints, `id:base64secret[,id:base64secret…]` (32 bytes or more each, e.g. `k1:$(openssl rand -base64 32)`), the first one current; keep an old key listed for IDEMPOTENCY_TTL_SECONDS after rotating. Never in Redis, never derived from the iCG password. Required in production; outside it a public development key is used.',
    }),
    fingerprintKeysFile: setting({
      name: 'FINGERPRINT_KEYS_FILE',
      type: filePath.optional(),
      doc: 'A file holding FINGERPRINT_KEYS instead (one `id:base64secret` per line or comma-separated).',
    }),
  },
  journal: {
    maxEntries: setting({
      name: 'JOURNAL_MAX_ENTRIES',
      type: int(100, 100000000),
      default: '100000',
      doc: 'Payment journal entries kept in Redis at most (the oldest go first); unresolved unknown outcomes are never trimmed.',
    }),
    maxAgeDays: setting({
      name: 'JOURNAL_MAX_AGE_DAYS',
      type: int(1, 3650),
      default: '30',
      doc: 'Journal entries older than this are trimmed (unresolved unknown outcomes excepted). Every entry is also a log line.',
    }),
  },
  admin: {
    port: setting({
      name: 'ADMIN_PORT',
      type: adminPort,
      default: 'auto',
      doc: 'The admin listener: /metrics and the payment journal API; never expose it publicly. `auto`: 9090, or a free port (logged) when 9090 is taken by another instance on the same host; a number: that port or fail.',
    }),
    host: setting({
      name: 'ADMIN_HOST',
      type: z.string().min(1),
      default: '127.0.0.1',
      doc: 'Where the admin listener binds (loopback by default; a private address to let Prometheus scrape it).',
    }),
    token: setting({
      name: 'ADMIN_TOKEN',
      type: z
        .string()
        .min(16, 'must be at least 16 characters')
        .transform((value) => new Secret(value))
        .optional(),
      secret: true,
      doc: 'Bearer token for the /admin API (16 characters or more); without it the admin API answers 404.',
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
  pay: 'Paying',
  rateLimit: 'Abuse limits',
  idempotency: 'Idempotency',
  journal: 'Payment journal',
  admin: 'Admin listener',
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
