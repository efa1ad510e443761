import autocannon from 'autocannon';

/** One load run's numbers. */
export interface Run {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly ok: number;
}

export interface Load {
  /** Base URL of the target. */
  readonly url: string;
  /** Path for request n (every pay needs its own invoice id: the proxy locks and limits per invoice). */
  readonly path: (n: number) => string;
  readonly headers?: (n: number) => Record<string, string>;
  readonly connections: number;
  readonly seconds: number;
  /** Fixed offered rate (requests/s over all connections); omitted: as fast as possible. */
  readonly rate?: number;
  /** Per-request timeout in seconds. */
  readonly timeout?: number;
}

export const PAY_BODY = JSON.stringify({ Amount: 12.5, Type: 'D', Method: { CardNumber: '4111111111111111', Expiration: '1229', Cvv: '123' } });
let sequence = 0;

/** Drives `load` with autocannon: POSTs the pay body, a fresh number per request. */
export async function drive(load: Load): Promise<Run> {
  const result = await autocannon({
    url: load.url,
    connections: load.connections,
    duration: load.seconds,
    timeout: load.timeout ?? 10,
    ...(load.rate ? { overallRate: load.rate } : {}),
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          sequence += 1;
          return { ...request, path: load.path(sequence), headers: { 'content-type': 'application/json', ...(load.headers?.(sequence) ?? {}) }, body: PAY_BODY };
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    ok: result['2xx'],
  };
}

/** The run with the median throughput. */
export function median(runs: readonly Run[]): Run {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  const middle = sorted[Math.floor(sorted.length / 2)];
  if (!middle) throw new Error('no runs');
  return middle;
}
