import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, loadConfig, loadEnvFile } from '../../src/config';
import { sentinelOptions } from '../../src/state/redis-url';

const production = {
  NODE_ENV: 'production',
  ICG_AUTH_URL: 'https://auth.icheckdev.com',
  ICG_API_URL: 'https://process.icheckdev.com',
  ICG_CLIENT_ID: 'audience-id',
  ICG_USERNAME: 'merchant',
  ICG_PASSWORD: 'hunter2-the-password',
  REDIS_URL: 'redis://:redis-secret-pw@redis.internal:6379',
  FINGERPRINT_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('configuration', () => {
  it('starts in sandbox mode with no configuration outside production', () => {
    const config = loadConfig({});
    expect(config.env).toBe('development');
    expect(config.sandbox).toBe(true);
    expect(config.redis.url).toBeUndefined();
    expect(config.port).toBe(8080);
  });

  it('merges config/<env>.json under environment variables', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).logLevel).toBe('silent');
    expect(loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
    expect(loadConfig(production).http.checkoutPage).toBe(false);
  });

  it('accepts a complete production configuration and freezes it', () => {
    const config = loadConfig(production);
    expect(config.sandbox).toBe(false);
    expect(config.icg.apiUrl).toBe('https://process.icheckdev.com');
    expect(Object.isFrozen(config.icg)).toBe(true);
    expect(config.icg.credentials.password).toEqual({ value: expect.objectContaining({}) });
    expect('value' in config.icg.credentials.password && config.icg.credentials.password.value.reveal()).toBe('hunter2-the-password');
  });

  it('never falls back to the sandbox or memory in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    for (const name of ['ICG_AUTH_URL', 'ICG_API_URL', 'ICG_CLIENT_ID', 'ICG_USERNAME', 'ICG_PASSWORD', 'REDIS_URL']) {
      expect(problems.some((p) => p.startsWith(`${name}:`))).toBe(true);
    }
  });

  it('requires the fingerprint keys in production, from the environment or a file, never both', () => {
    const withoutKeys: Record<string, string> = { ...production };
    delete withoutKeys['FINGERPRINT_KEYS'];
    expect(problemsOf(withoutKeys)).toEqual([expect.stringMatching(/^FINGERPRINT_KEYS: is required in production/)]);
    expect(problemsOf({ ...withoutKeys, FINGERPRINT_KEYS_FILE: '/run/secrets/keys' })).toEqual([]);
    expect(problemsOf({ ...production, FINGERPRINT_KEYS_FILE: '/run/secrets/keys' })).toEqual([
      expect.stringMatching(/^FINGERPRINT_KEYS: set FINGERPRINT_KEYS or FINGERPRINT_KEYS_FILE, not both/),
    ]);
    expect(problemsOf({ ...production, FINGERPRINT_KEYS: 'k1:c2hvcnQ=' })).toEqual([expect.stringMatching(/^FINGERPRINT_KEYS: must be id:base64secret/)]);
  });

  it('accepts credentials from files instead of the environment', () => {
    const withoutPassword: Record<string, string> = { ...production };
    delete withoutPassword['ICG_PASSWORD'];
    expect(problemsOf(withoutPassword)).toEqual([expect.stringMatching(/^ICG_PASSWORD: is required in production/)]);
    const config = loadConfig({ ...withoutPassword, ICG_PASSWORD_FILE: '/run/secrets/icg-password' });
    expect(config.icg.credentials.password).toEqual({ file: '/run/secrets/icg-password' });
  });

  it('keeps the pay deadline long enough for a login and a pay', () => {
    expect(problemsOf({ ...production, ICG_TIMEOUT_MS: '10000', PAY_DEADLINE_MS: '20000' })).toEqual([
      expect.stringMatching(/^PAY_DEADLINE_MS: must be at least 2 × ICG_TIMEOUT_MS \+ 1000/),
    ]);
    expect(problemsOf({ ...production, ICG_TIMEOUT_MS: '10000', PAY_DEADLINE_MS: '21000' })).toEqual([]);
  });

  it('refuses a setting that was renamed rather than ignoring it', () => {
    expect(problemsOf({ ...production, RATE_LIMIT_REDIS_DOWN: 'open' })).toEqual([expect.stringMatching(/^RATE_LIMIT_REDIS_DOWN: renamed to REDIS_DOWN_MODE/)]);
  });

  it('refuses unsafe Redis-down behaviour only by choice: refuse by default, local when asked', () => {
    expect(loadConfig(production).redis.downMode).toBe('refuse');
    expect(loadConfig({ ...production, REDIS_DOWN_MODE: 'local' }).redis.downMode).toBe('local');
    expect(problemsOf({ ...production, REDIS_DOWN_MODE: 'open' })).toHaveLength(1);
  });

  it('reads the admin port as auto or a fixed number', () => {
    expect(loadConfig(production).admin.port).toEqual({ port: 9090, isFixed: false });
    expect(loadConfig({ ...production, ADMIN_PORT: '9100' }).admin.port).toEqual({ port: 9100, isFixed: true });
    expect(problemsOf({ ...production, ADMIN_PORT: 'x' })).toHaveLength(1);
  });

  it("reads iCG's Status mapping case-insensitively", () => {
    expect(loadConfig({ ...production, ICG_STATUS_APPROVED: 'Approved, Captured' }).icg.statusApproved).toEqual(['approved', 'captured']);
  });

  it('requires https for iCG in production, except on loopback', () => {
    expect(problemsOf({ ...production, ICG_API_URL: 'http://process.icheckdev.com' })).toEqual([expect.stringMatching(/^ICG_API_URL: must use https/)]);
    expect(problemsOf({ ...production, ICG_API_URL: 'http://127.0.0.1:4010', ICG_AUTH_URL: 'http://localhost:4010' })).toEqual([]);
  });

  it('names every bad variable at once and never prints a value', () => {
    const env = {
      ...production,
      ICG_AUTH_URL: 'http://auth.icheckdev.com',
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'http://:redis-secret-pw@x',
      ICG_TIMEOUT_MS: '-1',
      TRUST_PROXY: 'true',
      CORS_ORIGINS: 'not an origin',
    };
    let message = '';
    try {
      loadConfig(env);
    } catch (error) {
      message = (error as Error).message;
    }
    for (const name of ['ICG_AUTH_URL', 'PORT', 'LOG_LEVEL', 'REDIS_URL', 'ICG_TIMEOUT_MS', 'TRUST_PROXY', 'CORS_ORIGINS'])
      expect(message).toContain(`${name}:`);
    for (const value of ['redis-secret-pw', 'hunter2-the-password', 'eighty', 'loud']) expect(message).not.toContain(value);
  });

  it('accepts a Redis database number and nothing else after the host', () => {
    for (const url of [
      'redis://h:6379',
      'redis://h:6379/',
      'redis://:pw@h:6379/3',
      'rediss://h/15',
      'redis+sentinel://h1:26379,h2:26379/mymaster',
      'redis+sentinel://h1:26379/mymaster/2',
    ]) {
      expect(problemsOf({ ...production, REDIS_URL: url })).toEqual([]);
    }
    for (const url of ['redis://h:6379/abc', 'redis://h/1/2', 'redis://h/1?x=1', 'redis+sentinel://h1:26379', 'redis+sentinel://h1:26379/m/db']) {
      expect(problemsOf({ ...production, REDIS_URL: url })).toEqual([expect.stringMatching(/^REDIS_URL: must be a redis:/)]);
    }
  });

  it('requires both iCG URLs or neither', () => {
    expect(problemsOf({ ICG_AUTH_URL: 'http://127.0.0.1:1' })).toEqual(expect.arrayContaining([expect.stringMatching(/^ICG_API_URL: is required/)]));
  });

  it('parses TRUST_PROXY as false, a hop count or a subnet list', () => {
    expect(loadConfig({}).http.trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '1' }).http.trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).http.trustProxy).toEqual(['loopback', '10.0.0.0/8']);
    expect(problemsOf({ TRUST_PROXY: 'everyone' })).toHaveLength(1);
  });

  it('reads CORS_ORIGINS as origins, one-label wildcards and app schemes, and refuses anything else at start-up', () => {
    expect(
      loadConfig({ CORS_ORIGINS: 'https://Shop.example.com, http://localhost:3000/, https://*.shop.example, capacitor://localhost' }).http.corsOrigins.map(
        (p) => (p.kind === 'exact' ? p.origin : p.pattern),
      ),
    ).toEqual(['https://shop.example.com', 'http://localhost:3000', 'https://*.shop.example', 'capacitor://localhost']);
    for (const bad of [
      'https://shop.example.com/checkout',
      'null',
      'https://*.example',
      'https://*',
      'file://x',
      'https://a.*.example.com',
      'javascript://x',
    ]) {
      expect({ bad, problems: problemsOf({ CORS_ORIGINS: bad }).length }).toEqual({ bad, problems: 1 });
    }
  });

  it('prints secrets as [redacted] however they are turned into text', () => {
    const config = loadConfig(production);
    const text = `${JSON.stringify(config)} ${String('value' in config.icg.credentials.password ? config.icg.credentials.password.value : '')} ${inspect(config, { depth: 5 })}`;
    expect(text).not.toContain('hunter2-the-password');
    expect(text).not.toContain('redis-secret-pw');
    expect(text).toContain('[redacted]');
  });

  it('refuses a secret written into config/ instead of the environment', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'icg-bff-config-'));
    writeFileSync(path.join(dir, 'development.json'), JSON.stringify({ PORT: 1, ICG_PASSWORD: 'in-a-file-secret' }));
    expect(() => loadConfig({}, { configDir: dir })).toThrow(/ICG_PASSWORD: is a secret and may only come from the environment/);
    expect(() => loadConfig({}, { configDir: dir })).not.toThrow(/in-a-file-secret/);
  });

  it('reads Sentinel addresses, master name, password and db from a redis+sentinel URL', () => {
    expect(sentinelOptions('redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380/mymaster/2')).toEqual({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
      ],
      name: 'mymaster',
      password: 's3cret',
      db: 2,
    });
    expect(sentinelOptions('redis://127.0.0.1:6379')).toBeNull();
  });
});

describe('the list of problems', () => {
  it('holds every error class the service answers with', async () => {
    const errors = await import('../../src/errors');
    const listed = new Set<unknown>(errors.PROBLEMS.map((problem) => problem.constructor));
    const classes = (Object.values(errors) as unknown[]).filter(
      (value): value is { name: string; prototype: unknown } =>
        typeof value === 'function' && (value as { prototype: unknown }).prototype instanceof errors.AppError && value !== errors.UpstreamFailure,
    );
    expect(classes.filter((cls) => !listed.has(cls)).map((cls) => cls.name)).toEqual([]);
  });
});

describe('.env files', () => {
  function dirWith(text: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'icg-bff-env-'));
    writeFileSync(path.join(dir, '.env'), text);
    return dir;
  }

  it('reads ./.env outside production; variables already set win', () => {
    const dir = dirWith('# comment\nLOG_LEVEL=debug\nPORT="9000"\nexport HOST=10.0.0.1\n');
    const env: NodeJS.ProcessEnv = { PORT: '7000' };
    expect(loadEnvFile(env, dir)).toBe(path.join(dir, '.env'));
    expect(env).toEqual({ PORT: '7000', LOG_LEVEL: 'debug', HOST: '10.0.0.1' });
  });

  it('never reads ./.env in production unless ENV_FILE names a file', () => {
    const dir = dirWith('LOG_LEVEL=debug\n');
    const env: NodeJS.ProcessEnv = { NODE_ENV: 'production' };
    expect(loadEnvFile(env, dir)).toBeNull();
    expect(env['LOG_LEVEL']).toBeUndefined();
    const asked: NodeJS.ProcessEnv = { NODE_ENV: 'production', ENV_FILE: path.join(dir, '.env') };
    loadEnvFile(asked, dir);
    expect(asked['LOG_LEVEL']).toBe('debug');
  });
});
