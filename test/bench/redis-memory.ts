/**
 * `npx tsx test/bench/redis-memory.ts`: what each kind of record the service keeps costs in Redis, to
 * size `maxmemory` (docs/benchmarks.md, "Redis memory"). On a private, empty redis-server it starts the
 * service in-process with the iCG sandbox (test/support/harness), sends MEMORY_BENCH_PAYS keyed pays
 * (each with its own invoice, key and client address) that iCG approves, then as many that it answers
 * 500 (outcome unknown), and reads INFO memory's used_memory before and after each run. Deleting one
 * kind of key at a time then splits a run's growth by kind; MEMORY USAGE cross-checks each kind.
 * Prints markdown tables: bytes per record, how long each lives (the defaults in settings.ts), and the
 * sizing formula worked out for a few rates.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { SETTINGS } from '../../src/config/settings';
import { payBody, postJson, startHarness, type Harness } from '../support/harness';
import { RedisProcess } from '../support/redis-server';

const PAYS = Number(process.env['MEMORY_BENCH_PAYS'] ?? 2000);
const CONCURRENCY = 16;
const PREFIX = SETTINGS.redis.keyPrefix.default ?? 'icg-bff:';
/** A hash-table entry's slot at worst, for sizing: 8 bytes, in a table that doubles when full (so is at least half empty). */
const SLOT_BYTES = 16;

/** Every per-pay key, by kind (patterns after the prefix; SCAN globs, where `{` is a plain character). */
const KEYS = {
  idempotency: 'idempotency:*',
  journalEntry: 'journal:{journal}:entry:*',
  journalTime: 'journal:{journal}:time',
  journalUnresolved: 'journal:{journal}:unresolved',
  client: 'rl:client:*',
  invoice: 'rl:invoice:*',
  hold: 'invoice-hold:*',
} as const;
type Kind = keyof typeof KEYS;

/** How many bytes one record took, by used_memory and by MEMORY USAGE. */
interface Cost {
  readonly records: number;
  readonly bytes: number;
  readonly usage: number;
  /** Hash-table entries a record takes: the keyspace's, and the expires table's for a key with a TTL (0: a set member). */
  readonly tables: number;
}

/** Numeric fields of INFO `section`. */
async function info(redis: Redis, section: string): Promise<Record<string, number>> {
  const text = await redis.info(section);
  return Object.fromEntries([...text.matchAll(/^(\w+):(\d+)\r?$/gm)].map(([, name = '', value]) => [name, Number(value)]));
}

/** used_memory less the normal clients' buffers, which follow the traffic, not what is stored. */
async function storedBytes(redis: Redis): Promise<number> {
  await sleep(500); // lets incremental rehashing finish
  const memory = await info(redis, 'memory');
  return (memory['used_memory'] ?? Number.NaN) - (memory['mem_clients_normal'] ?? Number.NaN);
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Bytes MEMORY USAGE gives `key` (SAMPLES 0: every member of a set is counted). */
async function memoryUsage(redis: Redis, key: string): Promise<number> {
  return Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
}

/**
 * Deletes one kind of key and says what each record cost: the used_memory it freed and MEMORY USAGE
 * (averaged over a sample), divided by its records (keys, or members of a single set key).
 */
async function deleteKind(redis: Redis, kind: Kind): Promise<Cost> {
  const keys = await scanKeys(redis, PREFIX + KEYS[kind]);
  const isSetKey = !KEYS[kind].endsWith('*');
  const records = isSetKey ? Number(await redis.call(kind === 'journalTime' ? 'ZCARD' : 'SCARD', keys[0] ?? '-')) : keys.length;
  const sample = keys.slice(0, 100);
  const sampleUsage = (await Promise.all(sample.map((key) => memoryUsage(redis, key)))).reduce((sum, bytes) => sum + bytes, 0);
  const usage = isSetKey ? sampleUsage / records : sampleUsage / sample.length;
  const tables = isSetKey ? 0 : (await redis.pttl(keys[0] ?? '-')) > 0 ? 2 : 1;
  const before = await storedBytes(redis);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  return { records, bytes: (before - (await storedBytes(redis))) / records, usage, tables };
}

/** `count` keyed pays, each with its own invoice, Idempotency-Key and client address; every answer must be `status`. */
async function payMany(harness: Harness, count: number, firstInvoice: number, status: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let n = next++; n < count; n = next++) {
      const headers = { 'Idempotency-Key': randomUUID(), 'X-Forwarded-For': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` };
      const answer = await postJson(`${harness.url}/pay/${firstInvoice + n}`, payBody(), headers);
      if (answer.status !== status) throw new Error(`pay ${n}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** What one run of pays left in Redis: its growth per pay, and what each kind of record costs. */
interface RunCost {
  readonly perPay: number;
  readonly kinds: Map<Kind, Cost>;
  /** The growth per pay no deleted key gave back: the slots of the keyspace's hash tables, which grow by doubling. */
  readonly slots: number;
}

/** Pays PAYS times, then deletes `kinds` (every kind the pays wrote) one by one. */
async function measureRun(redis: Redis, harness: Harness, firstInvoice: number, status: number, kinds: readonly Kind[]): Promise<RunCost> {
  const before = await storedBytes(redis);
  await payMany(harness, PAYS, firstInvoice, status);
  const perPay = ((await storedBytes(redis)) - before) / PAYS;
  const costs = new Map<Kind, Cost>();
  for (const kind of kinds) costs.set(kind, await deleteKind(redis, kind));
  const freed = [...costs.values()].reduce((sum, cost) => sum + (cost.bytes * cost.records) / PAYS, 0);
  return { perPay, kinds: costs, slots: perPay - freed };
}

/** One kind's cost, or several kinds' summed per record (a journal entry is a string and set members). */
function costOf(run: RunCost, ...kinds: Kind[]): Cost {
  const parts = kinds.map((kind) => run.kinds.get(kind) ?? { records: Number.NaN, bytes: Number.NaN, usage: Number.NaN, tables: 0 });
  const sum = (count: (cost: Cost) => number) => parts.reduce((total, cost) => total + count(cost), 0);
  return { records: parts[0]?.records ?? 0, bytes: sum((cost) => cost.bytes), usage: sum((cost) => cost.usage), tables: sum((cost) => cost.tables) };
}

const seconds = (ms: string | undefined) => Number(ms) / 1000;
/** How long records live by default (settings.ts), in seconds; the journal by count and age. */
const LIFETIMES = {
  idempotency: Number(SETTINGS.idempotency.ttlSeconds.default),
  journalEntries: Number(SETTINGS.journal.maxEntries.default),
  journalAge: Number(SETTINGS.journal.maxAgeDays.default) * 86400,
  client: seconds(SETTINGS.rateLimit.clientWindowMs.default),
  invoice: seconds(SETTINGS.rateLimit.invoiceWindowMs.default),
  hold: seconds(SETTINGS.pay.unknownOutcomeHoldMs.default),
};

interface Measurements {
  readonly empty: number;
  readonly fixed: number;
  readonly fixedKeys: string[];
  readonly connections: number;
  readonly perConnection: number;
  readonly locksLeft: number;
  readonly approved: RunCost;
  readonly unknown: RunCost;
}

/** On an empty Redis: the fixed cost, a run of approved pays, a run of pays whose outcome is unknown. */
async function measure(redis: Redis, url: string): Promise<Measurements> {
  const empty = await storedBytes(redis);
  const harness = await startHarness({
    redisUrl: url,
    env: {
      REDIS_KEY_PREFIX: PREFIX,
      LOG_LEVEL: 'silent',
      // Every pay from its own client address (X-Forwarded-For from loopback), none refused.
      TRUST_PROXY: 'loopback',
      RATE_LIMIT_MAX: '1000000',
      RATE_LIMIT_INVOICE_MAX: '1000000',
    },
  });
  try {
    // One pay logs in and writes the fixed keys; its own per-pay records are deleted again.
    await payMany(harness, 1, 1, 200);
    for (const kind of ['idempotency', 'journalEntry', 'journalTime', 'client', 'invoice'] as const) await deleteKind(redis, kind);
    const fixedKeys = await Promise.all((await scanKeys(redis, '*')).map(async (key) => `\`${key.slice(PREFIX.length)}\` ${await memoryUsage(redis, key)} B`));
    const fixed = (await storedBytes(redis)) - empty;
    const connections = (await info(redis, 'clients'))['connected_clients'] ?? Number.NaN;
    const perConnection = ((await info(redis, 'memory'))['mem_clients_normal'] ?? Number.NaN) / connections;

    // Ballast (outside the prefix, never deleted): Redis halves a hash table that falls under 10% full,
    // which would credit the freed slots to whichever kind is deleted last.
    const ballast = redis.pipeline();
    for (let n = 0; n < 2 * PAYS; n += 1) ballast.set(`memory-bench-ballast:${n}`, '1', 'EX', 3600);
    await ballast.exec();

    const approved = await measureRun(redis, harness, 1_000_000, 200, ['idempotency', 'journalEntry', 'journalTime', 'client', 'invoice']);
    const locksLeft = (await scanKeys(redis, `${PREFIX}pay-lock:*`)).length + (await scanKeys(redis, `${PREFIX}invoice-hold:*`)).length;
    harness.icg.faults.payStatus = 500;
    const unknown = await measureRun(redis, harness, 2_000_000, 502, [
      'hold',
      'idempotency',
      'journalEntry',
      'journalTime',
      'journalUnresolved',
      'client',
      'invoice',
    ]);
    return { empty, fixed, fixedKeys, connections, perConnection, locksLeft, approved, unknown };
  } finally {
    await harness.close();
  }
}

function printRecords(m: Measurements): void {
  const hours = (s: number) => `${s / 3600} h`;
  const minutes = (s: number) => `${s / 60} min`;
  const row = (kind: string, count: number, bytes: number, usage: number | null, lifetime: string) => {
    console.log(`| ${kind} | ${count} | ${Math.round(bytes)} | ${usage === null ? '' : Math.round(usage)} | ${lifetime} |`);
  };
  const kindRow = (kind: string, cost: Cost, lifetime: string) => {
    row(kind, cost.records, cost.bytes, cost.usage, lifetime);
  };
  const { approved, unknown } = m;
  console.log(`Redis memory per record: ${PAYS} keyed pays per run, key prefix \`${PREFIX}\`, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log('| Kind | Count | Bytes each (used_memory) | MEMORY USAGE | Lifetime (defaults) |\n|---|---:|---:|---:|---|');
  kindRow(
    'idempotency record `idempotency:<hash>` (approved answer)',
    costOf(approved, 'idempotency'),
    `IDEMPOTENCY_TTL_SECONDS: ${hours(LIFETIMES.idempotency)}`,
  );
  const journalLife = `newest JOURNAL_MAX_ENTRIES (${LIFETIMES.journalEntries}) within JOURNAL_MAX_AGE_DAYS (${LIFETIMES.journalAge / 86400} d)`;
  kindRow('journal entry `journal:{journal}:entry:<id>` + `time` member', costOf(approved, 'journalEntry', 'journalTime'), journalLife);
  kindRow('rate limit per client `rl:client:<ip>`', costOf(approved, 'client'), `RATE_LIMIT_WINDOW_MS: ${minutes(LIFETIMES.client)}`);
  kindRow('rate limit per invoice `rl:invoice:<invoice>`', costOf(approved, 'invoice'), `RATE_LIMIT_INVOICE_WINDOW_MS: ${minutes(LIFETIMES.invoice)}`);
  row('invoice lock `pay-lock:{<invoice>}` + pending hold (keys left)', m.locksLeft, 0, null, 'deleted when the pay ends');
  row('hash-table slots (growth no deleted key gave back)', PAYS, approved.slots, null, 'with the keys');
  row('**keyed pay, approved: all its records**', PAYS, approved.perPay, null, 'growth of used_memory ÷ pays');
  kindRow('unknown-outcome hold `invoice-hold:{<invoice>}`', costOf(unknown, 'hold'), `UNKNOWN_OUTCOME_HOLD_MS: ${minutes(LIFETIMES.hold)}`);
  kindRow('idempotency record (outcome-unknown answer)', costOf(unknown, 'idempotency'), hours(LIFETIMES.idempotency));
  const unresolved = costOf(unknown, 'journalEntry', 'journalTime', 'journalUnresolved');
  kindRow('unresolved journal entry (+ `unresolved` member)', unresolved, 'until resolved, never trimmed');
  row('hash-table slots (growth no deleted key gave back)', PAYS, unknown.slots, null, 'with the keys');
  row('**keyed pay, outcome unknown: all its records**', PAYS, unknown.perPay, null, 'growth of used_memory ÷ pays');
  row('fixed: keys and Lua scripts', m.fixedKeys.length, m.fixed, null, 'always (token: until it expires)');
  row('per Redis connection (client buffers)', m.connections, m.perConnection, null, 'while connected');
  console.log(`\nEmpty Redis: ${Math.round(m.empty / 1024)} KiB. Fixed keys: ${m.fixedKeys.join(', ')}.`);
}

/** The sizing formula with the measured costs, worked out for a few rates: every pay keyed, from a new client, of a new invoice. */
function printSizing(m: Measurements): void {
  const sized = (...kinds: Kind[]) => {
    const cost = costOf(m.approved, ...kinds);
    return Math.round(cost.bytes + cost.tables * SLOT_BYTES);
  };
  const [I, J, C, V] = [sized('idempotency'), sized('journalEntry', 'journalTime'), sized('client'), sized('invoice')];
  const base = Math.round(m.empty + m.fixed);
  const L = LIFETIMES;
  console.log(
    `\ndata ≈ ${base} + r × ${L.idempotency} s × ${I} + min(${L.journalEntries}, r × ${L.journalAge} s) × ${J} + r × (${L.client} s × ${C} + ${L.invoice} s × ${V}) bytes`,
  );
  console.log('\n| Pays/s | Idempotency records | Journal entries | Rate-limit keys | Data | maxmemory (×1.5) | Host RAM (×2 maxmemory) |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  for (const rate of [10, 50, 200]) {
    const records = rate * L.idempotency;
    const entries = Math.min(L.journalEntries, rate * L.journalAge);
    const data = base + records * I + entries * J + rate * (L.client * C + L.invoice * V);
    console.log(`| ${rate} | ${records} | ${entries} | ${rate * (L.client + L.invoice)} | ${gib(data)} | ${gib(1.5 * data)} | ${gib(3 * data)} |`);
  }
}

async function main(): Promise<void> {
  // Redis 7's per-command latency histograms (~24 KB for each command name ever run) are not records.
  const server = await RedisProcess.start(undefined, ['--latency-tracking', 'no']);
  const redis = new Redis(server.url);
  try {
    const measurements = await measure(redis, server.url);
    printRecords(measurements);
    printSizing(measurements);
  } finally {
    redis.disconnect();
    await server.kill();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
