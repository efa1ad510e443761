import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PROBLEMS } from './errors';
import { OUTCOMES } from './pay/journal';

const PREFIX = 'icg_bff_';

/** Latency buckets in seconds, from a sub-millisecond proxy hop to a slow gateway. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/*
 * The label values the alerting rules (config/alert-rules.yml) read. Their series are created at 0 when
 * the metrics are, so the first event moves a series Prometheus already knows from 0 to 1 and
 * increase()/rate() see it; a series born at 1 has no earlier sample and shows no increase at all.
 * Lists that exist in the code are imported; the others are the label values the code uses, named here
 * once (test/integration/alerts.test.ts checks that every selector of the rules finds a series at start).
 */

/** The route label of a pay, as request-log.ts builds it from Express's route template (http/pay-route.ts). */
export const PAY_ROUTE = '/pay/:invoiceId';

/**
 * Statuses POST /pay answers: every problem's status (errors.ts), and what iCG answers that is relayed as
 * it is: 200 (approved or declined), 204 (an empty answer) and its 4xx (open-ended: the common ones here,
 * others appear with their first answer).
 */
export const PAY_STATUSES: readonly number[] = [...new Set([200, 204, 400, 404, 422, ...PROBLEMS.map((problem) => problem.status)])].sort((a, b) => a - b);

/** The calls to iCG (icg/client.ts `Operation`) and how each ends (its `outcomeOf`, timeouts, network errors, unreadable answers). */
export const ICG_OPERATIONS = ['login', 'refresh', 'pay'] as const;
export const ICG_OUTCOMES = ['success', 'client_error', 'unauthorized', 'server_error', 'invalid_response', 'timeout', 'network_error'] as const;
export type IcgOperation = (typeof ICG_OPERATIONS)[number];
export type IcgOutcome = (typeof ICG_OUTCOMES)[number];

/** Token acquisitions (icg/token-manager.ts): by kind and result. */
export const TOKEN_KINDS = ['login', 'refresh'] as const;
export const TOKEN_RESULTS = ['success', 'rejected', 'failed'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];
export type TokenResult = (typeof TOKEN_RESULTS)[number];

/** The two 429 budgets (http/rate-limit.ts) and the three 409 guards (pay/pay-invoice.ts, pay/invoice-guard.ts). */
export const RATE_LIMITS = ['client', 'invoice'] as const;
export const CONFLICT_GUARDS = ['idempotency_key', 'invoice', 'invoice_hold'] as const;
export type RateLimitName = (typeof RATE_LIMITS)[number];
export type ConflictGuard = (typeof CONFLICT_GUARDS)[number];

/** What GET /readyz says of this instance (http/health.ts): a state set, one of them 1. */
export const READINESS_STATUSES = ['ready', 'degraded', 'draining'] as const;
export type ReadinessStatus = (typeof READINESS_STATUSES)[number];

/**
 * Every metric the service exports, on a registry of its own (no global state, so two app instances
 * in one test process keep separate counts). Names follow Prometheus conventions: base units,
 * `_seconds`, `_total`, one `icg_bff_` prefix.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const registers = [registry];
  const metrics = {
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
    readiness: new Gauge({
      name: `${PREFIX}readiness`,
      help: 'What GET /readyz says of this instance: 1 for its status (ready, degraded, draining), 0 for the others (all 0 until first reported)',
      labelNames: ['status'] as const,
      registers,
    }),
  };
  preinitialise(metrics);
  return metrics;
}

/** Creates at 0 every series an alerting rule reads (see the lists above). Label-less metrics start at 0 by themselves. */
function preinitialise(metrics: Metrics): void {
  for (const status of PAY_STATUSES) metrics.httpRequestDuration.zero({ method: 'POST', route: PAY_ROUTE, status_code: String(status) });
  for (const operation of ICG_OPERATIONS) for (const outcome of ICG_OUTCOMES) metrics.upstreamDuration.zero({ operation, outcome });
  for (const kind of TOKEN_KINDS) for (const result of TOKEN_RESULTS) metrics.tokenAcquisitions.inc({ kind, result }, 0);
  for (const outcome of OUTCOMES) metrics.paymentOutcomes.inc({ outcome }, 0);
  for (const limit of RATE_LIMITS) metrics.rateLimited.inc({ limit }, 0);
  for (const guard of CONFLICT_GUARDS) metrics.inFlightConflicts.inc({ guard }, 0);
  for (const status of READINESS_STATUSES) metrics.readiness.set({ status }, 0);
}

/** Records what GET /readyz says of this instance (call at each scrape, so the gauge never goes stale). */
export function recordReadiness(metrics: Metrics, status: ReadinessStatus): void {
  for (const each of READINESS_STATUSES) metrics.readiness.set({ status: each }, each === status ? 1 : 0);
}

export type Metrics = ReturnType<typeof createMetrics>;
