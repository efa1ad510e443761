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
  /**
   * Fixed offered rate (requests/s over all connections); omitted: as fast as possible. autocannon
   * sends each connection's budget for the second back to back, so a fixed-rate run uses few
   * connections, and its latencies are corrected for coordinated omission here (see latencyStats).
   */
  readonly rate?: number;
  /** Per-request timeout in seconds. */
  readonly timeout?: number;
}

export const PAY_BODY = JSON.stringify({ Amount: 12.5, Type: 'D', Method: { CardNumber: '4111111111111111', Expiration: '1229', Cvv: '123' } });
let sequence = 0;

/**
 * Percentiles of 2xx latencies (ms), corrected for coordinated omission the way HdrHistogram does it:
 * a response that took longer than the interval at which requests were due also stands for the
 * requests it held back (one more sample every `intervalMs` below its own). autocannon's own
 * correction takes ceil(1 / per-connection rate), seconds, as milliseconds (1 ms whatever the rate),
 * which counts a 10 ms answer ten times over; so fixed-rate runs record raw samples and use this.
 */
export function latencyStats(samplesMs: readonly number[], intervalMs: number): Pick<Run, 'p50' | 'p99' | 'max'> {
  const corrected: number[] = [];
  for (const sample of samplesMs) {
    corrected.push(sample);
    for (let missed = sample - intervalMs; missed >= intervalMs; missed -= intervalMs) corrected.push(missed);
  }
  corrected.sort((a, b) => a - b);
  const at = (quantile: number) => round1(corrected[Math.min(corrected.length - 1, Math.ceil(quantile * corrected.length) - 1)] ?? Number.NaN);
  return { p50: at(0.5), p99: at(0.99), max: round1(corrected.at(-1) ?? Number.NaN) };
}

export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Drives `load` with autocannon: POSTs the pay body, a fresh number per request. */
export async function drive(load: Load): Promise<Run> {
  const samples: number[] = [];
  const options: autocannon.Options = {
    url: load.url,
    connections: load.connections,
    duration: load.seconds,
    timeout: load.timeout ?? 10,
    ...(load.rate ? { overallRate: load.rate, ignoreCoordinatedOmission: true } : {}),
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          sequence += 1;
          return {
            ...request,
            path: load.path(sequence),
            headers: { 'content-type': 'application/json', ...(load.headers?.(sequence) ?? {}) },
            body: PAY_BODY,
          };
        },
      },
    ],
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error: unknown, done: autocannon.Result) => {
      if (error) reject(error instanceof Error ? error : new Error('autocannon failed'));
      else resolve(done);
    });
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) samples.push(ms);
    });
  });
  const latency = load.rate
    ? latencyStats(samples, (1000 * load.connections) / load.rate)
    : { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max };
  return {
    rps: result.requests.average,
    ...latency,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    ok: result['2xx'],
  };
}

export function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** The run with the median throughput. */
export function median(runs: readonly Run[]): Run {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  const middle = sorted[Math.floor(sorted.length / 2)];
  if (!middle) throw new Error('no runs');
  return middle;
}
