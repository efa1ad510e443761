/**
 * `npm run bench`: the proxy against the physical floor and a naive peer, in one run, as ratios.
 * Starts on loopback a throwaway Redis, the iCG sandbox, a bare Express+axios pass-through and the
 * proxy built for production (every server in its own process), drives them with autocannon
 * (alternating, repeated), then runs the token-economy, slow-iCG and soak scenarios. Prints a table
 * and writes bench-results/bench-<time>.json. BENCH_QUICK=1 for a short smoke run;
 * BENCH_SOAK_SECONDS to change the soak (default 60).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, RedisProcess } from '../support/redis-server';
import { drive, median, medianOf, PAY_BODY, round1, type Run } from './measure';
import { killAll, peakRssMb, rssMb, startProcess, startScriptNodeFlags, stop, type Started } from './processes';
import { METRICS_TOKEN, sandboxAuthorization, startProxy as startServiceProxy, startSandbox } from './servers';

const ROOT = path.resolve(__dirname, '..', '..');
const QUICK = process.env['BENCH_QUICK'] === '1';
const ROUNDS = QUICK ? 1 : 5;
const SECONDS = QUICK ? 2 : 5;
const SOAK_SECONDS = Number(process.env['BENCH_SOAK_SECONDS'] ?? (QUICK ? 10 : 60));
const CONNECTIONS = 50;
const FIXED_RATE = 200;
const RESULTS = path.join(ROOT, 'bench-results');
/** What `npm start` runs the service with (heap settings): the proxy and the naive peer both get them. */
const NODE_FLAGS = startScriptNodeFlags(ROOT);

async function sandboxControl(url: string, action: 'faults' | 'reset', body?: unknown): Promise<void> {
  const res = await fetch(`${url}/__sandbox/${action}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body ?? {}) });
  if (!res.ok) throw new Error(`sandbox ${action}: ${res.status}`);
}

async function sandboxLogins(url: string): Promise<number> {
  const res = await fetch(`${url}/__sandbox/stats`);
  return ((await res.json()) as { stats: { logins: number } }).stats.logins;
}

/** The service as `npm start` runs it (or with `nodeFlags` instead of the start script's). */
function startProxy(icgUrl: string, redisUrl: string, prefix: string, name = 'proxy', nodeFlags = NODE_FLAGS): Promise<Started> {
  return startServiceProxy({ root: ROOT, nodeFlags }, icgUrl, redisUrl, prefix, name, RESULTS);
}

async function startNaive(icgUrl: string, nodeFlags: readonly string[]): Promise<Started> {
  const port = await freePort();
  return startProcess(
    'naive',
    process.execPath,
    [...nodeFlags, '--import', 'tsx', path.join(__dirname, 'naive-proxy.ts'), String(port), icgUrl],
    {},
    `http://127.0.0.1:${port}`,
    '/',
  );
}

/**
 * Redis round trips per successful pay, by command: what the proxy's own connection sends, seen
 * through MONITOR (INFO commandstats would also count the commands that run inside Lua scripts).
 */
async function redisRoundTripsPerPay(redisPort: number, run: () => Promise<Run>): Promise<{ total: number; byCommand: Record<string, number>; run: Run }> {
  const monitor = spawn('redis-cli', ['-p', String(redisPort), 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const calls: Record<string, number> = {};
  let pending = '';
  monitor.stdout.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      // 1795564748.928021 [0 127.0.0.1:51234] "EVALSHA" ... ; commands run by scripts show [0 lua].
      const match = /^\d+\.\d+ \[\d+ (\S+)\] "([^"]+)"/.exec(line);
      if (!match || match[1] === 'lua') continue;
      const command = (match[2] ?? '').toLowerCase();
      calls[command] = (calls[command] ?? 0) + 1;
    }
  });
  await sleep(300);
  const result = await run();
  await sleep(300);
  monitor.kill();
  const total = Object.values(calls).reduce((sum, n) => sum + n, 0);
  return { total: total / result.ok, byCommand: Object.fromEntries(Object.entries(calls).map(([command, n]) => [command, n / result.ok])), run: result };
}

async function heapUsedMb(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const match = /^icg_bff_nodejs_heap_size_used_bytes (\S+)/m.exec(text);
  return match ? Number(match[1]) / 1024 / 1024 : Number.NaN;
}

async function main(): Promise<void> {
  const redisServer = await RedisProcess.start();
  const sandbox = await startSandbox();
  const naive = await startNaive(sandbox.url, NODE_FLAGS);
  const proxy = await startProxy(sandbox.url, redisServer.url, 'bench:');
  // The same two at Node's default heap settings: what the start script's flags cost in throughput.
  const naiveDefaults = await startNaive(sandbox.url, []);
  const proxyDefaults = await startProxy(sandbox.url, redisServer.url, 'bench-defaults:', 'proxy-defaults', []);
  const directAuth = await sandboxAuthorization(sandbox.url);
  const targets = {
    direct: { url: sandbox.url, path: (n: number) => `/Invoices/d-${n}/Pay`, headers: () => ({ authorization: directAuth }) },
    naive: { url: naive.url, path: (n: number) => `/pay/n-${n}` },
    proxy: { url: proxy.url, path: (n: number) => `/pay/p-${n}` },
    'proxy+key': { url: proxy.url, path: (n: number) => `/pay/k-${n}`, headers: (n: number) => ({ 'idempotency-key': `bench-key-${n}` }) },
    'naive, Node defaults': { url: naiveDefaults.url, path: (n: number) => `/pay/nd-${n}` },
    'proxy, Node defaults': { url: proxyDefaults.url, path: (n: number) => `/pay/pd-${n}` },
  };
  console.log('warming up…');
  for (const target of Object.values(targets)) await drive({ ...target, connections: 10, seconds: 1 });
  const loginsBefore = await sandboxLogins(sandbox.url);

  console.log(`throughput: ${ROUNDS} round(s) × ${Object.keys(targets).length} targets × ${SECONDS} s, ${CONNECTIONS} connections`);
  const rounds: Record<string, Run[]> = {};
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [name, target] of Object.entries(targets)) {
      (rounds[name] ??= []).push(await drive({ ...target, connections: CONNECTIONS, seconds: SECONDS }));
    }
  }
  const throughput = Object.fromEntries(Object.entries(rounds).map(([name, runs]) => [name, median(runs)]));
  // Ratios of runs measured back to back in the same round, then the median over rounds: the machine's
  // speed drifts between rounds, and a ratio of medians from different rounds would carry that drift.
  const ratio = (a: string, b: string) => medianOf((rounds[a] ?? []).map((run, i) => run.rps / (rounds[b]?.[i]?.rps ?? Number.NaN)));
  const loginsDuringLoad = (await sandboxLogins(sandbox.url)) - loginsBefore;
  await stop(proxyDefaults);
  await stop(naiveDefaults);

  // One connection: autocannon sends a connection's budget for the second back to back, so with 10
  // connections the proxy meets bursts of 10 concurrent pays at ~10× the rate (kept as the burst rows).
  console.log(`latency at a fixed ${FIXED_RATE} req/s`);
  const fixed: Record<string, Run[]> = {};
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const connections of [1, 10]) {
      (fixed[`direct/${connections}`] ??= []).push(await drive({ ...targets.direct, connections, seconds: SECONDS, rate: FIXED_RATE }));
      (fixed[`proxy/${connections}`] ??= []).push(await drive({ ...targets.proxy, connections, seconds: SECONDS, rate: FIXED_RATE }));
    }
  }
  const [fixedDirect, fixedProxy, burstDirect, burstProxy] = ['direct/1', 'proxy/1', 'direct/10', 'proxy/10'].map((name) => median(fixed[name] ?? []));
  if (!fixedDirect || !fixedProxy || !burstDirect || !burstProxy) throw new Error('no fixed-rate runs');

  console.log('redis commands per pay');
  const perPay = await redisRoundTripsPerPay(redisServer.port, () => drive({ ...targets.proxy, connections: 10, seconds: 2, rate: 200 }));
  const perKeyedPay = await redisRoundTripsPerPay(redisServer.port, () => drive({ ...targets['proxy+key'], connections: 10, seconds: 2, rate: 200 }));

  console.log('slow iCG: 200 ms per pay, 500 connections');
  await sandboxControl(sandbox.url, 'faults', { payDelayMs: 200 });
  const slow = await drive({ ...targets.proxy, connections: 500, seconds: SECONDS + 1, timeout: 10 });
  await sandboxControl(sandbox.url, 'faults', { payDelayMs: 0 });

  console.log(`soak: ${SOAK_SECONDS} s at ${FIXED_RATE / 2} req/s`);
  const pid = proxy.child.pid ?? 0;
  const heapStart = await heapUsedMb(proxy.url);
  const rssSamples: number[] = [rssMb(pid)];
  const soak = drive({ ...targets.proxy, connections: 10, seconds: SOAK_SECONDS, rate: FIXED_RATE / 2 });
  for (let elapsed = 0; elapsed < SOAK_SECONDS; elapsed += 5) {
    await sleep(5000);
    rssSamples.push(rssMb(pid));
  }
  const soakRun = await soak;
  const heapEnd = await heapUsedMb(proxy.url);
  const peakRss = peakRssMb(pid);

  console.log('token economy: 3 instances, 300 concurrent pays as the token expires');
  await stop(proxy);
  await stop(naive);
  await sandboxControl(sandbox.url, 'faults', { tokenLifetimeSeconds: 3 });
  const instances = await Promise.all([0, 1, 2].map((i) => startProxy(sandbox.url, redisServer.url, 'economy:', `economy-${i}`)));
  const pay = async (url: string, id: string) =>
    (await fetch(`${url}/pay/${id}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: PAY_BODY })).status;
  const warmedAt = Date.now();
  for (const [i, instance] of instances.entries()) await pay(instance.url, `warm-${i}`);
  const economyLoginsBefore = await sandboxLogins(sandbox.url);
  // The token was issued just before warmedAt and lives 3 s: arrive as it expires.
  await sleep(Math.max(0, warmedAt + 2950 - Date.now()));
  const statuses = await Promise.all(Array.from({ length: 300 }, (_, i) => pay(instances[i % 3]?.url ?? '', `economy-${i}`)));
  const economyLogins = (await sandboxLogins(sandbox.url)) - economyLoginsBefore;
  await Promise.all(instances.map(stop));

  await stop(sandbox);
  await redisServer.kill();

  const report = {
    at: new Date().toISOString(),
    quick: QUICK,
    throughput,
    nodeFlags: NODE_FLAGS,
    ratios: {
      proxyVsNaive: ratio('proxy', 'naive'),
      keyedVsNaive: ratio('proxy+key', 'naive'),
      proxyVsDirect: ratio('proxy', 'direct'),
      atNodeDefaultsProxyVsNaive: ratio('proxy, Node defaults', 'naive, Node defaults'),
      flagsCost: 1 - ratio('proxy', 'proxy, Node defaults'),
    },
    fixedRate: {
      rate: FIXED_RATE,
      direct: fixedDirect,
      proxy: fixedProxy,
      addedP99Ms: round1(fixedProxy.p99 - fixedDirect.p99),
      addedP50Ms: round1(fixedProxy.p50 - fixedDirect.p50),
      burst: { direct: burstDirect, proxy: burstProxy, addedP99Ms: round1(burstProxy.p99 - burstDirect.p99) },
    },
    redisCommandsPerPay: {
      unkeyed: perPay.total,
      unkeyedByCommand: perPay.byCommand,
      keyed: perKeyedPay.total,
      keyedByCommand: perKeyedPay.byCommand,
      tokenReadsPerPay: (perPay.byCommand['mget'] ?? 0) + (perPay.byCommand['get'] ?? 0),
    },
    loginsDuringLoad,
    slowIcg: slow,
    memory: { peakRssMb: peakRss, heapStartMb: heapStart, heapEndMb: heapEnd, rssSamplesMb: rssSamples, soak: soakRun },
    tokenEconomy: {
      instances: 3,
      pays: statuses.length,
      logins: economyLogins,
      statuses: Object.fromEntries([...new Set(statuses)].map((s) => [s, statuses.filter((x) => x === s).length])),
    },
  };
  printReport(report);
  mkdirSync(RESULTS, { recursive: true });
  const json = JSON.stringify(report, null, 2);
  writeFileSync(path.join(RESULTS, `bench-${report.at.replace(/[:.]/g, '-')}.json`), json);
  writeFileSync(path.join(RESULTS, 'latest.json'), json);
}

type Report = {
  throughput: Record<string, Run>;
  nodeFlags: string[];
  ratios: { proxyVsNaive: number; keyedVsNaive: number; proxyVsDirect: number; atNodeDefaultsProxyVsNaive: number; flagsCost: number };
  fixedRate: { rate: number; direct: Run; proxy: Run; addedP99Ms: number; addedP50Ms: number; burst: { direct: Run; proxy: Run; addedP99Ms: number } };
  redisCommandsPerPay: {
    unkeyed: number;
    unkeyedByCommand: Record<string, number>;
    keyed: number;
    keyedByCommand: Record<string, number>;
    tokenReadsPerPay: number;
  };
  loginsDuringLoad: number;
  slowIcg: Run;
  memory: { peakRssMb: number; heapStartMb: number; heapEndMb: number; rssSamplesMb: number[]; soak: Run };
  tokenEconomy: { logins: number; pays: number; statuses: Record<string, number> };
};

function printReport(r: Report): void {
  const row = (name: string, run: Run) =>
    `| ${name.padEnd(28)} | ${run.rps.toFixed(0).padStart(7)} | ${String(run.p50).padStart(5)} | ${String(run.p99).padStart(5)} | ${String(run.max).padStart(6)} | ${String(run.errors + run.timeouts).padStart(6)} | ${String(run.non2xx).padStart(6)} |`;
  const lines = [
    '| scenario                     |   req/s | p50ms | p99ms |  maxms | errors | non2xx |',
    '|------------------------------|---------|-------|-------|--------|--------|--------|',
    ...Object.entries(r.throughput).map(([name, run]) => row(name, run)),
    row(`direct @${r.fixedRate.rate}/s, 1c`, r.fixedRate.direct),
    row(`proxy @${r.fixedRate.rate}/s, 1c`, r.fixedRate.proxy),
    row(`direct @${r.fixedRate.rate}/s, 10c burst`, r.fixedRate.burst.direct),
    row(`proxy @${r.fixedRate.rate}/s, 10c burst`, r.fixedRate.burst.proxy),
    row('proxy, iCG +200ms, 500c', r.slowIcg),
    row('soak', r.memory.soak),
  ];
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const heapRatio = r.memory.heapEndMb / r.memory.heapStartMb;
  const targets = [
    `${verdict(r.ratios.proxyVsNaive >= 1)} throughput proxy / naive = ${r.ratios.proxyVsNaive.toFixed(2)}× (with Idempotency-Key ${r.ratios.keyedVsNaive.toFixed(2)}×; proxy / direct ${r.ratios.proxyVsDirect.toFixed(2)}×), both with ${r.nodeFlags.join(' ') || 'no flags'}`,
    `     at Node's default heap settings proxy / naive = ${r.ratios.atNodeDefaultsProxyVsNaive.toFixed(2)}×; the start script's flags cost the proxy ${(r.ratios.flagsCost * 100).toFixed(0)} % of its throughput`,
    `${verdict(r.fixedRate.addedP99Ms <= 5)} p99 added over direct at ${r.fixedRate.rate} req/s = ${r.fixedRate.addedP99Ms} ms (p50 added ${r.fixedRate.addedP50Ms} ms); in 10-connection bursts p99 added ${r.fixedRate.burst.addedP99Ms} ms`,
    `${verdict(r.redisCommandsPerPay.tokenReadsPerPay < 0.01)} Redis round trips per pay: ${r.redisCommandsPerPay.unkeyed.toFixed(2)} unkeyed ${JSON.stringify(round2(r.redisCommandsPerPay.unkeyedByCommand))}, ${r.redisCommandsPerPay.keyed.toFixed(2)} keyed ${JSON.stringify(round2(r.redisCommandsPerPay.keyedByCommand))}; token reads per pay ${r.redisCommandsPerPay.tokenReadsPerPay.toFixed(3)}`,
    `${verdict(r.loginsDuringLoad === 0)} iCG logins during the load runs, after the warm-up's one: ${r.loginsDuringLoad}`,
    `${verdict(r.tokenEconomy.logins === 1 && r.tokenEconomy.statuses['200'] === r.tokenEconomy.pays)} token economy: ${r.tokenEconomy.pays} concurrent pays on 3 instances as the token expired → ${r.tokenEconomy.logins} login(s), statuses ${JSON.stringify(r.tokenEconomy.statuses)}`,
    `${verdict(r.memory.peakRssMb <= 150)} peak RSS ${r.memory.peakRssMb.toFixed(1)} MB`,
    `${verdict(heapRatio <= 1.2)} soak heap ${r.memory.heapStartMb.toFixed(1)} → ${r.memory.heapEndMb.toFixed(1)} MB (${heapRatio.toFixed(2)}×); RSS samples ${r.memory.rssSamplesMb.map((v) => v.toFixed(0)).join(' ')} MB`,
    `${verdict(r.slowIcg.errors + r.slowIcg.timeouts + r.slowIcg.non2xx === 0)} slow iCG (200 ms): 500 in flight, ${r.slowIcg.ok} ok, ${r.slowIcg.errors} errors, ${r.slowIcg.timeouts} timeouts, ${r.slowIcg.non2xx} non-2xx, ${r.slowIcg.rps.toFixed(0)} req/s (ceiling 2500)`,
  ];
  console.log(`\n${lines.join('\n')}\n\n${targets.join('\n')}\n`);
}

function round2(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}

process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
main().then(
  () => {
    killAll();
  },
  (error: unknown) => {
    killAll();
    console.error(error);
    process.exit(1);
  },
);
