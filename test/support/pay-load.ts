import { setTimeout as sleep } from 'node:timers/promises';
import { payBody } from './harness';

/** One answer the load got: when it was sent and heard, and its status (0: no HTTP answer). */
export interface Answered {
  readonly invoice: string;
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly status: number;
  /** The problem type's last segment, for an answer that is a problem. */
  readonly problem?: string;
}

async function post(url: string, headers: Record<string, string>): Promise<{ status: number; problem?: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(payBody()),
    signal: AbortSignal.timeout(60_000),
  }).catch(() => null);
  if (!res) return { status: 0 };
  const body = (await res.json().catch(() => ({}))) as { type?: unknown };
  return typeof body.type === 'string' ? { status: res.status, problem: body.type.split(':').at(-1) ?? '' } : { status: res.status };
}

/**
 * Pays sent to several instances while Redis fails under them, the way real clients send them:
 * a stream of unkeyed pays (a new invoice each, never retried: they may have charged) and keyed
 * clients that retry with their key on the next instance while told "not now" (503, 409).
 */
export class PayLoad {
  readonly answers: Answered[] = [];
  /** 503 answers keyed clients were given (and retried). */
  refusals = 0;
  #isRunning = true;
  #stream: Promise<void> | null = null;

  constructor(
    private readonly urls: readonly string[],
    private readonly runId: string,
  ) {}

  /** Starts one unkeyed pay every `intervalMs` on the instances in turn, until stop(). */
  startUnkeyed(intervalMs: number): void {
    this.#stream = (async () => {
      const inFlight: Promise<void>[] = [];
      for (let i = 0; this.#isRunning; i += 1) {
        const invoice = `${this.runId}-u-${String(i)}`;
        const sentAt = Date.now();
        inFlight.push(
          post(`${this.#url(i)}/pay/${invoice}`, {}).then((answer) => {
            this.answers.push({ invoice, sentAt, answeredAt: Date.now(), ...answer });
          }),
        );
        await sleep(intervalMs);
      }
      await Promise.all(inFlight);
    })();
  }

  /** `count` keyed clients, started `spacingMs` apart; each resolves with its final answer. */
  keyedClients(count: number, spacingMs: number): Promise<Answered[]> {
    return Promise.all(
      Array.from({ length: count }, async (_, client) => {
        await sleep(client * spacingMs);
        const invoice = `${this.runId}-k-${String(client)}`;
        const key = { 'Idempotency-Key': `${this.runId}-key-${String(client)}` };
        const sentAt = Date.now();
        for (let attempt = 0; attempt < 400; attempt += 1) {
          const answer = await post(`${this.#url(client + attempt)}/pay/${invoice}`, key);
          const { status } = answer;
          if (status !== 503 && status !== 409 && status !== 0) {
            const answered = { invoice, sentAt, answeredAt: Date.now(), ...answer };
            this.answers.push(answered);
            return answered;
          }
          if (status === 503) this.refusals += 1;
          await sleep(150);
        }
        throw new Error(`keyed client ${String(client)} got no final answer`);
      }),
    );
  }

  /** Stops the unkeyed stream and waits for its last answers. */
  async stop(): Promise<void> {
    this.#isRunning = false;
    await this.#stream;
  }

  /** The first unkeyed pay sent after `at` that was paid, or undefined. */
  firstPaidAfter(at: number): Answered | undefined {
    return this.answers.filter((a) => a.sentAt >= at && a.status === 200 && a.invoice.includes('-u-')).sort((a, b) => a.sentAt - b.sentAt)[0];
  }

  #url(i: number): string {
    return this.urls[i % this.urls.length] ?? '';
  }
}
