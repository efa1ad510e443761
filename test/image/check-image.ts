/**
 * The image test, run by test/image/run.sh once it has built the image (npm run test:image). No Docker
 * engine here: the image is started with buildah, in a working container sharing the host's network,
 * with the image's own Entrypoint + Cmd, User, WorkingDir and Env (from `buildah inspect`) and only
 * the deployment's settings added, against the iCG sandbox and a throwaway Redis on this machine.
 * It runs the image's HEALTHCHECK command, pays through it, and looks inside: non-root, production
 * dependencies only, no sandbox, no tests. Prints one line per check and `N passed, N failed`.
 *
 * Environment (set by run.sh): ICG_IMAGE, ICG_IMAGE_BASE, ICG_IMAGE_BUILD_MS, CONTAINERS_STORAGE_CONF.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, type Dirent } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const IMAGE = process.env['ICG_IMAGE'] ?? 'localhost/icg-bff:image-test';
const BASE = process.env['ICG_IMAGE_BASE'] ?? '';
const BUILD_MS = Number(process.env['ICG_IMAGE_BUILD_MS'] ?? 'NaN');
const CONTAINER = `icg-bff-image-test-${String(process.pid)}`;
const APP_ENTRIES = ['config', 'dist', 'node_modules', 'package-lock.json', 'package.json'];

// --- small helpers ------------------------------------------------------------------------------

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end (bounded); never throws for a non-zero exit. */
function run(file: string, args: readonly string[], timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 124) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function must(file: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  const ran = await run(file, args, timeoutMs);
  if (ran.code !== 0) throw new Error(`${file} ${args.slice(0, 3).join(' ')} … exited ${String(ran.code)}: ${ran.stderr.trim().slice(-400)}`);
  return ran.stdout;
}

function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });

/** Polls `probe` until it holds, for at most `timeoutMs`. */
async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      resolve('timeout');
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

let passed = 0;
let failed = 0;
function check(name: string, ok: boolean, detail = ''): void {
  if (ok) passed += 1;
  else failed += 1;
  process.stdout.write(`${ok ? 'ok    ' : 'FAIL  '} ${name}${detail ? ` (${detail})` : ''}\n`);
}
function info(text: string): void {
  process.stdout.write(`       ${text}\n`);
}

// --- the image's own configuration ------------------------------------------------------------

interface ImageConfig {
  readonly User?: string;
  readonly Env?: string[];
  readonly Entrypoint?: string[] | null;
  readonly Cmd?: string[] | null;
  readonly WorkingDir?: string;
  readonly Healthcheck?: { readonly Test?: string[]; readonly Timeout?: number };
  readonly Labels?: Record<string, string> | null;
}

async function imageConfig(): Promise<ImageConfig> {
  const inspected = JSON.parse(await must('buildah', ['inspect', '--type', 'image', IMAGE])) as {
    Docker?: { config?: ImageConfig };
    OCIv1?: { config?: ImageConfig };
  };
  const config = inspected.Docker?.config;
  if (!config) throw new Error(`${IMAGE} has no Docker config: was it built with --format docker?`);
  return config;
}

async function imageSize(name: string): Promise<string> {
  const images = JSON.parse(await must('buildah', ['images', '--json'])) as { names?: string[] | null; size?: string }[];
  return images.find((image) => image.names?.includes(name))?.size ?? '?';
}

// --- the container: one working container, started as Docker would start it --------------------

interface Instance {
  readonly child: ChildProcess;
  readonly log: () => string;
  readonly env: Record<string, string>;
  pid: number;
}

/** `buildah run` arguments that give a command the image's user, working directory and environment plus `env`. */
function runArgs(config: ImageConfig, env: Record<string, string>): string[] {
  const args = ['run', '--isolation', 'chroot', '--network', 'host', '--user', config.User ?? '', '--workingdir', config.WorkingDir || '/'];
  for (const entry of config.Env ?? []) args.push('--env', entry);
  for (const [name, value] of Object.entries(env)) args.push('--env', `${name}=${value}`);
  return args;
}

function descendants(pid: number): number[] {
  const children: number[] = [];
  for (const task of readdirSync(`/proc/${String(pid)}/task`)) {
    const file = `/proc/${String(pid)}/task/${task}/children`;
    if (existsSync(file)) children.push(...readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8')
      .split('\0')
      .slice(0, -1);
  } catch {
    return [];
  }
}

async function start(config: ImageConfig, env: Record<string, string>): Promise<Instance> {
  const argv = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  const child = spawn('buildah', [...runArgs(config, env), CONTAINER, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const instance: Instance = { child, log: () => output, env, pid: 0 };
  // The service: the process under `buildah run` whose command line is the image's Cmd.
  const cmd = (config.Cmd ?? []).join('\0');
  await waitFor('the service process', 20_000, () => {
    if (child.exitCode !== null) throw new Error(`the container exited ${String(child.exitCode)}:\n${output}`);
    if (child.pid === undefined) return false;
    instance.pid = descendants(child.pid).find((pid) => cmdline(pid).join('\0') === cmd) ?? 0;
    return instance.pid !== 0;
  });
  await waitFor(`the service to listen (log: ${output.slice(-600)})`, 20_000, () => {
    if (child.exitCode !== null) throw new Error(`the container exited ${String(child.exitCode)}:\n${output}`);
    return output.includes('"event":"listening"');
  });
  return instance;
}

/** SIGTERM to the service itself, as `docker stop` sends it; the exit code of the whole run, or 'timeout'. */
async function stop(instance: Instance, timeoutMs: number): Promise<number | null | 'timeout'> {
  if (instance.pid) process.kill(instance.pid, 'SIGTERM');
  const code = await withTimeout(exited(instance.child), timeoutMs);
  if (code === 'timeout') {
    if (instance.pid) process.kill(instance.pid, 'SIGKILL');
    await withTimeout(exited(instance.child), 5000);
  }
  return code;
}

/** The image's HEALTHCHECK command, run in the container with the instance's environment, as Docker runs it. */
async function healthcheck(config: ImageConfig, env: Record<string, string>): Promise<Ran> {
  const test = config.Healthcheck?.Test ?? [];
  const argv = test[0] === 'CMD' ? test.slice(1) : test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test[1] ?? 'false'] : [];
  if (argv.length === 0) return { code: -1, stdout: '', stderr: `no HEALTHCHECK command: ${JSON.stringify(test)}` };
  const timeoutMs = (config.Healthcheck?.Timeout ?? 30e9) / 1e6;
  // buildah's own start-up is not part of Docker's timeout: allow it a few seconds more.
  return run('buildah', [...runArgs(config, env), CONTAINER, '--', ...argv], timeoutMs + 10_000);
}

function httpStatus(url: string): Promise<number | string> {
  return fetch(url, { signal: AbortSignal.timeout(3000) }).then(
    (response) => response.status,
    (error: unknown) => {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      return cause instanceof Error && 'code' in cause ? String(cause.code) : 'error';
    },
  );
}

// --- looking inside ---------------------------------------------------------------------------

function walk(dir: string, visit: (file: string, entry: Dirent) => void): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    visit(file, entry);
    if (entry.isDirectory()) walk(file, visit);
  }
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Every installed package under node_modules (scoped and nested), as lockfile keys (`node_modules/a/node_modules/b`). */
function installedPackages(app: string, prefix = 'node_modules'): string[] {
  const dir = path.join(app, prefix);
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const names = entry.name.startsWith('@') ? readdirSync(path.join(dir, entry.name)).map((inner) => `${entry.name}/${inner}`) : [entry.name];
    for (const name of names) {
      const key = `${prefix}/${name}`;
      found.push(key, ...installedPackages(app, `${key}/node_modules`));
    }
  }
  return found;
}

function checkContents(rootfs: string): void {
  const app = path.join(rootfs, 'app');
  const top = readdirSync(app).sort();
  check(
    '/app holds only package.json, package-lock.json, dist/, config/ and node_modules/',
    JSON.stringify(top) === JSON.stringify(APP_ENTRIES),
    top.join(' '),
  );

  // Production dependencies only: every installed package is one the lockfile marks as not dev-only.
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; link?: boolean }> };
  const installed = installedPackages(app);
  const devOnly = installed.filter((key) => lock.packages[key]?.dev === true);
  const unknown = installed.filter((key) => !(key in lock.packages));
  const devTotal = Object.entries(lock.packages).filter(([key, entry]) => key.startsWith('node_modules/') && entry.dev === true).length;
  check(
    `no dev dependency among the ${String(installed.length)} installed packages (the lockfile has ${String(devTotal)} dev-only)`,
    devOnly.length === 0,
    devOnly.slice(0, 5).join(' '),
  );
  check('every installed package is one the lockfile lists', unknown.length === 0, unknown.slice(0, 5).join(' '));
  const rootPackage = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> };
  const devNames = Object.keys(rootPackage.devDependencies ?? {}).filter((name) => existsSync(path.join(app, 'node_modules', name)));
  check('none of package.json devDependencies is installed (typescript, jest, tsx …)', devNames.length === 0, devNames.join(' '));

  // No sandbox: no workspace package or link, no file by that name, no file equal to one of the sandbox's.
  check('no node_modules/@icg-bff (npm links no workspace package)', !existsSync(path.join(app, 'node_modules', '@icg-bff')));
  check('no packages/ folder', !existsSync(path.join(app, 'packages')));
  const sandboxDir = path.join(ROOT, 'packages', 'icg-sandbox');
  const sandboxHashes = new Set<string>();
  for (const sub of ['dist', 'src']) {
    if (existsSync(path.join(sandboxDir, sub)))
      walk(path.join(sandboxDir, sub), (file, entry) => {
        if (entry.isFile()) sandboxHashes.add(sha256(file));
      });
  }
  const sandboxLike: string[] = [];
  const testLike: string[] = [];
  const sources: string[] = [];
  walk(app, (file, entry) => {
    const relative = path.relative(app, file);
    if (/icg-sandbox/i.test(relative)) sandboxLike.push(relative);
    if (entry.isFile() && statSync(file).size > 0 && sandboxHashes.has(sha256(file))) sandboxLike.push(`${relative} (same as a sandbox file)`);
    if (relative.startsWith('node_modules')) return;
    if (/(^|\/)(test|tests|__tests__|test-artifacts|coverage|bench-results)(\/|$)|\.(test|spec)\.[cm]?[jt]sx?$|(^|\/)jest[^/]*\.config\.js$/.test(relative))
      testLike.push(relative);
    if (/\.[cm]?ts$/.test(relative) || /(^|\/)(src|\.env[^/]*|tsconfig[^/]*\.json)$/.test(relative)) sources.push(relative);
  });
  check(
    `no sandbox file (by name, or equal to any of the sandbox's ${String(sandboxHashes.size)} files)`,
    sandboxLike.length === 0,
    sandboxLike.slice(0, 5).join(' '),
  );
  check('no test files (test/, *.test.*, *.spec.*, jest configs, coverage, bench results)', testLike.length === 0, testLike.slice(0, 5).join(' '));
  check('no TypeScript sources, tsconfig or .env outside node_modules', sources.length === 0, sources.slice(0, 5).join(' '));
  const caches = ['root/.npm/_cacache', 'home/node/.npm/_cacache'].filter((dir) => existsSync(path.join(rootfs, dir)));
  check("no npm cache left in the image (npm ci's downloads)", caches.length === 0, caches.join(' '));

  const passwd = readFileSync(path.join(rootfs, 'etc', 'passwd'), 'utf8');
  info(
    `/app: ${du(app)} (node_modules ${du(path.join(app, 'node_modules'))}, dist ${du(path.join(app, 'dist'))}); node user: ${passwd.split('\n').find((line) => line.startsWith('node:')) ?? 'none'}`,
  );
}

function du(dir: string): string {
  let bytes = 0;
  walk(dir, (file, entry) => {
    if (entry.isFile()) bytes += statSync(file).size;
  });
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

// --- the test ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const children: ChildProcess[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      void cleanup().finally(() => process.exit(130));
    });

  try {
    const config = await imageConfig();
    const stand = config.Labels?.['icg-bff.stand-in'];
    info(`image ${IMAGE}: ${await imageSize(IMAGE)}; base ${BASE} ${await imageSize(BASE)}${stand ? ` (stand-in: ${stand})` : ''}`);
    if (Number.isFinite(BUILD_MS)) info(`build: ${(BUILD_MS / 1000).toFixed(1)} s`);
    check(
      'the image config keeps its HEALTHCHECK, in exec form (docker format)',
      config.Healthcheck?.Test?.[0] === 'CMD',
      JSON.stringify(config.Healthcheck?.Test?.slice(0, 2)),
    );
    check('the image runs as a named non-root user', !!config.User && !/^(root|0)(:|$)/.test(config.User), `User=${config.User ?? ''}`);
    check('NODE_ENV=production in the image', (config.Env ?? []).includes('NODE_ENV=production'));

    // iCG sandbox and a Redis of our own on free ports; never the Redis on 6379.
    const [redisPort, sandboxPort] = [await freePort(), await freePort()];
    const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    children.push(redis);
    cleanups.push(async () => {
      redis.kill('SIGTERM');
      await withTimeout(exited(redis), 5000);
    });
    const sandbox = spawn(process.execPath, [path.join(ROOT, 'packages/icg-sandbox/dist/cli.js'), '--port', String(sandboxPort)], { stdio: 'ignore' });
    children.push(sandbox);
    cleanups.push(async () => {
      sandbox.kill('SIGTERM');
      await withTimeout(exited(sandbox), 5000);
    });
    const sandboxUrl = `http://127.0.0.1:${String(sandboxPort)}`;
    await waitFor('Redis', 10_000, async () => (await run('redis-cli', ['-p', String(redisPort), 'ping'], 2000)).stdout.trim() === 'PONG');
    await waitFor('the iCG sandbox', 10_000, async () => (await httpStatus(`${sandboxUrl}/__sandbox/stats`)) === 200);

    await run('buildah', ['rm', CONTAINER], 30_000);
    await must('buildah', ['from', '--pull=never', '--name', CONTAINER, IMAGE]);
    cleanups.push(() => run('buildah', ['rm', CONTAINER], 60_000));
    const rootfs = (await must('buildah', ['mount', CONTAINER])).trim();
    cleanups.push(() => run('buildah', ['umount', CONTAINER]));

    // The deployment's settings: production needs every iCG setting, REDIS_URL and FINGERPRINT_KEYS.
    const production = {
      ICG_AUTH_URL: sandboxUrl,
      ICG_API_URL: sandboxUrl,
      ICG_CLIENT_ID: 'sandbox-client',
      ICG_USERNAME: 'sandbox-merchant',
      ICG_PASSWORD: 'sandbox-password',
      REDIS_URL: `redis://127.0.0.1:${String(redisPort)}`,
      FINGERPRINT_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    };

    // 1. HOST unset: the image's default (0.0.0.0), production settings and shutdown as shipped.
    const port = await freePort();
    const main = await start(config, { ...production, PORT: String(port) });
    cleanups.push(() => stop(main, 30_000));
    const status = readFileSync(`/proc/${String(main.pid)}/status`, 'utf8');
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1).map(Number) ?? [];
    check(
      'the service process runs as a non-root uid (real, effective, saved, fs)',
      uids.length === 4 && uids.every((uid) => uid !== 0),
      `uid ${uids.join('/')}`,
    );
    const idU = (await run('buildah', [...runArgs(config, {}), CONTAINER, '--', 'id', '-u'])).stdout.trim();
    check('the image user is uid 1000 (as the official node image)', idU === '1000', `id -u: ${idU}`);
    const health = await healthcheck(config, main.env);
    check('HEALTHCHECK passes with HOST unset (listening on 0.0.0.0)', health.code === 0, `exit ${String(health.code)} ${health.stderr.trim().slice(-200)}`);
    check('GET /readyz answers 200 (Redis and iCG up)', (await httpStatus(`http://127.0.0.1:${String(port)}/readyz`)) === 200);

    const invoice = String(100_000 + Math.floor(Math.random() * 800_000));
    const key = randomUUID();
    const pay = () =>
      fetch(`http://127.0.0.1:${String(port)}/pay/${invoice}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ Amount: 12.5, Type: 'D', Method: { CardNumber: '4111111111111111' } }),
        signal: AbortSignal.timeout(15_000),
      });
    // A Redis with no deployment epoch yet (this one is new) pauses pays a few seconds: wait it out.
    const pausedUntil = Date.now() + 30_000;
    while (Date.now() < pausedUntil && JSON.stringify(await fetch(`http://127.0.0.1:${String(port)}/readyz`).then((r) => r.json())).includes('dataLoss'))
      await sleep(250);
    const first = await pay();
    const firstBody = (await first.json()) as { Status?: string; TransactionId?: string; CardDisplay?: string };
    check(
      'POST /pay through the image: 200 Approved, card masked',
      first.status === 200 && firstBody.Status === 'Approved' && !JSON.stringify(firstBody).includes('4111111111111111'),
      `${String(first.status)} ${firstBody.Status ?? ''} ${firstBody.CardDisplay ?? ''}`,
    );
    const again = await pay();
    const againBody = (await again.json()) as { TransactionId?: string };
    check(
      'the same Idempotency-Key replays the answer from Redis',
      again.headers.get('idempotent-replayed') === 'true' && againBody.TransactionId === firstBody.TransactionId,
    );
    const stats = (await (await fetch(`${sandboxUrl}/__sandbox/stats`)).json()) as { stats: { paysByInvoice: Record<string, number> } };
    check('iCG was asked to pay once', stats.stats.paysByInvoice[invoice] === 1, `${String(stats.stats.paysByInvoice[invoice] ?? 0)} pay(s)`);
    const keys = (await run('redis-cli', ['-p', String(redisPort), '--scan', '--pattern', 'icg-bff:*'], 5000)).stdout.trim().split('\n').filter(Boolean);
    check('state lives in Redis (keys under icg-bff:)', keys.length > 0, `${String(keys.length)} keys`);
    const resolve = await run('buildah', [...runArgs(config, {}), CONTAINER, '--', 'node', '-e', "require.resolve('@icg-bff/icg-sandbox')"]);
    check("require.resolve('@icg-bff/icg-sandbox') fails inside the image", resolve.code !== 0 && resolve.stderr.includes('MODULE_NOT_FOUND'));

    checkContents(rootfs);

    const began = Date.now();
    const code = await stop(main, 30_000);
    cleanups.pop();
    check(
      'SIGTERM: the service drains and exits 0',
      code === 0 && main.log().includes('"event":"shutdown_complete"'),
      `exit ${String(code)} after ${String(Date.now() - began)} ms`,
    );
    const down = await healthcheck(config, main.env);
    check('HEALTHCHECK fails once the service is gone', down.code !== 0, `exit ${String(down.code)}`);

    // 2. HOST a specific address, from the environment or from ENV_FILE: the check must probe that
    //    address, not 127.0.0.1 (which refuses here).
    for (const [host, via] of [
      ['127.0.0.2', 'ENV_FILE'],
      ['::1', 'the environment'],
    ] as const) {
      const hostPort = await freePort(host);
      let settings: Record<string, string> = { HOST: host, PORT: String(hostPort) };
      if (via === 'ENV_FILE') {
        writeFileSync(
          path.join(rootfs, 'tmp', 'icg-bff-image-test.env'),
          Object.entries(settings)
            .map(([name, value]) => `${name}=${value}\n`)
            .join(''),
          { mode: 0o644 },
        );
        settings = { ENV_FILE: '/tmp/icg-bff-image-test.env' };
      }
      const instance = await start(config, { ...production, ...settings, SHUTDOWN_DELAY_MS: '0' });
      cleanups.push(() => stop(instance, 30_000));
      const probed = await healthcheck(config, instance.env);
      const loopback = await httpStatus(`http://127.0.0.1:${String(hostPort)}/healthz`);
      check(
        `HEALTHCHECK passes with HOST=${host} (from ${via}), where a probe of 127.0.0.1 fails`,
        probed.code === 0 && loopback !== 200,
        `exit ${String(probed.code)}; 127.0.0.1:${String(hostPort)}: ${String(loopback)}`,
      );
      const stopped = await stop(instance, 30_000);
      cleanups.pop();
      check(`HOST=${host}: exits 0 on SIGTERM`, stopped === 0, `exit ${String(stopped)}`);
    }
  } catch (error) {
    check('the image test ran to its end', false, error instanceof Error ? error.message : String(error));
  } finally {
    await cleanup();
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  process.stdout.write(`\n${String(passed)} passed, ${String(failed)} failed\n`);
  process.exitCode = failed === 0 ? 0 : 1;
}

void main();
