import { problemAnswer, type Answer } from '../answer';
import { maskCardNumbers, SensitiveValues } from '../cardholder-data';
import { Conflict, IdempotencyKeyReused, UpstreamFailure } from '../errors';
import type { AnswerFilter } from '../icg/answer-filter';
import type { IcgClient, PayReply } from '../icg/client';
import type { TokenManager } from '../icg/token-manager';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { requestFingerprint } from './fingerprint';
import type { IdempotencyStore, Reservation } from './idempotency';
import type { InFlightPays } from './in-flight-pays';
import type { InvoiceLocks, ReleaseLock } from './invoice-locks';

/** A pay request as the HTTP layer hands it over: parsed and validated, nothing of HTTP left. */
export interface PayRequest {
  /** Allow-listed, as the client sent it. */
  readonly invoiceId: string;
  /** The validated JSON body. */
  readonly body: Readonly<Record<string, unknown>>;
  readonly idempotencyKey: string | undefined;
  readonly requestId: string;
  /** Aborted when the client has gone away. */
  readonly signal: AbortSignal;
  /** Spends one attempt of the invoice's budget, or throws RateLimited. Replays do not spend it. */
  readonly spendInvoiceBudget: () => Promise<void>;
}

/** What to answer, and what the request log should say about it. */
export interface PayResult {
  readonly answer: Answer;
  readonly isReplay: boolean;
  /** iCG's status (absent when it gave none: timeout, connection lost) and how long the pay took there. */
  readonly upstream?: { readonly status?: number; readonly durationMs: number };
  /** The problem type slug of an answer that is a problem. */
  readonly problem?: string;
}

/** The client went away before its pay was forwarded: nothing was sent to iCG, nobody is left to answer. */
export class ClientLeft extends Error {
  constructor() {
    super('the client left before its pay was forwarded');
    this.name = 'ClientLeft';
  }
}

export interface PayInvoiceDeps {
  readonly icg: IcgClient;
  readonly tokens: TokenManager;
  readonly answerFilter: AnswerFilter;
  readonly idempotency: IdempotencyStore;
  readonly locks: InvoiceLocks;
  readonly inFlight: InFlightPays;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/**
 * Pays one invoice through iCG, at most once per Idempotency-Key and one at a time per invoice:
 *
 * 1. the key is reserved (or its stored answer replayed, or the request refused: in flight, reused);
 * 2. one attempt of the invoice's budget is spent;
 * 3. the invoice lock is taken;
 * 4. the pay is sent with the shared token, and once more with a new token after a 401;
 * 5. the answer, or a failure that may have charged (timeout, 5xx, unreadable), is stored under the key.
 *
 * Every error thrown from here means nothing can have been charged, so the key is freed for a retry.
 */
export class PayInvoice {
  constructor(private readonly deps: PayInvoiceDeps) {}

  async pay(request: PayRequest): Promise<PayResult> {
    const reserved = await this.#reserveKey(request);
    if ('answer' in reserved) return reserved;
    const reservation = reserved.reservation;
    const endInFlight = this.deps.inFlight.begin();
    let release: ReleaseLock | null = null;
    try {
      await request.spendInvoiceBudget();
      // Nobody would hear the answer (and a retry may already be on its way): send nothing.
      if (request.signal.aborted) throw new ClientLeft();
      release = await this.#lockInvoice(request.invoiceId);
      const result = await this.#forward(request);
      // The release and the stored answer leave in the same tick (one round trip when pipelined), so a
      // client paying again at once meets neither. The answer waits for the record, not for the release:
      // a release that fails leaves a lock that expires by itself.
      const released = release();
      await reservation?.complete(result.answer);
      await released;
      return result;
    } catch (error) {
      await reservation?.abandon();
      throw error;
    } finally {
      void release?.();
      endInFlight();
    }
  }

  /** A replayed result, or the reservation this request holds (undefined without a key). */
  async #reserveKey(request: PayRequest): Promise<PayResult | { reservation: Reservation | undefined }> {
    if (request.idempotencyKey === undefined) return { reservation: undefined };
    const admission = await this.deps.idempotency.admit(request.idempotencyKey, requestFingerprint(request.invoiceId, request.body));
    switch (admission.kind) {
      case 'new':
        return { reservation: admission.reservation };
      case 'replay':
        this.deps.metrics.idempotentReplays.inc();
        return { answer: this.#relayable(admission.answer, request), isReplay: true };
      case 'in_flight':
        this.deps.metrics.inFlightConflicts.inc({ guard: 'idempotency_key' });
        throw new Conflict('A request with this Idempotency-Key is still in progress; retry when it has finished', { retryAfterSeconds: 1 });
      case 'mismatch':
        throw new IdempotencyKeyReused('This Idempotency-Key was used for a different invoice or body; use a new key for a new payment');
    }
  }

  /**
   * A stored iCG answer filtered again as it is replayed: a record an earlier version stored unfiltered
   * (during a rolling deploy) must not relay what this version would have removed.
   */
  #relayable(answer: Answer, request: PayRequest): Answer {
    if (answer.contentType !== 'application/json') return answer;
    return { ...answer, body: this.deps.answerFilter.filter(answer.body, SensitiveValues.of(request.body)) };
  }

  async #lockInvoice(invoiceId: string): Promise<ReleaseLock> {
    const release = await this.deps.locks.acquire(invoiceId);
    if (release) return release;
    this.deps.metrics.inFlightConflicts.inc({ guard: 'invoice' });
    throw new Conflict('Another payment for this invoice is in progress; wait for its result before trying again', { retryAfterSeconds: 1 });
  }

  /**
   * Sends the pay and turns what iCG said into the answer to give. A failure that may have charged
   * becomes a problem answer (stored under the key like any final answer, so a retry replays it
   * instead of paying again); any other failure is thrown.
   */
  async #forward(request: PayRequest): Promise<PayResult> {
    const started = process.hrtime.bigint();
    const elapsedMs = () => Number(process.hrtime.bigint() - started) / 1e6;
    try {
      const reply = await this.#payWithToken(request);
      this.deps.logger.debug(
        {
          event: 'icg_pay',
          requestId: request.requestId,
          invoiceId: maskCardNumbers(request.invoiceId),
          upstreamStatus: reply.status,
          isKeyed: request.idempotencyKey !== undefined,
        },
        'iCG answered the pay',
      );
      // Only iCG's documented fields, scrubbed of cardholder data, are relayed, stored and logged.
      const body = this.deps.answerFilter.filter(reply.body, SensitiveValues.of(request.body));
      return {
        answer: { status: reply.status, contentType: 'application/json', body },
        isReplay: false,
        upstream: { status: reply.status, durationMs: elapsedMs() },
      };
    } catch (error) {
      if (!(error instanceof UpstreamFailure && error.mayHaveCharged)) throw error;
      const upstream = error.upstreamStatus === undefined ? { durationMs: elapsedMs() } : { status: error.upstreamStatus, durationMs: elapsedMs() };
      return { answer: problemAnswer(error, request.requestId, `/pay/${request.invoiceId}`), isReplay: false, upstream, problem: error.slug };
    }
  }

  /**
   * The pay with the shared token. When iCG answers 401 the token is dropped (only if it is still the
   * stored one), a valid token is fetched and the pay is sent ONCE more: a 401 means iCG refused the
   * pay before acting on it, so this retry cannot charge twice. No other answer is retried.
   */
  async #payWithToken(request: PayRequest): Promise<PayReply> {
    const { icg, tokens } = this.deps;
    const held = await tokens.getToken();
    const first = await icg.payInvoice(request.invoiceId, request.body, held.token, request.requestId);
    if (first.status !== 401) return first;
    const refusedAt = await tokens.invalidate(held);
    const renewed = await tokens.getToken();
    const second = await icg.payInvoice(request.invoiceId, request.body, renewed.token, request.requestId);
    if (second.status !== 401) return second;
    throw await tokens.refuse(renewed, refusedAt);
  }
}
