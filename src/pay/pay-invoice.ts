import { randomUUID } from 'node:crypto';
import { problemAnswer, type Answer } from '../answer';
import { maskedInstrument, SensitiveValues } from '../cardholder-data';
import { systemClock, type Clock } from '../clock';
import { Conflict, IdempotencyKeyReused, OutcomeUnknown, ServiceUnavailable, TokenRefused, UpstreamFailure, UpstreamTimeout } from '../errors';
import type { AnswerFilter } from '../icg/answer-filter';
import type { IcgClient, PayReply } from '../icg/client';
import type { TokenManager } from '../icg/token-manager';
import type { Keyring } from '../keyring';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { dataLossRefusal, type DataLossGuard } from '../state/data-loss';
import { StateUnavailable } from '../state/shared-state';
import { isSameRequest, requestFingerprint } from './fingerprint';
import { keyHash, type IdempotencyStore, type Reservation } from './idempotency';
import type { InFlightPays } from './in-flight-pays';
import type { InvoiceGuard, InvoicePay } from './invoice-guard';
import type { InvoiceId } from './invoice-id';
import type { Journal, JournalEntry, Outcome } from './journal';
import { outcomeOf, referencesOf, type StatusMapping } from './outcome';
import type { PayBody } from './pay-body';

/** A pay request as the HTTP layer hands it over: parsed and validated, nothing of HTTP left. */
export interface PayRequest {
  readonly invoice: InvoiceId;
  readonly body: PayBody;
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
  /** The journal entry of a pay that was sent (absent for a replay). */
  readonly payment?: JournalEntry;
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
  readonly icg: Pick<IcgClient, 'payInvoice'>;
  readonly tokens: Pick<TokenManager, 'getToken' | 'replaceRefused'>;
  readonly answerFilter: AnswerFilter;
  readonly keyring: Keyring;
  readonly idempotency: IdempotencyStore;
  readonly invoices: InvoiceGuard;
  readonly journal: Journal;
  readonly dataLoss: DataLossGuard | null;
  readonly inFlight: InFlightPays;
  readonly statuses: StatusMapping;
  /** PAY_DEADLINE_MS: the longest a whole pay may take. */
  readonly deadlineMs: number;
  /** ICG_TIMEOUT_MS: the longest one call to iCG may take. */
  readonly callTimeoutMs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: Clock;
}

/** A pay that was sent to iCG, before it is settled. */
interface Sent {
  readonly result: PayResult;
  readonly outcome: Outcome;
  readonly references: { transactionId?: string; confirmationCode?: string };
}

/**
 * Pays one invoice through iCG, at most once per Idempotency-Key and per invoice:
 *
 * 1. nothing is admitted while Redis is recovering from a data loss (looked at again just before sending);
 * 2. the key is reserved (or its stored answer replayed, or the request refused: in flight, reused);
 * 3. one attempt of the invoice's budget is spent;
 * 4. the invoice is locked, and held (`pending`), and the pay journalled, before anything is sent;
 * 5. the pay is sent with the shared token, and once more with a replacement after a 401, within the deadline;
 * 6. the outcome settles everything: the answer stored under the key, the invoice released or, when the
 *    outcome is unknown, held; the journal entry finished.
 *
 * Every error thrown from here means nothing can have been charged, so the key and the invoice are freed.
 * After close() (shutdown) nothing new is accepted.
 */
export class PayInvoice {
  readonly #clock: Clock;
  #isClosed = false;

  constructor(private readonly deps: PayInvoiceDeps) {
    this.#clock = deps.clock ?? systemClock;
  }

  /**
   * Shutdown: from now on every pay is refused (503, nothing sent) so the pays in flight are the last
   * ones, and the instance can stop once they are done.
   */
  close(): void {
    this.#isClosed = true;
  }

  async pay(request: PayRequest): Promise<PayResult> {
    const deadline = this.#clock.now() + this.deps.deadlineMs;
    if (this.#isClosed)
      throw new ServiceUnavailable('This instance is shutting down; nothing was charged. Retry: another instance will take it', { retryAfterSeconds: 1 });
    await this.#refuseDuringDataLoss();
    const paymentId = randomUUID();
    const reserved = await this.#reserveKey(request, paymentId);
    if ('answer' in reserved) return reserved;
    const { reservation } = reserved;
    const endInFlight = this.deps.inFlight.begin();
    let invoicePay: InvoicePay | null = null;
    let entry: JournalEntry | null = null;
    try {
      await request.spendInvoiceBudget();
      // Nobody would hear the answer (and a retry may already be on its way): send nothing.
      if (request.signal.aborted) throw new ClientLeft();
      invoicePay = await this.deps.invoices.begin(request.invoice, paymentId, request.requestId);
      entry = this.deps.journal.begin(journalFields(request, paymentId));
      const sent = await this.#send(request, deadline);
      // The invoice's release, the stored answer and the journal's outcome leave in the same tick (one
      // round trip when pipelined), so a client paying again at once meets neither the lock nor an in-flight key.
      const [, , payment] = await Promise.all([
        invoicePay.settle(sent.outcome === 'unknown' ? 'unknown' : 'known'),
        reservation?.complete(sent.result.answer),
        this.deps.journal.finish(entry, sent.outcome, { ...sent.references, ...upstreamOf(sent.result) }),
      ]);
      return { ...sent.result, payment };
    } catch (error) {
      await Promise.all([reservation?.abandon(), invoicePay?.abandon()]);
      // A pay iCG refused with 401 twice was seen by iCG and not charged; anything else here never reached it.
      if (entry) await this.deps.journal.finish(entry, error instanceof TokenRefused ? 'rejected' : 'not_sent');
      throw error;
    } finally {
      endInFlight();
    }
  }

  async #refuseDuringDataLoss(): Promise<void> {
    // Before the first pay (or after a loss another instance handles) the epoch is read once.
    await this.deps.dataLoss?.ensureKnown().catch((error: unknown) => {
      // Redis unreachable: the admitting scripts will meet that themselves.
      if (!(error instanceof StateUnavailable)) throw error;
    });
    this.#throwIfQuarantined();
  }

  /**
   * At admission, and again just before the pay is sent: a loss this instance noticed while the pay was
   * being admitted gave it the new epoch, so its scripts passed, though Redis may not have the records
   * (holds, answers) that would have stopped it written back yet.
   */
  #throwIfQuarantined(): void {
    const { dataLoss } = this.deps;
    if (dataLoss && dataLoss.quarantineLeftMs > 0) throw dataLossRefusal(dataLoss);
  }

  /** A replayed result, or the reservation this request holds (undefined without a key). */
  async #reserveKey(request: PayRequest, paymentId: string): Promise<PayResult | { reservation: Reservation | undefined }> {
    if (request.idempotencyKey === undefined) return { reservation: undefined };
    const { keyring } = this.deps;
    const fingerprint = requestFingerprint(keyring, request.invoice, request.body);
    const admission = await this.deps.idempotency.admit(
      request.idempotencyKey,
      fingerprint,
      (stored) => isSameRequest(stored, keyring, request.invoice, request.body),
      paymentId,
    );
    switch (admission.kind) {
      case 'new':
        return { reservation: admission.reservation };
      case 'replay':
        this.deps.metrics.idempotentReplays.inc();
        return { answer: admission.isFiltered ? admission.answer : this.#relayable(admission.answer, request), isReplay: true };
      case 'abandoned': {
        // Not freed: the instance that sent it stopped before hearing iCG, so it may have charged. Its
        // journal entry is written if the instance died before writing it, so an operator can resolve it.
        this.deps.journal.recordAbandoned(journalFields(request, admission.payment), admission.reservedAt);
        const unknown = new OutcomeUnknown(
          504,
          'The instance handling the earlier request with this Idempotency-Key stopped before the payment gateway answered; the card may have been charged. Do not pay again with a new key: the merchant will reconcile it, and a retry with this key shows the result once it is known',
        );
        return { answer: problemAnswer(unknown, request.requestId, `/pay/${request.invoice.asSent}`), isReplay: true, problem: unknown.slug };
      }
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
    return { ...answer, body: this.deps.answerFilter.filter(answer.body, SensitiveValues.of(request.body.fields)) };
  }

  /**
   * Sends the pay and turns what iCG said into the answer to give and the outcome to record. A failure
   * that may have charged becomes an `outcome-unknown` problem answer (stored under the key like any
   * final answer, so a retry replays it instead of paying again); any other failure is thrown.
   */
  async #send(request: PayRequest, deadline: number): Promise<Sent> {
    const started = process.hrtime.bigint();
    const elapsedMs = () => Number(process.hrtime.bigint() - started) / 1e6;
    try {
      const reply = await this.#payWithToken(request, deadline);
      // Only iCG's documented fields, scrubbed of cardholder data, are relayed, stored and logged.
      const body = this.deps.answerFilter.filter(reply.body, SensitiveValues.of(request.body.fields));
      const answer: Answer = { status: reply.status, contentType: 'application/json', body };
      return {
        result: { answer, isReplay: false, upstream: { status: reply.status, durationMs: elapsedMs() } },
        outcome: outcomeOf(reply, this.deps.statuses),
        references: referencesOf(body),
      };
    } catch (error) {
      if (!(error instanceof UpstreamFailure && error.mayHaveCharged)) throw error;
      const upstream = error.upstreamStatus === undefined ? { durationMs: elapsedMs() } : { status: error.upstreamStatus, durationMs: elapsedMs() };
      const answer = problemAnswer(error, request.requestId, `/pay/${request.invoice.asSent}`);
      return { result: { answer, isReplay: false, upstream, problem: error.slug }, outcome: 'unknown', references: {} };
    }
  }

  /**
   * The pay with the shared token. When iCG answers 401 the token is replaced (a newer one, or one
   * login the deployment allows after a refusal) and the pay is sent ONCE more: a 401 means iCG refused
   * the pay before acting on it, so this retry cannot charge twice. A second 401 fails this pay alone.
   * No call starts unless a whole ICG_TIMEOUT_MS fits before the deadline.
   */
  async #payWithToken(request: PayRequest, deadline: number): Promise<PayReply> {
    const { icg, tokens } = this.deps;
    const held = await tokens.getToken(deadline);
    this.#throwIfQuarantined();
    const first = await icg.payInvoice(request.invoice.asSent, request.body.bytes, held.token, this.#requestIdBefore(deadline, request));
    if (first.status !== 401) return first;
    const renewed = await tokens.replaceRefused(held, deadline);
    const second = await icg.payInvoice(request.invoice.asSent, request.body.bytes, renewed.token, this.#requestIdBefore(deadline, request));
    if (second.status !== 401) return second;
    this.deps.metrics.tokenInvalidations.inc();
    this.deps.logger.warn({ event: 'icg_token_refused', requestId: request.requestId }, 'iCG refused a fresh access token for this pay; the pay fails alone');
    throw new TokenRefused('iCG refused the access token for this payment twice; nothing was charged. Retry shortly', { retryAfterSeconds: 5 });
  }

  /** The request id to send, once it is sure a whole call fits before the deadline (else nothing is sent). */
  #requestIdBefore(deadline: number, request: PayRequest): string {
    if (deadline - this.#clock.now() < this.deps.callTimeoutMs)
      throw new UpstreamTimeout('the pay could not be sent within its deadline; nothing was sent', { retryAfterSeconds: 1 });
    return request.requestId;
  }
}

/** What the journal records of a pay's request: never the card, only its last four. */
function journalFields(request: PayRequest, payment: string): Omit<JournalEntry, 'outcome' | 'startedAt'> {
  return {
    id: payment,
    requestId: request.requestId,
    invoiceId: request.invoice.canonical,
    ...optional('keyHash', request.idempotencyKey === undefined ? undefined : keyHash(request.idempotencyKey)),
    amount: request.body.amount,
    ...optional('instrument', maskedInstrument(request.body.fields)),
  };
}

function upstreamOf(result: PayResult): { upstreamStatus?: number; durationMs?: number } {
  return {
    ...optional('upstreamStatus', result.upstream?.status),
    ...optional('durationMs', result.upstream ? Math.round(result.upstream.durationMs) : undefined),
  };
}

/** `{ [name]: value }`, or nothing when value is null or undefined (exactOptionalPropertyTypes). */
function optional<K extends string, V>(name: K, value: V | null | undefined): { [P in K]?: V } {
  return value === null || value === undefined ? {} : ({ [name]: value } as { [P in K]?: V });
}
