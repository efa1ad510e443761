/**
 * `npm run bench:compare -- <git-ref>`: the proxy built from <git-ref> ("old") against the current
 * tree ("new", built by the npm script just before), measured in the same run.
 *
 * The ref is checked out with `git worktree add --detach` in a temporary folder outside the repo,
 * installed there with `npm ci` (its `prepare` builds it; `npm run build` if that left no
 * dist/main.js) and removed at the end. Both builds run as `npm start` runs them (each with its own
 * tree's start-script Node flags), in production mode, on one throwaway Redis under separate key
 * prefixes, against the current tree's iCG sandbox. Each round, alternating which build goes first
 * (old in rounds 1, 3, 5; new in 2, 4): throughput (50 connections, after a short warm-up) and
 * latency at a fixed 200 req/s on one connection, corrected for coordinated omission, with the
 * direct-to-sandbox run of the same round as the floor. Per round: throughput new/old and p99 added
 * (proxy − direct) for each; medians over the rounds are checked against the acceptance criterion
 * (new/old ≥ 0.97, p99 added no more than 1 ms above old's). Prints a table per round and the
 * summary and writes bench-results/compare-<short-ref>.json. BENCH_QUICK=1: one short round.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RedisProcess } from '../support/redis-server';
import { drive, medianOf, round1, type Load, type Run } from './measure';
import { killAll, startScriptNodeFlags, stop } from './processes';
import { sandboxAuthorization, startProxy, startSandbox, type ProxyBuild } from './servers';

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS = path.join(ROOT, 'bench-results');
const QUICK = process.env['BENCH_QUICK'] === '1';
const ROUNDS = QUICK ? 1 : 5;
const CONNECTIONS = 50;
const THROUGHPUT_SECONDS = QUICK ? 2 : 8;
const WARMUP_SECONDS = 1;
const FIXED_RATE = 200;
const FIXED_SECONDS = QUICK ? 2 : 10;
/** The acceptance criterion. */
const MIN_THROUGHPUT_RATIO = 0.97;
const MAX_P99_ADDED_INCREASE_MS = 1;

type Build = 'old' | 'new';

interface RoundResult {
  readonly round: number;
  readonly order: readonly Build[];
  readonly throughput: Record<Build, Run>;
  readonly fixedRate: Record<Build | 'direct', Run>;
  readonly throughputRatio: number;
  readonly p99AddedMs: Record<Build, number>;
  readonly p99AddedDiffMs: number;
}

function git(args: readonly string[], cwd = ROOT): string {
  return execFileSync('git', ['-C', cwd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** The environment for npm in the old tree: none of the running `npm run`'s own variables, and dev dependencies installed. */
function npmEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_') && name !== 'INIT_CWD'));
  delete env['NODE_ENV'];
  return env;
}

function npm(args: readonly string[], cwd: string, logPath: string): void {
  console.log(`  npm ${args.join(' ')} (output in ${path.relative(ROOT, logPath)})`);
  const log = openSync(logPath, 'a');
  const result = spawnSync('npm', [...args], { cwd, env: npmEnv(), stdio: ['ignore', log, log] });
  closeSync(log);
  if (result.status !== 0) {
    const tail = readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n');
    throw new Error(`npm ${args.join(' ')} failed in ${cwd} (exit ${result.status ?? result.signal ?? '?'}):\n${tail}`);
  }
}

/** A worktree of `commit` outside the repo, installed and built; `remove` deletes it (safe to call twice). */
function prepareOldTree(commit: string, short: string): { root: string; remove: () => void } {
  const repoRoot = git(['rev-parse', '--show-toplevel']);
  const parent = mkdtempSync(path.join(os.tmpdir(), `icg-bff-compare-${short}-`));
  const root = path.join(parent, 'tree');
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    try {
      git(['worktree', 'remove', '--force', root], repoRoot);
    } catch (error) {
      console.error(`could not remove the worktree ${root}: ${String(error)}`);
    }
    rmSync(parent, { recursive: true, force: true });
  };
  cleanups.push(remove);
  console.log(`worktree of ${short} at ${root}`);
  git(['worktree', 'add', '--detach', root, commit], repoRoot);
  const logPath = path.join(RESULTS, `compare-${short}-install.log`);
  writeFileSync(logPath, '');
  npm(['ci', '--no-audit', '--no-fund'], root, logPath);
  if (!existsSync(path.join(root, 'dist/main.js'))) npm(['run', 'build'], root, logPath);
  if (!existsSync(path.join(root, 'dist/main.js'))) throw new Error(`${short}: no dist/main.js after npm ci and npm run build`);
  return { root, remove };
}

/** Run on exit, error and Ctrl-C: the worktree must not outlive the run. */
const cleanups: (() => void)[] = [];
function cleanUp(): void {
  killAll();
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
}

async function main(): Promise<void> {
  const ref = process.argv[2];
  if (!ref) throw new Error('usage: npm run bench:compare -- <git-ref>   (the build to compare the current tree against)');
  const commit = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  const short = git(['rev-parse', '--short', commit]);
  const head = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  if (!existsSync(path.join(ROOT, 'dist/main.js'))) throw new Error('no dist/main.js in the current tree: run `npm run build` (npm run bench:compare does)');
  mkdirSync(RESULTS, { recursive: true });

  const oldTree = prepareOldTree(commit, short);
  const builds: Record<Build, ProxyBuild> = {
    old: { root: oldTree.root, nodeFlags: startScriptNodeFlags(oldTree.root) },
    new: { root: ROOT, nodeFlags: startScriptNodeFlags(ROOT) },
  };
  const label: Record<Build, string> = { old: `old (${short})`, new: `new (${head}${dirty ? ' + working tree' : ''})` };

  const redisServer = await RedisProcess.start();
  const sandbox = await startSandbox();
  const proxies = {
    old: await startProxy(builds.old, sandbox.url, redisServer.url, 'compare-old:', 'compare-old', RESULTS),
    new: await startProxy(builds.new, sandbox.url, redisServer.url, 'compare-new:', 'compare-new', RESULTS),
  };
  const directAuth = await sandboxAuthorization(sandbox.url);
  const targets: Record<Build | 'direct', Omit<Load, 'connections' | 'seconds'>> = {
    direct: { url: sandbox.url, path: (n) => `/Invoices/d-${n}/Pay`, headers: () => ({ authorization: directAuth }) },
    old: { url: proxies.old.url, path: (n) => `/pay/o-${n}` },
    new: { url: proxies.new.url, path: (n) => `/pay/n-${n}` },
  };

  console.log('warming up…');
  for (const target of Object.values(targets)) {
    await drive({ ...target, connections: CONNECTIONS, seconds: QUICK ? 1 : 3 });
    await drive({ ...target, connections: 1, seconds: 1, rate: FIXED_RATE });
  }

  console.log(
    `${ROUNDS} round(s): throughput ${CONNECTIONS} connections × ${THROUGHPUT_SECONDS} s (after ${WARMUP_SECONDS} s warm-up), ` +
      `then ${FIXED_RATE} req/s on 1 connection × ${FIXED_SECONDS} s (direct between the two)`,
  );
  const rounds: RoundResult[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const order: Build[] = round % 2 === 1 ? ['old', 'new'] : ['new', 'old'];
    const [first, second] = order as [Build, Build];
    const throughput = {} as Record<Build, Run>;
    for (const build of order) {
      await drive({ ...targets[build], connections: CONNECTIONS, seconds: WARMUP_SECONDS });
      throughput[build] = await drive({ ...targets[build], connections: CONNECTIONS, seconds: THROUGHPUT_SECONDS });
    }
    const fixed = (target: Build | 'direct') => drive({ ...targets[target], connections: 1, seconds: FIXED_SECONDS, rate: FIXED_RATE });
    const fixedRate = {} as Record<Build | 'direct', Run>;
    fixedRate[first] = await fixed(first);
    fixedRate.direct = await fixed('direct');
    fixedRate[second] = await fixed(second);
    const p99AddedMs = { old: round1(fixedRate.old.p99 - fixedRate.direct.p99), new: round1(fixedRate.new.p99 - fixedRate.direct.p99) };
    const result: RoundResult = {
      round,
      order,
      throughput,
      fixedRate,
      throughputRatio: throughput.new.rps / throughput.old.rps,
      p99AddedMs,
      p99AddedDiffMs: round1(p99AddedMs.new - p99AddedMs.old),
    };
    rounds.push(result);
    printRound(result, label);
  }

  await stop(proxies.old);
  await stop(proxies.new);
  await stop(sandbox);
  await redisServer.kill();
  oldTree.remove();

  const medianP99Added = { old: round1(medianOf(rounds.map((r) => r.p99AddedMs.old))), new: round1(medianOf(rounds.map((r) => r.p99AddedMs.new))) };
  const failedRequests = (build: Build) =>
    rounds.reduce((sum, r) => sum + [r.throughput[build], r.fixedRate[build]].reduce((n, run) => n + run.errors + run.timeouts + run.non2xx, 0), 0);
  const summary = {
    throughputRatio: Math.round(medianOf(rounds.map((r) => r.throughputRatio)) * 1000) / 1000,
    p99AddedMs: medianP99Added,
    p99AddedDiffMs: round1(medianP99Added.new - medianP99Added.old),
    /** For reference: the median of the per-round differences (the verdict uses the difference of the medians). */
    medianOfRoundP99AddedDiffMs: round1(medianOf(rounds.map((r) => r.p99AddedDiffMs))),
    failedRequests: { old: failedRequests('old'), new: failedRequests('new') },
  };
  const verdict = {
    throughput: summary.throughputRatio >= MIN_THROUGHPUT_RATIO,
    p99: summary.p99AddedDiffMs <= MAX_P99_ADDED_INCREASE_MS,
    noFailedRequests: summary.failedRequests.old === 0 && summary.failedRequests.new === 0,
  };
  const report = {
    at: new Date().toISOString(),
    quick: QUICK,
    old: { ref, commit, short, nodeFlags: builds.old.nodeFlags },
    new: { head, workingTreeChanges: dirty, nodeFlags: builds.new.nodeFlags },
    settings: {
      rounds: ROUNDS,
      connections: CONNECTIONS,
      throughputSeconds: THROUGHPUT_SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      fixedRate: FIXED_RATE,
      fixedSeconds: FIXED_SECONDS,
      cpus: os.cpus().length,
      loadAverageAtEnd: os.loadavg(),
    },
    thresholds: { minThroughputRatio: MIN_THROUGHPUT_RATIO, maxP99AddedIncreaseMs: MAX_P99_ADDED_INCREASE_MS },
    summary,
    verdict: { ...verdict, pass: verdict.throughput && verdict.p99 && verdict.noFailedRequests },
    rounds,
  };
  printSummary(report, label);
  const file = path.join(RESULTS, `compare-${short}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  console.log(`written to ${path.relative(ROOT, file)}`);
}

function printRound(r: RoundResult, label: Record<Build, string>): void {
  const width = Math.max(...Object.values(label).map((name) => name.length)) + ` @${FIXED_RATE}/s, 1c`.length;
  const row = (name: string, run: Run, extra: string) =>
    `| ${name.padEnd(width)} | ${run.rps.toFixed(0).padStart(6)} | ${String(run.p50).padStart(5)} | ${String(run.p99).padStart(6)} | ${String(run.max).padStart(6)} | ${String(run.errors + run.timeouts + run.non2xx).padStart(6)} | ${extra.padEnd(22)} |`;
  const lines = [
    `round ${r.round}/${ROUNDS} (${r.order.join(' first, ')} second)`,
    `| ${'run'.padEnd(width)} |  req/s | p50ms |  p99ms |  maxms | failed | ${''.padEnd(22)} |`,
    `|${'-'.repeat(width + 2)}|--------|-------|--------|--------|--------|${'-'.repeat(24)}|`,
    ...r.order.map((build) => row(`${label[build]}, ${CONNECTIONS}c`, r.throughput[build], build === 'new' ? `new/old ${r.throughputRatio.toFixed(3)}` : '')),
    row(`direct @${FIXED_RATE}/s, 1c`, r.fixedRate.direct, 'floor'),
    ...r.order.map((build) => row(`${label[build]} @${FIXED_RATE}/s, 1c`, r.fixedRate[build], `p99 added ${r.p99AddedMs[build]} ms`)),
    `p99 added new − old: ${r.p99AddedDiffMs >= 0 ? '+' : ''}${r.p99AddedDiffMs} ms`,
  ];
  console.log(`\n${lines.join('\n')}\n`);
}

interface Summary {
  readonly summary: {
    throughputRatio: number;
    p99AddedMs: Record<Build, number>;
    p99AddedDiffMs: number;
    medianOfRoundP99AddedDiffMs: number;
    failedRequests: Record<Build, number>;
  };
  readonly verdict: { throughput: boolean; p99: boolean; noFailedRequests: boolean; pass: boolean };
  readonly rounds: readonly RoundResult[];
}

function printSummary(r: Summary, label: Record<Build, string>): void {
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const signed = (ms: number) => `${ms >= 0 ? '+' : ''}${ms}`;
  const s = r.summary;
  const lines = [
    `summary over ${r.rounds.length} round(s): ${label.old} against ${label.new}`,
    `  throughput new/old per round: ${r.rounds.map((x) => x.throughputRatio.toFixed(3)).join(' ')}`,
    `  p99 added per round, old: ${r.rounds.map((x) => x.p99AddedMs.old).join(' ')} ms; new: ${r.rounds.map((x) => x.p99AddedMs.new).join(' ')} ms; new − old: ${r.rounds.map((x) => signed(x.p99AddedDiffMs)).join(' ')} ms`,
    `${verdict(r.verdict.throughput)} median throughput new/old = ${s.throughputRatio.toFixed(3)} (needs ≥ ${MIN_THROUGHPUT_RATIO})`,
    `${verdict(r.verdict.p99)} median p99 added at ${FIXED_RATE} req/s: old ${s.p99AddedMs.old} ms, new ${s.p99AddedMs.new} ms, new − old ${signed(s.p99AddedDiffMs)} ms (needs ≤ +${MAX_P99_ADDED_INCREASE_MS} ms; median of the per-round differences ${signed(s.medianOfRoundP99AddedDiffMs)} ms)`,
    `${verdict(r.verdict.noFailedRequests)} failed requests (errors, timeouts, non-2xx): old ${s.failedRequests.old}, new ${s.failedRequests.new}`,
    `${verdict(r.verdict.pass)} overall`,
  ];
  console.log(`\n${lines.join('\n')}\n`);
}

process.on('SIGINT', () => {
  cleanUp();
  process.exit(130);
});
process.on('SIGTERM', () => {
  cleanUp();
  process.exit(143);
});
main().then(
  () => {
    cleanUp();
  },
  (error: unknown) => {
    cleanUp();
    console.error(error);
    process.exit(1);
  },
);
