import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Secret } from '../secret';
import { listSettings, SETTINGS, type ValuesOf } from './settings';

/** Where config/<NODE_ENV>.json live: beside src/ in the repo, beside dist/ in a build. */
const DEFAULT_CONFIG_DIR = path.resolve(__dirname, '..', '..', 'config');

/** The credentials the sandbox accepts (it is a fake iCG; these guard nothing). */
export const SANDBOX_CREDENTIALS = {
  clientId: 'sandbox-client',
  username: 'sandbox-merchant',
  password: 'sandbox-password',
} as const;

type Settings = ValuesOf<typeof SETTINGS>;

/** The service's frozen configuration: every setting, plus what follows from them. */
export interface Config extends Omit<Settings, 'icg'> {
  /** True when iCG is the sandbox: payments are simulated. Never true in production. */
  readonly sandbox: boolean;
  readonly icg: IcgSettings;
}

/** Where one credential comes from: the environment, or a file re-read on SIGHUP. */
export type CredentialSource = { readonly value: Secret } | { readonly file: string };

/** iCG's settings with the URLs and credential sources resolved (the sandbox's in sandbox mode). */
export interface IcgSettings extends Omit<
  Settings['icg'],
  'authUrl' | 'apiUrl' | 'clientId' | 'username' | 'password' | 'clientIdFile' | 'usernameFile' | 'passwordFile'
> {
  /** Login is POST {authUrl}/Login. */
  readonly authUrl: string;
  /** Pay is POST {apiUrl}/Invoices/{id}/Pay. */
  readonly apiUrl: string;
  readonly credentials: { readonly clientId: CredentialSource; readonly username: CredentialSource; readonly password: CredentialSource };
}

/** Thrown when the merged configuration is invalid; `problems` name each bad variable, never a value. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const ENTRIES = listSettings();
const SECRET_NAMES = new Set(ENTRIES.filter((entry) => entry.setting.secret).map((entry) => entry.setting.name));
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError([`${file}: must hold a JSON object`]);
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, typeof v === 'number' || typeof v === 'boolean' ? String(v) : v]));
}

/**
 * Reads a .env file into `env` before the configuration is loaded: ENV_FILE when set (in any
 * environment), else ./.env when present outside production. Variables already set win (Node's own
 * process.loadEnvFile). Returns the file read, or null.
 */
export function loadEnvFile(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): string | null {
  const explicit = env['ENV_FILE'];
  const file = explicit || (env['NODE_ENV'] === 'production' ? undefined : path.join(cwd, '.env'));
  if (!file || (!explicit && !existsSync(file))) return null;
  if (env === process.env) process.loadEnvFile(file);
  else for (const [name, value] of Object.entries(parseEnvFile(readFileSync(file, 'utf8')))) env[name] ??= value;
  return file;
}

/** KEY=value lines (quotes stripped, # comments skipped): for an env other than process.env (tests). */
function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trimStart().startsWith('#')) continue;
    const [, name = '', raw = ''] = match;
    out[name] = raw.replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/** True when no iCG is configured outside production: the service runs against the sandbox. */
export function isSandboxMode(env: NodeJS.ProcessEnv): boolean {
  return env['NODE_ENV'] !== 'production' && !env['ICG_AUTH_URL'] && !env['ICG_API_URL'];
}

/** The credentials sandbox mode uses: those set in the environment, else the sandbox's own. */
export function sandboxCredentials(env: NodeJS.ProcessEnv): { clientId: string; username: string; password: string } {
  return {
    clientId: env['ICG_CLIENT_ID'] || SANDBOX_CREDENTIALS.clientId,
    username: env['ICG_USERNAME'] || SANDBOX_CREDENTIALS.username,
    password: env['ICG_PASSWORD'] || SANDBOX_CREDENTIALS.password,
  };
}

/** Settings given either as a value or as a file holding it (the `_FILE` convention of Docker/Kubernetes secrets). */
const EITHER_OR_FILE = ['ICG_CLIENT_ID', 'ICG_USERNAME', 'ICG_PASSWORD', 'FINGERPRINT_KEYS'] as const;

/** Settings an earlier version had, and what replaced them: set, they stop the start rather than being ignored. */
const RENAMED: Readonly<Record<string, string>> = {
  RATE_LIMIT_REDIS_DOWN: 'renamed to REDIS_DOWN_MODE (open → local, closed → refuse); it now also decides invoice locks',
};

/** Which variables must be present: production never falls back to the sandbox, to memory or to the development key. */
function missingVariables(raw: Record<string, unknown>): string[] {
  const isProduction = raw['NODE_ENV'] === 'production';
  const hasAuth = raw['ICG_AUTH_URL'] !== undefined;
  const hasApi = raw['ICG_API_URL'] !== undefined;
  const isSet = (name: string) => raw[name] !== undefined || raw[`${name}_FILE`] !== undefined;
  const problems: string[] = [];
  for (const name of EITHER_OR_FILE)
    if (raw[name] !== undefined && raw[`${name}_FILE`] !== undefined) problems.push(`${name}: set ${name} or ${name}_FILE, not both`);
  if (hasAuth !== hasApi && !isProduction) {
    problems.push(
      `${hasAuth ? 'ICG_API_URL' : 'ICG_AUTH_URL'}: is required when ${hasAuth ? 'ICG_AUTH_URL' : 'ICG_API_URL'} is set (leave both unset for the sandbox)`,
    );
  }
  if (isProduction) {
    for (const name of ['ICG_AUTH_URL', 'ICG_API_URL', 'REDIS_URL']) if (raw[name] === undefined) problems.push(`${name}: is required in production`);
    for (const name of ['ICG_CLIENT_ID', 'ICG_USERNAME', 'ICG_PASSWORD', 'FINGERPRINT_KEYS'])
      if (!isSet(name)) problems.push(`${name}: is required in production (or ${name}_FILE)`);
  } else if (hasAuth || hasApi) {
    for (const name of ['ICG_CLIENT_ID', 'ICG_USERNAME', 'ICG_PASSWORD'])
      if (!isSet(name)) problems.push(`${name}: is required when ICG_AUTH_URL/ICG_API_URL are set (or ${name}_FILE)`);
  }
  return problems;
}

/** https to iCG in production; checked on the raw values, so it is reported along with every other problem. */
function httpsRules(raw: Record<string, unknown>): string[] {
  if (raw['NODE_ENV'] !== 'production') return [];
  return (['ICG_AUTH_URL', 'ICG_API_URL'] as const).flatMap((name) => {
    const value = raw[name];
    if (typeof value !== 'string' || !URL.canParse(value)) return [];
    const url = new URL(value);
    return url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)
      ? [`${name}: must use https in production (plain http is allowed for loopback only)`]
      : [];
  });
}

/** Rules between valid values. */
function valueRules(s: Settings): string[] {
  const problems: string[] = [];
  if (s.icg.loginBackoffMaxMs < s.icg.loginBackoffMs) problems.push('ICG_LOGIN_BACKOFF_MAX_MS: must not be below ICG_LOGIN_BACKOFF_MS');
  // A pay must fit a login and the pay itself, each bounded by ICG_TIMEOUT_MS.
  if (s.pay.deadlineMs < 2 * s.icg.timeoutMs + 1000)
    problems.push(`PAY_DEADLINE_MS: must be at least 2 × ICG_TIMEOUT_MS + 1000 (${2 * s.icg.timeoutMs + 1000})`);
  return problems;
}

/** The raw settings: declared defaults, then config/<NODE_ENV>.json, then the environment (empty values ignored). */
function mergeSources(env: NodeJS.ProcessEnv, configDir: string, problems: string[]): Record<string, unknown> {
  const nodeEnv = env['NODE_ENV'] || 'development';
  const fromFile = /^[a-z]+$/.test(nodeEnv) ? readJson(path.join(configDir, `${nodeEnv}.json`)) : {};
  const merged: Record<string, unknown> = {};
  for (const { setting } of ENTRIES) if (setting.default !== undefined) merged[setting.name] = setting.default;
  for (const [name, value] of Object.entries(fromFile)) {
    if (SECRET_NAMES.has(name)) problems.push(`${name}: is a secret and may only come from the environment, not from config/`);
    else merged[name] = value;
  }
  for (const { setting } of ENTRIES) {
    const value = env[setting.name];
    if (value !== undefined && value !== '') merged[setting.name] = value;
  }
  for (const [name, replacement] of Object.entries(RENAMED)) if (env[name] !== undefined && env[name] !== '') problems.push(`${name}: ${replacement}`);
  merged['NODE_ENV'] = nodeEnv;
  return merged;
}

/** Parses every setting of `tree` from `raw`, collecting one problem per bad variable. */
function parseTree(tree: object, raw: Record<string, unknown>, problems: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) {
    if (!('name' in value && 'type' in value)) {
      out[key] = parseTree(value as object, raw, problems);
      continue;
    }
    const { name, type } = value as {
      name: string;
      type: { safeParse(input: unknown): { success: true; data: unknown } | { success: false; error: { issues: { code: string; message: string }[] } } };
    };
    const result = type.safeParse(raw[name]);
    if (result.success) out[key] = result.data;
    else
      for (const issue of result.error.issues)
        problems.push(`${name}: ${issue.code === 'invalid_type' && raw[name] === undefined ? 'is required' : issue.message}`);
  }
  return out;
}

/**
 * Builds the one frozen configuration: each setting's declared default, then config/<NODE_ENV>.json,
 * then the environment. Secrets are accepted from the environment only. Throws ConfigError listing
 * every bad variable by name; a value is never echoed, so a secret in a wrong place cannot leak
 * through it. In sandbox mode `sandboxUrl` is where the running sandbox answers.
 */
export function loadConfig(env: NodeJS.ProcessEnv, options: { configDir?: string; sandboxUrl?: string } = {}): Config {
  const problems: string[] = [];
  const raw = mergeSources(env, options.configDir ?? DEFAULT_CONFIG_DIR, problems);
  problems.push(...missingVariables(raw), ...httpsRules(raw));
  const settings = parseTree(SETTINGS, raw, problems) as unknown as Settings;
  if (problems.length === 0) problems.push(...valueRules(settings));
  if (problems.length > 0) throw new ConfigError(problems);

  const sandbox = settings.icg.authUrl === undefined && settings.icg.apiUrl === undefined;
  // In sandbox mode without a running sandbox (a unit test), the URLs point at a name that never resolves.
  const sandboxUrl = options.sandboxUrl ?? 'http://sandbox.invalid';
  const { clientId, username, password, clientIdFile, usernameFile, passwordFile, ...icg } = settings.icg;
  const source = (value: Secret | undefined, file: string | undefined, fallback: string): CredentialSource =>
    file !== undefined ? { file } : { value: value ?? new Secret(fallback) };
  return deepFreeze({
    ...settings,
    sandbox,
    icg: {
      ...icg,
      authUrl: settings.icg.authUrl ?? sandboxUrl,
      apiUrl: settings.icg.apiUrl ?? sandboxUrl,
      credentials: {
        clientId: source(clientId, clientIdFile, SANDBOX_CREDENTIALS.clientId),
        username: source(username, usernameFile, SANDBOX_CREDENTIALS.username),
        password: source(password, passwordFile, SANDBOX_CREDENTIALS.password),
      },
    },
  });
}

/** Returns a copy of `config` with other settings merged in: how tests vary one setting. */
export function withOverrides(config: Config, overrides: { [K in keyof Config]?: Partial<Config[K]> }): Config {
  const next: Record<string, unknown> = { ...config };
  for (const [key, value] of Object.entries(overrides)) {
    const current = (config as unknown as Record<string, unknown>)[key];
    next[key] =
      typeof current === 'object' && current !== null && !Array.isArray(current) && !(current instanceof Secret) ? { ...current, ...(value as object) } : value;
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
