import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIcgSandbox } from '@icg-bff/icg-sandbox';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { freePort, RedisProcess } from '../support/redis-server';
import { waitFor } from '../support/wait';
import { deleteKeys, payBody, postJson, seedDeploymentEpoch, testEnv, testRedisUrl } from '../support/harness';
import { loadConfig } from '../../src/config';

const MAIN = path.resolve(__dirname, '../../dist/main.js');

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Runs the built service as ops do (`node dist/main.js`) with exactly `env` (plus PATH). */
async function startProcess(env: Record<string, string>): Promise<Started> {
  await seedDeploymentEpoch(loadConfig(env).redis);
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  while (
    !(await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null) throw new Error(`service exited early:\n${output}`);
    if (Date.now() > deadline) throw new Error(`service did not start:\n${output}`);
    await sleep(50);
  }
  return { child, url, output: () => output };
}

async function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

describe('the service process', () => {
  it('refuses to start in production on a Redis that may evict records, naming maxmemory-policy', async () => {
    const icg = await startIcgSandbox();
    const redis = await RedisProcess.start(undefined, ['--maxmemory-policy', 'allkeys-lru']);
    try {
      const env = { ...testEnv(icg, redis.url), NODE_ENV: 'production', FINGERPRINT_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`, ADMIN_PORT: '0' };
      const child = spawn(process.execPath, [MAIN], {
        env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      expect(await exitOf(child)).toBe(1);
      expect(stderr).toContain('maxmemory-policy is allkeys-lru; it must be noeviction');
    } finally {
      await redis.kill();
      await icg.close();
    }
  });

  it('reads a rotated password from ICG_PASSWORD_FILE on SIGHUP', async () => {
    const icg = await startIcgSandbox();
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'icg-bff-sighup-')), 'password');
    writeFileSync(file, 'not-the-password');
    const env = testEnv(icg, testRedisUrl(), { LOG_LEVEL: 'info', ICG_PASSWORD_FILE: file });
    delete env['ICG_PASSWORD'];
    const started = await startProcess(env);
    try {
      expect((await postJson(`${started.url}/pay/hup-1`, payBody())).status).toBe(503);
      writeFileSync(file, 'sandbox-password');
      started.child.kill('SIGHUP');
      for (let i = 0; i < 40 && !started.output().includes('icg_credentials_reloaded'); i += 1) await sleep(50);
      expect((await postJson(`${started.url}/pay/hup-2`, payBody())).status).toBe(200);
      expect(icg.stats.logins).toBe(1);
    } finally {
      started.child.kill('SIGTERM');
      await exitOf(started.child);
      await icg.close();
      await deleteKeys(testRedisUrl(), env['REDIS_KEY_PREFIX'] ?? 'none');
    }
  });

  it('starts in sandbox mode with no configuration, says so loudly, and pays', async () => {
    const started = await startProcess({});
    try {
      // Development logs are pretty-printed by a worker thread: give it a moment.
      for (let i = 0; i < 40 && !/SANDBOX MODE/.test(started.output()); i += 1) await sleep(50);
      expect(started.output()).toMatch(/SANDBOX MODE.*PAYMENTS ARE SIMULATED/);
      const res = await postJson(`${started.url}/pay/1`, payBody());
      expect(res.status).toBe(200);
      expect((await fetch(`${started.url}/readyz`)).status).toBe(200);
    } finally {
      started.child.kill('SIGTERM');
      expect(await exitOf(started.child)).toBe(0);
    }
  });

  it('refuses to start in production without credentials or Redis, naming each variable', async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production', ICG_PASSWORD: 'p4ss-never-printed', PORT: 'abc' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await exitOf(child)).not.toBe(0);
    for (const name of ['PORT', 'ICG_AUTH_URL', 'ICG_API_URL', 'ICG_CLIENT_ID', 'ICG_USERNAME', 'REDIS_URL']) expect(stderr).toContain(`${name}:`);
    expect(stderr).not.toContain('p4ss-never-printed');
    expect(stderr).not.toContain('abc');
  });

  it('never prints the password inside REDIS_URL when it is invalid', async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env['PATH'] ?? '', REDIS_URL: 'http://user:redis-pw-secret@host:6379' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await exitOf(child)).toBe(1);
    expect(stderr).toContain('REDIS_URL:');
    expect(stderr).not.toContain('redis-pw-secret');
  });

  it('finishes an in-flight pay on SIGTERM, then exits 0 and takes no new connections', async () => {
    const icg = await startIcgSandbox();
    icg.faults.payDelayMs = 1500;
    const env = testEnv(icg, testRedisUrl(), { LOG_LEVEL: 'info' });
    const started = await startProcess(env);
    try {
      const inFlight = postJson(`${started.url}/pay/draining-1`, payBody());
      await waitFor(() => icg.stats.pays > 0, 5000, 'the pay at iCG');
      started.child.kill('SIGTERM');
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(await exitOf(started.child)).toBe(0);
      await expect(fetch(`${started.url}/healthz`)).rejects.toThrow();
      expect(started.output()).toContain('shutdown_complete');
    } finally {
      started.child.kill('SIGKILL');
      await icg.close();
      await deleteKeys(testRedisUrl(), env['REDIS_KEY_PREFIX'] ?? 'none');
    }
  });

  it('lets a pay at iCG finish past the drain window, answers it, then exits', async () => {
    const icg = await startIcgSandbox();
    icg.faults.payHang = true;
    const env = testEnv(icg, testRedisUrl(), { LOG_LEVEL: 'info', ICG_TIMEOUT_MS: '1500', SHUTDOWN_DRAIN_MS: '200' });
    const started = await startProcess(env);
    try {
      const key = { 'Idempotency-Key': 'shutdown-key-1' };
      const inFlight = postJson(`${started.url}/pay/hung-1`, payBody(), key);
      await waitFor(() => icg.stats.pays > 0, 5000, 'the pay at iCG');
      const stopAt = Date.now();
      started.child.kill('SIGTERM');
      // The client hears the pay's outcome (its own deadline), not a cut connection.
      const answer = await inFlight;
      expect(answer.status).toBe(504);
      expect(await exitOf(started.child)).toBe(0);
      expect(Date.now() - stopAt).toBeLessThan(1500 + 2000);
      expect(started.output()).toMatch(/"event":"shutdown_waiting_for_pays","pays":1/);
      // The outcome was stored: a retry with the key on the next instance replays it, iCG sees one pay.
      icg.faults.payHang = false;
      const next = await startProcess(env);
      try {
        const retry = await postJson(`${next.url}/pay/hung-1`, payBody(), key);
        expect(retry.status).toBe(504);
        expect(retry.headers.get('idempotent-replayed')).toBe('true');
        expect(icg.stats.pays).toBe(1);
      } finally {
        next.child.kill('SIGTERM');
        await exitOf(next.child);
      }
    } finally {
      started.child.kill('SIGKILL');
      await icg.close();
      await deleteKeys(testRedisUrl(), env['REDIS_KEY_PREFIX'] ?? 'none');
    }
  });
});
