import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, loadConfig, loadEnvFile } from '../config';
import { AppError } from '../errors';
import { guardTimings } from '../guard-timings';
import { createLogger } from '../logger';
import { createMetrics } from '../metrics';
import { IdempotencyStore } from '../pay/idempotency';
import { InvoiceGuard } from '../pay/invoice-guard';
import { Journal, type JournalEntry } from '../pay/journal';
import { parseJournalFilter } from '../pay/journal-query';
import { resolvePayment } from '../pay/reconcile';
import { RedisJournalStore } from '../state/journal-store';
import { LandingWrites } from '../state/landing-writes';
import { MemoryState } from '../state/memory-state';
import { createRedis, waitForRedis } from '../state/redis-connection';
import { RedisState } from '../state/redis-state';
import { RedisTrouble } from '../state/redis-trouble';

const USAGE = `usage:
  npm run payments -- [--outcome unknown] [--since 1h] [--invoice 962] [--unresolved] [--limit 100] [--json]
  npm run payments -- resolve <payment id> --as charged --reference <iCG TransactionId> --by <your name>
  npm run payments -- resolve <payment id> --as not_charged --by <your name>
Reads the same configuration as the service (environment, ENV_FILE or .env, config/<NODE_ENV>.json) and its Redis.`;

function table(entries: readonly JournalEntry[]): string {
  const rows = entries.map((entry) => [
    entry.startedAt,
    entry.outcome + (entry.abandoned ? ' (instance stopped)' : '') + (entry.resolutions?.length ? ` → ${entry.resolutions.at(-1)?.as ?? ''}` : ''),
    entry.invoiceId,
    entry.amount,
    entry.instrument ?? '',
    entry.transactionId ?? entry.confirmationCode ?? entry.resolutions?.at(-1)?.reference ?? '',
    entry.requestId,
    entry.id,
  ]);
  const header = ['started', 'outcome', 'invoice', 'amount', 'instrument', 'iCG reference', 'request id', 'payment id'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * Lists the payment journal and resolves unknown outcomes, from a shell: the same journal, holds and
 * Idempotency-Key records the service uses, straight from Redis (so it works while the service is down).
 */
async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      outcome: { type: 'string' },
      since: { type: 'string' },
      invoice: { type: 'string' },
      unresolved: { type: 'boolean' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      as: { type: 'string' },
      reference: { type: 'string' },
      by: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // The same settings as the service, .env file included.
  loadEnvFile(process.env);
  const config = loadConfig(process.env);
  if (!config.redis.url) {
    process.stderr.write(
      'payments: the journal lives in Redis, and REDIS_URL is unset (without Redis it lives in the running service: GET /admin/payments on its admin listener)\n',
    );
    return 2;
  }
  // Logs go to stderr: stdout is the listing (JSON with --json).
  const logger = createLogger({ logLevel: 'warn', env: 'production' }, pino.destination(2));
  const metrics = createMetrics();
  const { redis, diagnosis } = createRedis({ ...config.redis }, logger, metrics);
  try {
    if (!(await waitForRedis(redis, config.redis.connectTimeoutMs + 1000))) {
      process.stderr.write(`payments: redis at ${diagnosis.target} does not answer: ${diagnosis.lastError ?? 'no answer'}\n`);
      return 1;
    }
    const trouble = new RedisTrouble(metrics, logger);
    const state = new RedisState(redis, config.redis.keyPrefix, metrics);
    const { payLockTtlMs: lockTtlMs } = guardTimings(config.icg.timeoutMs, config.pay.deadlineMs);
    const journal = new Journal(
      new RedisJournalStore(
        redis,
        config.redis.keyPrefix,
        { maxEntries: config.journal.maxEntries, maxAgeMs: config.journal.maxAgeDays * 86_400_000 },
        metrics,
      ),
      trouble,
      logger,
      metrics,
      lockTtlMs,
    );
    if (positionals[0] === 'resolve') {
      const id = positionals[1];
      if (!id || (values.as !== 'charged' && values.as !== 'not_charged') || !values.by) {
        process.stderr.write(`${USAGE}\n`);
        return 2;
      }
      const landing = new LandingWrites(logger);
      const local = new MemoryState();
      const deps = {
        journal,
        invoices: new InvoiceGuard({
          shared: state,
          local,
          downMode: 'refuse',
          lockTtlMs,
          holdMs: config.pay.unknownOutcomeHoldMs,
          dataLoss: null,
          landing,
          trouble,
          metrics,
          logger,
        }),
        idempotency: new IdempotencyStore(state, config.idempotency.ttlSeconds, lockTtlMs, null, landing, metrics, logger, trouble),
        metrics,
        logger,
      };
      const entry = await resolvePayment(deps, id, { as: values.as, by: values.by, ...(values.reference ? { reference: values.reference } : {}) });
      local.close();
      process.stdout.write(
        values.json
          ? `${JSON.stringify(entry, null, 2)}\n`
          : `resolved ${entry.id} as ${values.as}: invoice ${entry.invoiceId} released${entry.keyHash ? ', Idempotency-Key rewritten' : ''}\n`,
      );
      return 0;
    }
    if (positionals.length > 0) {
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    const filter = parseJournalFilter(
      { outcome: values.outcome, since: values.since, invoice: values.invoice, unresolved: values.unresolved ? 'true' : undefined, limit: values.limit },
      Date.now(),
    );
    const entries = await journal.list(filter);
    process.stdout.write(values.json ? `${JSON.stringify(entries, null, 2)}\n` : `${table(entries)}\n${entries.length} payment(s)\n`);
    return 0;
  } finally {
    // quit() waits for the last writes (a resolution's) to be acknowledged.
    await redis.quit().catch(() => {
      redis.disconnect();
    });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) process.stderr.write(`payments: ${error.message}\n`);
    else if (error instanceof AppError)
      process.stderr.write(`payments: ${error.message}${'errors' in error ? ` ${JSON.stringify((error as { errors: unknown }).errors)}` : ''}\n`);
    else process.stderr.write(`payments: ${error instanceof Error ? error.message : 'failed'}\n${USAGE}\n`);
    process.exitCode = 1;
  },
);
