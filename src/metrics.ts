import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const PREFIX = 'icg_bff_';

/** Latency buckets in seconds, from a sub-millisecond proxy hop to a slow gateway. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Every metric the service exports, on a registry of its own (no global state, so two app instances
 * in one test process keep separate counts). Names follow Prometheus conventions: base units,
 * `_seconds`, `_total`, one `icg_bff_` prefix.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const registers = [registry];
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'Time to answer an HTTP request, by method, route template and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    upstreamDuration: new Histogram({
      name: `${PREFIX}icg_request_duration_seconds`,
      help: 'Time of each call to iCG, by operation (login, refresh, pay) and outcome',
      labelNames: ['operation', 'outcome'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    tokenAcquisitions: new Counter({
      name: `${PREFIX}token_acquisitions_total`,
      help: 'Logins and refreshes against iCG, by kind (login, refresh) and result (success, rejected, failed)',
      labelNames: ['kind', 'result'] as const,
      registers,
    }),
    tokenExpiry: new Gauge({
      name: `${PREFIX}token_expiry_seconds`,
      help: 'Seconds until the access token this process holds expires (0 when it holds none)',
      registers,
    }),
    tokenLockWaits: new Counter({
      name: `${PREFIX}token_lock_waits_total`,
      help: 'Times this process waited for another instance to finish a login',
      registers,
    }),
    tokenInvalidations: new Counter({
      name: `${PREFIX}token_invalidations_total`,
      help: 'Access tokens dropped after iCG answered 401',
      registers,
    }),
    rateLimited: new Counter({
      name: `${PREFIX}rate_limited_total`,
      help: 'Requests answered 429, by limit (client, invoice)',
      labelNames: ['limit'] as const,
      registers,
    }),
    originRejected: new Counter({
      name: `${PREFIX}origin_rejected_total`,
      help: 'Requests answered 403 because their Origin is not allowed',
      registers,
    }),
    idempotentReplays: new Counter({
      name: `${PREFIX}idempotent_replays_total`,
      help: 'Requests answered from a stored Idempotency-Key result without calling iCG',
      registers,
    }),
    inFlightConflicts: new Counter({
      name: `${PREFIX}in_flight_conflicts_total`,
      help: 'Requests answered 409 because the same invoice or Idempotency-Key was in flight, by guard',
      labelNames: ['guard'] as const,
      registers,
    }),
    idempotencyRecordsLost: new Counter({
      name: `${PREFIX}idempotency_records_lost_total`,
      help: 'Keyed pays whose in-flight record had vanished (or been replaced) when their answer was stored; the answer was stored anyway',
      registers,
    }),
    idempotencyWritesLost: new Counter({
      name: `${PREFIX}idempotency_writes_lost_total`,
      help: 'Keyed pays whose answer could not be stored before its lifetime ended or shutdown (a retry with the key may run again)',
      registers,
    }),
    paymentOutcomes: new Counter({
      name: `${PREFIX}payment_outcomes_total`,
      help: 'Pays journalled, by outcome (pending, approved, declined, rejected, unknown: may have charged, not_sent)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    unresolvedPayments: new Gauge({
      name: `${PREFIX}payments_unresolved`,
      help: 'Pays with an unknown outcome that no operator has resolved yet (from the journal, at each scrape)',
      registers,
    }),
    resolutions: new Counter({
      name: `${PREFIX}payment_resolutions_total`,
      help: 'Unknown outcomes resolved by an operator, by resolution (charged, not_charged)',
      labelNames: ['as'] as const,
      registers,
    }),
    invoiceHolds: new Counter({
      name: `${PREFIX}invoice_holds_total`,
      help: 'Invoices held after a pay whose outcome is unknown',
      registers,
    }),
    redisDataLosses: new Counter({
      name: `${PREFIX}redis_data_losses_total`,
      help: 'Times this instance found that Redis had lost data (epoch missing or changed): pays are refused for PAY_DEADLINE_MS',
      registers,
    }),
    payQuarantine: new Gauge({
      name: `${PREFIX}pay_quarantine_seconds`,
      help: 'Seconds pays are still refused after Redis lost data (0 when not)',
      registers,
    }),
    redisErrors: new Counter({
      name: `${PREFIX}redis_errors_total`,
      help: 'Redis commands that failed, by operation',
      labelNames: ['operation'] as const,
      registers,
    }),
    redisUp: new Gauge({
      name: `${PREFIX}redis_up`,
      help: '1 when Redis answers a PING (checked at each scrape; also 1 in memory mode), 0 when it does not',
      registers,
    }),
    degradedOperations: new Counter({
      name: `${PREFIX}degraded_operations_total`,
      help: 'Operations that fell back to in-process state because Redis was unreachable, by operation',
      labelNames: ['operation'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
